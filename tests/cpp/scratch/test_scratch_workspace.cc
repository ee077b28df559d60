/*!
 * \file test_scratch_workspace.cc
 * \brief Tests of the workspace mode: scratch tensors carved from the call's last result, on CPU
 *        and on a fake GPU, through the registry's handlers exactly as XLA calls them.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fake_xla_api.h"
#include "jax_tvm_ffi/scratch.h"
#include "jax_tvm_ffi/target.h"
#include "scratch/scratch_workspace.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using testing::ErrorInfo;
using testing::FakeExecutionContext;
using ::testing::HasSubstr;
using testing::TakeError;
using tvm::ffi::Function;
using tvm::ffi::Tensor;
using tvm::ffi::TensorView;

constexpr DLDataType kF32{kDLFloat, 32, 1};
constexpr DLDevice kCpu{kDLCPU, 0};

std::string TargetName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("workspace.") + info->test_suite_name() + "." + info->name();
}

XLA_FFI_Handler* Register(Function function, Platform platform = Platform::kCpu) {
  TargetOptions options;
  options.platform = platform;
  options.last_result_is_workspace = true;
  return RegisterTarget(TargetName(), std::move(function), ArgSpec::Default(), options);
}

Tensor Scratch(int64_t n, DLDevice device = kCpu) {
  const int64_t shape[] = {n};
  return Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, tvm::ffi::ShapeView(shape, 1), kF32, device);
}

uintptr_t Address(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// A workspace of `capacity` bytes whose first byte is at `misalignment` past a 128-byte boundary.
struct WorkspaceBuffer {
  WorkspaceBuffer(size_t capacity, size_t misalignment) : storage(capacity + 256) {
    const uintptr_t start = (Address(storage.data()) + 127) / 128 * 128 + misalignment;
    data = reinterpret_cast<uint8_t*>(start);
  }
  std::vector<uint8_t> storage;
  uint8_t* data;
};

struct CallResult {
  bool ok;
  ErrorInfo error;
};

// Calls `handler` with x (float32[4]), y (float32[4]) and the workspace as the last result.
CallResult Call(XLA_FFI_Handler* handler, XLA_FFI_DataType workspace_dtype, void* workspace,
                std::vector<int64_t> workspace_dims, FakeExecutionContext& context) {
  std::vector<float> x(4, 1.0f);
  std::vector<float> y(4, 0.0f);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x.data(), {4});
  builder.AddRet(XLA_FFI_DataType_F32, y.data(), {4});
  builder.AddRet(workspace_dtype, workspace, std::move(workspace_dims));
  XLA_FFI_Error* error = handler(builder.Build(context.get()));
  if (error == nullptr) return {true, {XLA_FFI_Error_Code_OK, ""}};
  return {false, TakeError(error)};
}

CallResult Call(XLA_FFI_Handler* handler, WorkspaceBuffer& workspace, int64_t capacity) {
  FakeExecutionContext context;
  return Call(handler, XLA_FFI_DataType_U8, workspace.data, {capacity}, context);
}

TEST(WorkspaceTest, CarvesAlignedAddressesAndBumps) {
  Workspace workspace(reinterpret_cast<void*>(0x1000 + 64), 1024, kCpu);
  Workspace::Carved a{};
  Workspace::Carved b{};
  std::string error;
  ASSERT_TRUE(workspace.Carve(64, "float32[16]", &a, &error)) << error;
  ASSERT_TRUE(workspace.Carve(12, "float32[3]", &b, &error)) << error;
  // The base is 64 bytes past a boundary: the first tensor starts 64 bytes in.
  EXPECT_EQ(Address(a.data), 0x1000u + 128);
  EXPECT_EQ(Address(b.data), 0x1000u + 256);
  // Counted from the first aligned address: 128 bytes for the first slot, 12 for the second.
  EXPECT_EQ(workspace.peak(), 128u + 12);
}

TEST(WorkspaceTest, ReleasingTheNewestTensorReusesItsBytes) {
  Workspace workspace(reinterpret_cast<void*>(0x1000), 256, kCpu);
  Workspace::Carved a{};
  Workspace::Carved b{};
  std::string error;
  ASSERT_TRUE(workspace.Carve(100, "a", &a, &error));
  ASSERT_TRUE(workspace.Carve(100, "b", &b, &error));
  workspace.Release(a);  // Not the newest: its bytes stay in use.
  workspace.Release(b);
  Workspace::Carved c{};
  ASSERT_TRUE(workspace.Carve(100, "c", &c, &error));
  EXPECT_EQ(c.data, b.data);
  EXPECT_EQ(workspace.peak(), 228u);
}

TEST(WorkspaceTest, OverflowNamesTheRequestAndTheSizes) {
  Workspace workspace(reinterpret_cast<void*>(0x1000), 64, kCpu);
  Workspace::Carved a{};
  std::string error;
  ASSERT_TRUE(workspace.Carve(64, "float32[16]", &a, &error));
  // A full workspace has no free byte, whatever the alignment padding would be.
  EXPECT_FALSE(workspace.Carve(12, "float32[3]", &a, &error));
  EXPECT_THAT(error, HasSubstr("Workspace overflow: float32[3] needs 12 bytes"));
  EXPECT_THAT(error, HasSubstr("only 0 of the workspace's 64 bytes are free (64 in use after 0 "
                               "bytes before its first aligned address)"));
}

TEST(WorkspaceTest, ServesOnlyItsDevice) {
  Workspace workspace(reinterpret_cast<void*>(0x1000), 64, DLDevice{kDLCUDA, 1});
  EXPECT_TRUE(workspace.Serves(DLDevice{kDLCUDA, 1}));
  EXPECT_FALSE(workspace.Serves(DLDevice{kDLCUDA, 0}));
  EXPECT_FALSE(workspace.Serves(kCpu));
}

TEST(WorkspaceHandlerTest, TensorsComeFromTheWorkspaceWhichTheFunctionDoesNotSee) {
  auto seen = std::make_shared<std::vector<uintptr_t>>();
  XLA_FFI_Handler* handler =
      Register(Function::FromPacked([seen](tvm::ffi::PackedArgs args, tvm::ffi::Any*) {
        TVM_FFI_ICHECK_EQ(args.size(), 2);  // x and y: the workspace is not passed.
        Tensor a = Scratch(16);
        Tensor b = Scratch(3);
        seen->push_back(Address(a.data_ptr()));
        seen->push_back(Address(b.data_ptr()));
      }));
  WorkspaceBuffer workspace(1024, 0);
  CallResult result = Call(handler, workspace, 1024);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_EQ((*seen)[0], Address(workspace.data));
  EXPECT_EQ((*seen)[1], Address(workspace.data) + 128);
  EXPECT_EQ(LastWorkspacePeak(), 140u);
  // The workspace's tensors are counted as scratch too.
  ScratchUsage usage = GetScratchUsage(TargetName(), Platform::kCpu);
  EXPECT_EQ(usage.last_call_allocations, 2u);
  EXPECT_EQ(usage.outstanding_allocations, 0u);
}

TEST(WorkspaceHandlerTest, AddressesAreAlignedWhereverTheBufferStarts) {
  auto seen = std::make_shared<std::vector<uintptr_t>>();
  XLA_FFI_Handler* handler = Register(Function::FromTyped(
      [seen](TensorView, TensorView) { seen->push_back(Address(Scratch(1).data_ptr())); }));
  WorkspaceBuffer workspace(512, 40);
  CallResult result = Call(handler, workspace, 512);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0] % kWorkspaceAlignment, 0u);
  EXPECT_EQ((*seen)[0], Address(workspace.data) + 88);
  EXPECT_EQ(LastWorkspacePeak(), 4u);
}

TEST(WorkspaceHandlerTest, ARequestThatDoesNotFitFailsTheCall) {
  XLA_FFI_Handler* handler =
      Register(Function::FromTyped([](TensorView, TensorView) { Scratch(1000); }));
  WorkspaceBuffer workspace(1024, 0);
  CallResult result = Call(handler, workspace, 1024);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr(TargetName()));
  EXPECT_THAT(result.error.message,
              HasSubstr("Workspace overflow: float32[1000] needs 4000 bytes"));
  EXPECT_THAT(result.error.message, HasSubstr("of the workspace's 1024 bytes"));
}

TEST(WorkspaceHandlerTest, AKeptTensorFailsTheCall) {
  auto kept = std::make_shared<Tensor>();
  XLA_FFI_Handler* handler =
      Register(Function::FromTyped([kept](TensorView, TensorView) { *kept = Scratch(4); }));
  WorkspaceBuffer workspace(256, 0);
  CallResult result = Call(handler, workspace, 256);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("Leaked workspace allocations"));
  EXPECT_THAT(result.error.message, HasSubstr("kept 1 tensor(s) carved from the workspace"));
  *kept = Tensor();
  EXPECT_EQ(GetScratchUsage(TargetName(), Platform::kCpu).outstanding_allocations, 0u);
}

TEST(WorkspaceHandlerTest, AWrongWorkspaceIsAClearError) {
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {}));
  std::vector<float> floats(64);
  FakeExecutionContext context;
  CallResult f32 = Call(handler, XLA_FFI_DataType_F32, floats.data(), {64}, context);
  ASSERT_FALSE(f32.ok);
  EXPECT_EQ(f32.error.code, XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(f32.error.message, HasSubstr("the last result must be the workspace, a 1-D uint8"));
  EXPECT_THAT(f32.error.message, HasSubstr("got F32 of rank 1"));
  CallResult rank2 = Call(handler, XLA_FFI_DataType_U8, floats.data(), {16, 16}, context);
  ASSERT_FALSE(rank2.ok);
  EXPECT_THAT(rank2.error.message, HasSubstr("got U8 of rank 2"));
}

TEST(WorkspaceHandlerTest, ACallWithoutScratchReportsAZeroPeak) {
  XLA_FFI_Handler* with = Register(Function::FromTyped([](TensorView, TensorView) { Scratch(4); }));
  WorkspaceBuffer workspace(256, 0);
  ASSERT_TRUE(Call(with, workspace, 256).ok);
  EXPECT_EQ(LastWorkspacePeak(), 16u);
  TargetOptions options;
  options.last_result_is_workspace = true;
  XLA_FFI_Handler* without =
      RegisterTarget(TargetName() + ".none", Function::FromTyped([](TensorView, TensorView) {}),
                     ArgSpec::Default(), options);
  ASSERT_TRUE(Call(without, workspace, 256).ok);
  EXPECT_EQ(LastWorkspacePeak(), 0u);
}

TEST(WorkspaceGpuTest, DeviceTensorsComeFromTheWorkspaceNotFromXla) {
  FakeExecutionContext context;
  context.device_ordinal = 1;
  context.stream = reinterpret_cast<void*>(0x5);
  auto seen = std::make_shared<std::vector<uintptr_t>>();
  XLA_FFI_Handler* handler = Register(
      Function::FromTyped([seen](TensorView, TensorView) {
        Tensor device = Scratch(8, DLDevice{kDLCUDA, 1});
        Tensor host = Scratch(8, kCpu);  // Host memory is not the workspace's: from the arena.
        seen->push_back(Address(device.data_ptr()));
        seen->push_back(Address(host.data_ptr()));
      }),
      Platform::kCuda);
  WorkspaceBuffer workspace(256, 0);
  CallResult result = Call(handler, XLA_FFI_DataType_U8, workspace.data, {256}, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_EQ((*seen)[0], Address(workspace.data));
  EXPECT_TRUE((*seen)[1] < Address(workspace.data) || (*seen)[1] >= Address(workspace.data) + 256);
  EXPECT_EQ(context.device_allocate_calls, 0);
  EXPECT_EQ(LastWorkspacePeak(), 32u);
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_owned_tensor.cc
 * \brief Tests of owned tensors made directly from views: the private copy's size, and which
 *        tensors kept past the call fail it, with what message.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "call/owned_tensor.h"

namespace jax_tvm_ffi {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

DLTensor HostView(void* data, DLDataType dtype, std::vector<int64_t>& shape) {
  DLTensor view{};
  view.data = data;
  view.device = DLDevice{kDLCPU, 0};
  view.ndim = static_cast<int32_t>(shape.size());
  view.dtype = dtype;
  view.shape = shape.data();
  return view;
}

TEST(OwnedTensorTest, ACopyLargerThanAnyMemoryIsRefusedNotWrapped) {
  // f64[2^61]: 2^67 bits, which tvm::ffi::GetDataSize wraps to 0 bytes. Such a view fits int64
  // elements, so only the byte count catches it. Nothing is read from the data.
  uint8_t data[64] = {};
  for (auto [dtype, elements] : std::vector<std::pair<DLDataType, int64_t>>{
           {DLDataType{kDLFloat, 64, 1}, int64_t{1} << 61},
           {DLDataType{kDLComplex, 128, 1}, int64_t{1} << 57},
           {DLDataType{kDLFloat, 32, 4}, int64_t{1} << 59}}) {
    std::vector<int64_t> shape = {elements};
    DLTensor views[2] = {HostView(data, DLDataType{kDLFloat, 32, 1}, shape),
                         HostView(data, dtype, shape)};
    std::vector<int64_t> small = {4};
    views[0].shape = small.data();
    OwnedTensors owned;
    Status status = owned.Create(views, 1, 2);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), XLA_FFI_Error_Code_INVALID_ARGUMENT);
    EXPECT_THAT(status.message(), HasSubstr("result 0: "));
    EXPECT_THAT(status.message(),
                HasSubstr("; private copies are at most 2^48 bytes (281474976710656); no private "
                          "copy of it can be made"));
    EXPECT_TRUE(owned.Finish(/*copy_results=*/false).ok());
  }
}

TEST(OwnedTensorTest, SubByteCopiesRoundUpToWholeBytes) {
  uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<int64_t> shape = {3, 5};  // 15 two-bit elements: 4 bytes.
  DLTensor view = HostView(data, DLDataType{kDLUInt, 2, 1}, shape);
  OwnedTensors owned;
  ASSERT_TRUE(owned.Create(&view, 1, 1).ok());
  EXPECT_NE(owned.tensor(0).data_ptr(), data);
  EXPECT_EQ(std::memcmp(owned.tensor(0).data_ptr(), data, 4), 0);
  EXPECT_TRUE(owned.Finish(/*copy_results=*/false).ok());
}

DLTensor DeviceView(void* data, DLDataType dtype, std::vector<int64_t>& shape) {
  DLTensor view = HostView(data, dtype, shape);
  view.device = DLDevice{kDLCUDA, 0};
  return view;
}

constexpr DLDataType kF32{kDLFloat, 32, 1};

// One float argument and one float result on CPU, as a callback sees them.
struct HostCall {
  std::vector<int64_t> shape = {3};
  std::vector<float> x = {1.5f, -2.5f, 3.5f};
  std::vector<float> y = std::vector<float>(3, 0.0f);
  DLTensor views[2] = {HostView(x.data(), kF32, shape), HostView(y.data(), kF32, shape)};
  OwnedTensors owned;
};

std::vector<float> Floats(const tvm::ffi::Tensor& tensor) {
  const float* data = static_cast<const float*>(tensor.data_ptr());
  return std::vector<float>(data, data + tensor.numel());
}

TEST(OwnedTensorTest, KeptCpuArgumentDoesNotFailAndKeepsTheArgumentsContents) {
  // What jitted JAX leaves in a callback: a reference to the argument, dropped after the call.
  HostCall call;
  ASSERT_TRUE(call.owned.Create(call.views, 1, 2).ok());
  tvm::ffi::Tensor kept = call.owned.tensor(0);
  static_cast<float*>(call.owned.tensor(1).data_ptr())[0] = 9.0f;
  Status status = call.owned.Finish(/*copy_results=*/true);
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(call.y[0], 9.0f);  // Results still reach XLA's buffer.
  // XLA reuses its buffer after the call; the kept argument holds its own copy.
  call.x.assign(3, 0.0f);
  ASSERT_NE(kept.data_ptr(), static_cast<void*>(call.x.data()));
  EXPECT_THAT(Floats(kept), ElementsAre(1.5f, -2.5f, 3.5f));
  EXPECT_EQ(kept.use_count(), 1);  // The bridge let go of it.
}

TEST(OwnedTensorTest, KeptCpuResultFailsNamingItInBothWordings) {
  HostCall call;
  ASSERT_TRUE(call.owned.Create(call.views, 1, 2).ok());
  tvm::ffi::Tensor kept = call.owned.tensor(1);
  static_cast<float*>(kept.data_ptr())[2] = 4.0f;
  Status status = call.owned.Finish(/*copy_results=*/true);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_FAILED_PRECONDITION);
  // The published 0.1.3's wording, which code written for it matches on, and ours.
  EXPECT_THAT(status.message(), HasSubstr("Leaked temp owned tensors"));
  EXPECT_THAT(status.message(), HasSubstr("kept a reference to owned tensor(s) result 0 after"));
  EXPECT_THAT(status.message(), HasSubstr("A result must not be kept"));
  EXPECT_THAT(status.message(), Not(HasSubstr("argument")));
  EXPECT_EQ(call.y[2], 4.0f);  // What was written before the end still reached XLA.
  EXPECT_NE(kept.data_ptr(), static_cast<void*>(call.y.data()));
}

TEST(OwnedTensorTest, KeptArgumentAndResultOnCpuNameOnlyTheResult) {
  HostCall call;
  ASSERT_TRUE(call.owned.Create(call.views, 1, 2).ok());
  tvm::ffi::Tensor argument = call.owned.tensor(0);
  tvm::ffi::Tensor result = call.owned.tensor(1);
  Status status = call.owned.Finish(/*copy_results=*/true);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("owned tensor(s) result 0 after returning"));
  EXPECT_THAT(status.message(), Not(HasSubstr("GPU")));
}

// One float argument and one float result on a GPU. The device pointers are never dereferenced:
// owned GPU tensors only carry them.
struct DeviceCall {
  std::vector<int64_t> shape = {3};
  alignas(64) float x[3];
  alignas(64) float y[3];
  DLTensor views[2] = {DeviceView(x, kF32, shape), DeviceView(y, kF32, shape)};
  OwnedTensors owned;
};

TEST(OwnedTensorTest, KeptGpuArgumentFailsAndIsEmptied) {
  DeviceCall call;
  ASSERT_TRUE(call.owned.Create(call.views, 1, 2).ok());
  tvm::ffi::Tensor kept = call.owned.tensor(0);
  EXPECT_EQ(kept.data_ptr(), static_cast<void*>(call.x));
  Status status = call.owned.Finish(/*copy_results=*/true);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_FAILED_PRECONDITION);
  EXPECT_THAT(status.message(), HasSubstr("Leaked temp owned tensors"));
  EXPECT_THAT(status.message(), HasSubstr("owned tensor(s) argument 0 after returning"));
  EXPECT_THAT(status.message(), HasSubstr("A GPU argument must not be kept"));
  EXPECT_THAT(status.message(), Not(HasSubstr("A result")));
  EXPECT_EQ(kept.data_ptr(), nullptr);
  EXPECT_EQ(kept.numel(), 0);
}

TEST(OwnedTensorTest, KeptGpuArgumentAndResultAreBothNamedWithBothReasons) {
  DeviceCall call;
  ASSERT_TRUE(call.owned.Create(call.views, 1, 2).ok());
  tvm::ffi::Tensor argument = call.owned.tensor(0);
  tvm::ffi::Tensor result = call.owned.tensor(1);
  Status status = call.owned.Finish(/*copy_results=*/false);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("owned tensor(s) argument 0, result 0 after returning"));
  EXPECT_THAT(status.message(), HasSubstr("A result must not be kept"));
  EXPECT_THAT(status.message(), HasSubstr("A GPU argument must not be kept"));
  EXPECT_EQ(argument.data_ptr(), nullptr);
  EXPECT_EQ(result.data_ptr(), nullptr);
}

TEST(OwnedTensorTest, TensorsReleasedBeforeTheEndAreNotKept) {
  HostCall call;
  ASSERT_TRUE(call.owned.Create(call.views, 1, 2).ok());
  { tvm::ffi::Tensor temporary = call.owned.tensor(1); }
  EXPECT_TRUE(call.owned.Finish(/*copy_results=*/true).ok());
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_checked_call.cc
 * \brief Tests of the checking mode, driven through HandleCall with the fake XLA API: writes past
 *        and before buffers caught on shadows (XLA's memory and its neighbours untouched), modified
 *        inputs, aliased inputs, non-finite outputs, the trace line, and no effect when off.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "call/checked_call.h"
#include "call/handler.h"
#include "fake_xla_api.h"
#include "jax_tvm_ffi/target.h"
#include "registration/binding.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using ::testing::ElementsAre;
using testing::ErrorInfo;
using testing::FakeExecutionContext;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing::TakeError;
using tvm::ffi::Function;
using tvm::ffi::TensorView;

constexpr uint32_t kAll = kCheckGuards | kCheckInputs | kCheckNonFinite;

Binding MakeBinding(Function function, uint32_t check, Platform platform = Platform::kCpu) {
  TargetOptions options;
  options.platform = platform;
  options.check = check;
  return Binding("checked.kernel", std::move(function), ArgSpec::Default(), options);
}

// The outcome of one call: ok, or the error's message.
struct Outcome {
  bool ok;
  std::string message;
};

Outcome CallChecked(const Binding& binding, CallFrameBuilder& builder) {
  FakeExecutionContext context;
  XLA_FFI_Error* error = HandleCall(binding, builder.Build(context.get()));
  if (error == nullptr) return {true, ""};
  ErrorInfo info = TakeError(error);
  EXPECT_EQ(info.code, XLA_FFI_Error_Code_INTERNAL);
  return {false, info.message};
}

enum Which { kInput, kOutput };

// Fills the output with 7s, then writes `value` at byte `offset` from the start of the input or
// the output (past its end when offset is the buffer's size, before its start when negative).
Function ByteWriter(Which which, int64_t offset, uint8_t value = 0x11) {
  return Function::FromTyped([which, offset, value](TensorView x, TensorView y) {
    auto* out = static_cast<int32_t*>(y.data_ptr());
    for (int64_t i = 0; i < y.numel(); ++i) out[i] = 7;
    static_cast<uint8_t*>((which == kOutput ? y : x).data_ptr())[offset] = value;
  });
}

// Calls `binding` with one s32 input over `x` and one s32 output over `y`.
Outcome CallS32(const Binding& binding, int32_t* x, std::vector<int64_t> x_dims, int32_t* y,
                std::vector<int64_t> y_dims) {
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_S32, x, std::move(x_dims));
  builder.AddRet(XLA_FFI_DataType_S32, y, std::move(y_dims));
  return CallChecked(binding, builder);
}

TEST(CheckedCallTest, OneBytePastAnOutputFailsNamingItAndTheOffset) {
  std::vector<int32_t> x = {1, 2};
  // XLA's output is y[1..4]; y[0] and y[5] are its neighbours on the heap.
  std::vector<int32_t> y = {-1, 0, 0, 0, 0, -2};
  const Outcome outcome =
      CallS32(MakeBinding(ByteWriter(kOutput, 16), kCheckGuards), x.data(), {2}, y.data() + 1, {4});
  ASSERT_FALSE(outcome.ok);
  // The trailing guard (at least 256 bytes) runs to the end of a 64-byte aligned block:
  // 256 + 16 + 304 = 576.
  EXPECT_THAT(outcome.message, HasSubstr("jax_tvm_ffi target 'checked.kernel': checking mode: "
                                         "the function wrote past the end of output 0 "
                                         "(s32[4], 16 bytes): the corrupted byte nearest to it "
                                         "is at offset 0 from its end (1 of the 304 guard bytes "
                                         "after it changed)"));
  // Neither the neighbours nor the output itself were written: nothing was copied back.
  EXPECT_THAT(y, ElementsAre(-1, 0, 0, 0, 0, -2));
}

TEST(CheckedCallTest, AWriteFurtherPastTheEndGivesItsOffset) {
  std::vector<int32_t> x = {1, 2}, y(4);
  const Outcome outcome = CallS32(MakeBinding(ByteWriter(kOutput, 16 + 37), kCheckGuards), x.data(),
                                  {2}, y.data(), {2, 2});
  ASSERT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.message, HasSubstr("output 0 (s32[2,2], 16 bytes)"));
  EXPECT_THAT(outcome.message, HasSubstr("at offset 37 from its end"));
}

TEST(CheckedCallTest, AWriteBeforeAnInputFailsNamingIt) {
  std::vector<int32_t> storage = {-1, 5, 6, -2};
  std::vector<int32_t> y(2);
  const Outcome outcome = CallS32(MakeBinding(ByteWriter(kInput, -3), kCheckGuards),
                                  storage.data() + 1, {2}, y.data(), {2});
  ASSERT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.message,
              HasSubstr("the function wrote before the start of input 0 (s32[2], 8 bytes): the "
                        "corrupted byte nearest to it is 3 bytes before its start"));
  EXPECT_THAT(storage, ElementsAre(-1, 5, 6, -2));
  EXPECT_THAT(y, ElementsAre(0, 0));
}

TEST(CheckedCallTest, InBoundsWritesSucceedAndReachXlasBuffer) {
  std::vector<int32_t> x = {1, 2};
  std::vector<int32_t> y = {-1, 0, 0, 0, 0, -2};
  const Outcome outcome =
      CallS32(MakeBinding(ByteWriter(kOutput, 15, 0), kAll), x.data(), {2}, y.data() + 1, {4});
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_THAT(y, ElementsAre(-1, 7, 7, 7, 7, -2));
}

TEST(CheckedCallTest, AModifiedInputFailsNamingTheFirstChangedElement) {
  std::vector<int32_t> x = {1, 2, 3, 4};
  std::vector<int32_t> y(2);
  const Outcome outcome =
      CallS32(MakeBinding(ByteWriter(kInput, 9), kCheckInputs), x.data(), {2, 2}, y.data(), {2});
  ASSERT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.message,
              HasSubstr("the function modified input 0 (s32[2,2], 16 bytes), which is not aliased "
                        "to an output: byte 9 (element [1, 0]) differs first"));
  EXPECT_THAT(x, ElementsAre(1, 2, 3, 4));
}

TEST(CheckedCallTest, InputsMayChangeWhenTheCheckIsOff) {
  std::vector<int32_t> x = {1, 2}, y(2);
  ASSERT_TRUE(
      CallS32(MakeBinding(ByteWriter(kInput, 0), kCheckGuards), x.data(), {2}, y.data(), {2}).ok);
  EXPECT_THAT(y, ElementsAre(7, 7));
  EXPECT_THAT(x, ElementsAre(1, 2)) << "the write went to the shadow, which is not copied back";
}

TEST(CheckedCallTest, AnInputAliasedToAnOutputMayBeModifiedInPlace) {
  // y = x + 1 written through x, which XLA aliased to y (input_output_aliases).
  const Binding binding = MakeBinding(Function::FromTyped([](TensorView x, TensorView y) {
                                        auto* in = static_cast<float*>(x.data_ptr());
                                        for (int64_t i = 0; i < x.numel(); ++i) in[i] += 1;
                                        TVM_FFI_ICHECK_EQ(x.data_ptr(), y.data_ptr());
                                      }),
                                      kAll);
  std::vector<float> buffer = {1, 2, 3};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, buffer.data(), {3});
  builder.AddRet(XLA_FFI_DataType_F32, buffer.data(), {3});
  const Outcome outcome = CallChecked(binding, builder);
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_THAT(buffer, ElementsAre(2, 3, 4));
}

TEST(CheckedCallTest, AGuardOfASharedShadowNamesEveryBufferUsingIt) {
  std::vector<int32_t> buffer = {1, 2};
  const Outcome outcome = CallS32(MakeBinding(ByteWriter(kOutput, 8), kCheckGuards), buffer.data(),
                                  {2}, buffer.data(), {2});
  ASSERT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.message, HasSubstr("past the end of input 0 (s32[2], 8 bytes, aliased to "
                                         "output 0)"));
  EXPECT_THAT(buffer, ElementsAre(1, 2));
}

// Writes `value` (raw bits of the output's element type) at flat element `index` of output 0.
template <typename Bits>
Function ElementWriter(int64_t index, Bits value) {
  return Function::FromTyped([index, value](TensorView, TensorView y) {
    std::memset(y.data_ptr(), 0, y.numel() * y.dtype().bits / 8);
    std::memcpy(static_cast<uint8_t*>(y.data_ptr()) + index * sizeof(Bits), &value, sizeof(Bits));
  });
}

Outcome RunNonFinite(Function function, XLA_FFI_DataType dtype, std::vector<int64_t> dims,
                     uint32_t check = kCheckNonFinite) {
  const Binding binding = MakeBinding(std::move(function), check);
  std::vector<uint8_t> x(4), y(64);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_U8, x.data(), {4});
  builder.AddRet(dtype, y.data(), std::move(dims));
  return CallChecked(binding, builder);
}

TEST(CheckedCallTest, ANaNOutputFailsNamingItsIndex) {
  const Outcome outcome =
      RunNonFinite(ElementWriter<float>(5, std::numeric_limits<float>::quiet_NaN()),
                   XLA_FFI_DataType_F32, {2, 3});
  ASSERT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.message,
              HasSubstr("checking mode: output 0 (f32[2,3]) holds NaN at index [1, 2] (element 5 "
                        "in row-major order)"));
}

TEST(CheckedCallTest, InfinitiesOfEveryFloatingTypeAreFound) {
  EXPECT_THAT(RunNonFinite(ElementWriter<uint16_t>(1, 0x7C00), XLA_FFI_DataType_F16, {4}).message,
              HasSubstr("output 0 (f16[4]) holds an infinity at index [1]"));
  EXPECT_THAT(RunNonFinite(ElementWriter<uint16_t>(2, 0xFF81), XLA_FFI_DataType_BF16, {4}).message,
              HasSubstr("output 0 (bf16[4]) holds NaN at index [2]"));
  EXPECT_THAT(RunNonFinite(ElementWriter<double>(0, -std::numeric_limits<double>::infinity()),
                           XLA_FFI_DataType_F64, {3})
                  .message,
              HasSubstr("output 0 (f64[3]) holds an infinity at index [0]"));
  // Element 1's imaginary part is the 4th float.
  EXPECT_THAT(RunNonFinite(ElementWriter<float>(3, std::numeric_limits<float>::quiet_NaN()),
                           XLA_FFI_DataType_C64, {2})
                  .message,
              HasSubstr("output 0 (c64[2]) holds NaN in the imaginary part at index [1]"));
  EXPECT_THAT(RunNonFinite(ElementWriter<double>(2, std::numeric_limits<double>::infinity()),
                           XLA_FFI_DataType_C128, {2})
                  .message,
              HasSubstr("output 0 (c128[2]) holds an infinity in the real part at index [1]"));
}

TEST(CheckedCallTest, FiniteOutputsAndNonFiniteWithoutTheCheckPass) {
  EXPECT_TRUE(RunNonFinite(ElementWriter<float>(5, 3.5f), XLA_FFI_DataType_F32, {2, 3}).ok);
  EXPECT_TRUE(RunNonFinite(ElementWriter<float>(5, std::numeric_limits<float>::infinity()),
                           XLA_FFI_DataType_F32, {2, 3}, kCheckGuards | kCheckInputs)
                  .ok);
  // Integers are never non-finite, whatever their bits.
  EXPECT_TRUE(RunNonFinite(ElementWriter<uint32_t>(0, 0x7FC00000u), XLA_FFI_DataType_S32, {2}).ok);
}

TEST(CheckedCallTest, TheFunctionsOwnErrorIsReportedAndNothingIsCopiedBack) {
  const Binding binding = MakeBinding(Function::FromTyped([](TensorView x, TensorView y) {
                                        static_cast<int32_t*>(y.data_ptr())[0] = 9;
                                        static_cast<uint8_t*>(y.data_ptr())[100] = 1;
                                        TVM_FFI_THROW(ValueError) << "bad x of " << x.numel();
                                      }),
                                      kAll);
  std::vector<int32_t> x = {1}, y = {0};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_S32, x.data(), {1});
  builder.AddRet(XLA_FFI_DataType_S32, y.data(), {1});
  FakeExecutionContext context;
  XLA_FFI_Error* error = HandleCall(binding, builder.Build(context.get()));
  ASSERT_NE(error, nullptr);
  const ErrorInfo info = TakeError(error);
  EXPECT_EQ(info.code, XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(info.message, HasSubstr("ValueError: bad x of 1"));
  EXPECT_THAT(info.message, ::testing::Not(HasSubstr("checking mode")));
  EXPECT_THAT(y, ElementsAre(0));
}

TEST(CheckedCallTest, ZeroSizeBuffersAndTokensAreHandled) {
  // A write into an empty output is a write past its end; the token is passed through.
  const Binding binding = MakeBinding(Function::FromTyped([](TensorView x, TensorView y) {
                                        TVM_FFI_ICHECK_EQ(x.numel(), 0);
                                        static_cast<uint8_t*>(y.data_ptr())[0] = 1;
                                      }),
                                      kAll);
  int32_t storage[2] = {-1, -2};
  int token = 0;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_TOKEN, &token, {});
  builder.AddArg(XLA_FFI_DataType_F32, nullptr, {0, 3});
  builder.AddRet(XLA_FFI_DataType_S32, storage + 1, {0});
  const Outcome outcome = CallChecked(binding, builder);
  ASSERT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.message,
              HasSubstr("past the end of output 0 (s32[0], 0 bytes): the corrupted byte nearest "
                        "to it is at offset 0 from its end"));
  EXPECT_EQ(storage[0], -1);
  EXPECT_EQ(storage[1], -2);
}

TEST(CheckedCallTest, SubByteBuffersAreGuardedAtTheirPackedSize) {
  // Three 4-bit integers take two bytes: byte 1 is the buffer's, byte 2 is past it.
  for (const int64_t offset : {1, 2}) {
    const Binding binding = MakeBinding(Function::FromTyped([offset](TensorView, TensorView y) {
                                          static_cast<uint8_t*>(y.data_ptr())[offset] = 0x12;
                                        }),
                                        kCheckGuards);
    uint8_t x[1] = {0};
    uint8_t y[4] = {0, 0, 0xEE, 0xEE};
    CallFrameBuilder builder;
    builder.AddArg(XLA_FFI_DataType_U8, x, {1});
    builder.AddRet(XLA_FFI_DataType_S4, y, {3});
    const Outcome outcome = CallChecked(binding, builder);
    if (offset == 1) {
      ASSERT_TRUE(outcome.ok) << outcome.message;
      EXPECT_EQ(y[1], 0x12);
    } else {
      ASSERT_FALSE(outcome.ok);
      EXPECT_THAT(outcome.message, HasSubstr("output 0 (s4[3], 2 bytes)"));
      EXPECT_THAT(outcome.message, HasSubstr("at offset 0 from its end"));
    }
    EXPECT_EQ(y[2], 0xEE);
  }
}

// Calls a function that records the data pointer it saw for its f32[2] output, over `y`, and
// returns that pointer and what the call printed to stderr.
void* SeenOutput(uint32_t check, float* y, std::string* printed) {
  void* seen = nullptr;
  const Binding binding = MakeBinding(
      Function::FromTyped([&seen](TensorView, TensorView out) { seen = out.data_ptr(); }), check);
  float x[2];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {2});
  builder.AddRet(XLA_FFI_DataType_F32, y, {2});
  ::testing::internal::CaptureStderr();
  const Outcome outcome = CallChecked(binding, builder);
  *printed = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(outcome.ok) << outcome.message;
  return seen;
}

TEST(CheckedCallTest, ChecksOffCallsTheFunctionOnXlasBuffersWithoutATrace) {
  float y[2];
  std::string printed;
  EXPECT_EQ(SeenOutput(kCheckNone, y, &printed), static_cast<void*>(y));
  EXPECT_EQ(printed, "");
}

TEST(CheckedCallTest, HostChecksRunTheFunctionOnAlignedShadows) {
  float y[2];
  std::string printed;
  void* seen = SeenOutput(kCheckGuards, y, &printed);
  EXPECT_NE(seen, static_cast<void*>(y));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(seen) % 64, 0u);
  EXPECT_EQ(printed, "");
}

TEST(CheckedCallTest, PythonTargetsAreCheckedAndCountedAsPythonCalls) {
  size_t in_flight = 0;
  TargetOptions options;
  options.python_backed = true;
  options.pass_owned_tensor = true;
  options.check = kCheckGuards;
  const Binding binding("checked.python",
                        Function::FromTyped([&in_flight](TensorView, TensorView y) {
                          in_flight = PythonCallsInFlight();
                          static_cast<uint8_t*>(y.data_ptr())[0] = 1;
                        }),
                        ArgSpec::Default(), options);
  std::vector<int32_t> x(1), y(1);
  // An owned tensor is a private copy of the shadow: the shadow's guards are intact, and the
  // written byte reaches XLA's buffer through both copies (the others are undefined).
  ASSERT_TRUE(CallS32(binding, x.data(), {1}, y.data(), {1}).ok);
  EXPECT_EQ(in_flight, 1u);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(y.data())[0], 1);
}

TEST(CheckedCallTest, TraceLineNamesTargetBuffersStreamAndTime) {
  const Binding binding =
      MakeBinding(Function::FromPacked([](tvm::ffi::PackedArgs, tvm::ffi::Any*) {}),
                  kCheckTrace | kCheckGuards);
  std::vector<int32_t> x(8), y(2);
  uint16_t z[1];  // one bf16
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_S32, x.data(), {2, 4});
  builder.AddArg(XLA_FFI_DataType_BF16, z, {});
  builder.AddRet(XLA_FFI_DataType_S32, y.data(), {2});
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(CallChecked(binding, builder).ok);
  const std::string line = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(line,
              MatchesRegex("jax_tvm_ffi trace: target 'checked\\.kernel' args \\(s32\\[2,4\\], "
                           "bf16\\[\\]\\) rets \\(s32\\[2\\]\\) stream 0 time "
                           "[0-9]+\\.[0-9] us ok\n"));
}

TEST(CheckedCallTest, GpuTargetsAreTracedWithTheirStreamAndNotShadowed) {
  void* seen = nullptr;
  const Binding binding = MakeBinding(
      Function::FromTyped([&seen](TensorView, TensorView out) { seen = out.data_ptr(); }),
      kCheckTrace | kAll, Platform::kCuda);
  float x[2], y[2];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {2});
  builder.AddRet(XLA_FFI_DataType_F32, y, {2});
  FakeExecutionContext context;
  context.stream = reinterpret_cast<void*>(uintptr_t{0xabc0});
  ::testing::internal::CaptureStderr();
  XLA_FFI_Error* error = HandleCall(binding, builder.Build(context.get()));
  const std::string line = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(error, nullptr);
  EXPECT_EQ(seen, static_cast<void*>(y)) << "device memory is never shadowed";
  EXPECT_THAT(line,
              MatchesRegex("jax_tvm_ffi trace: target 'checked\\.kernel' args \\(f32\\[2\\]\\) "
                           "rets \\(f32\\[2\\]\\) stream 0xabc0 time [0-9]+\\.[0-9] us ok\n"));
}

TEST(CheckedCallTest, AFailedCallIsTracedAsFailed) {
  std::vector<int32_t> x(1), y(4);
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(CallS32(MakeBinding(ByteWriter(kOutput, 16), kCheckTrace | kCheckGuards), x.data(),
                       {1}, y.data(), {4})
                   .ok);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr(" us failed\n"));
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_layouts.cc
 * \brief Tests of non-default buffer layouts (TargetOptions::input_layouts, output_layouts):
 *        the strides the views carry, vmap's leading batch dimension, the registration checks,
 *        the errors of a call whose buffer does not fit its layout, and that only targets with
 *        layouts leave the straight path.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/function.h>

#include <cstdint>
#include <string>
#include <vector>

#include "call/buffer_decoder.h"
#include "call/fast_path.h"
#include "fake_xla_api.h"
#include "jax_tvm_ffi/target.h"
#include "registration/binding.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using ::testing::ElementsAre;
using testing::FakeExecutionContext;
using ::testing::HasSubstr;
using testing::TakeError;
using tvm::ffi::TensorView;
using Layouts = std::vector<std::vector<int64_t>>;

constexpr DLDevice kCpu{kDLCPU, 0};

std::vector<int64_t> Strides(const DLTensor& t) {
  return std::vector<int64_t>(t.strides, t.strides + t.ndim);
}

Status Decode(CallFrameBuilder& builder, BufferDecoder* decoder, const Layouts& args,
              const Layouts& rets) {
  XLA_FFI_CallFrame* frame = builder.Build(nullptr);
  const BufferLayouts layouts{&args, &rets};
  return decoder->Decode(frame->args, frame->rets, kCpu, &layouts);
}

// A target name unique to the running test.
std::string TargetName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("layouts.") + info->test_suite_name() + "." + info->name();
}

TargetOptions WithLayouts(Layouts inputs, Layouts outputs) {
  TargetOptions options;
  options.input_layouts = std::move(inputs);
  options.output_layouts = std::move(outputs);
  return options;
}

TEST(LayoutsTest, ColumnMajorMatrixHasColumnMajorStrides) {
  float x[6] = {};
  float y[6] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {2, 3});
  builder.AddRet(XLA_FFI_DataType_F32, y, {2, 3});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder, {{0, 1}}, {{0, 1}}).ok());
  EXPECT_THAT(Strides(*decoder.arg(0)), ElementsAre(1, 2));
  EXPECT_THAT(Strides(*decoder.ret(0)), ElementsAre(1, 2));
  EXPECT_EQ(decoder.arg(0)->data, x);
}

TEST(LayoutsTest, PermutationOfThreeDimensions) {
  // minor_to_major (1, 2, 0): dim 1 is minor-most, then dim 2, then dim 0.
  float x[2 * 3 * 4] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {2, 3, 4});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder, {{1, 2, 0}}, {}).ok());
  EXPECT_THAT(Strides(*decoder.arg(0)), ElementsAre(12, 1, 3));
}

TEST(LayoutsTest, EmptyOrMissingEntriesStayRowMajor) {
  float a[6] = {};
  float b[6] = {};
  float c[6] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, a, {2, 3});
  builder.AddArg(XLA_FFI_DataType_F32, b, {2, 3});
  builder.AddArg(XLA_FFI_DataType_F32, c, {2, 3});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder, {{}, {0, 1}}, {}).ok());
  EXPECT_THAT(Strides(*decoder.arg(0)), ElementsAre(3, 1));
  EXPECT_THAT(Strides(*decoder.arg(1)), ElementsAre(1, 2));
  EXPECT_THAT(Strides(*decoder.arg(2)), ElementsAre(3, 1));
}

TEST(LayoutsTest, ExtraLeadingDimensionsAreMajorMost) {
  // vmap (expand_dims, broadcast_all) adds a leading batch dimension, major-most.
  float x[5 * 2 * 3] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {5, 2, 3});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder, {{0, 1}}, {}).ok());
  EXPECT_THAT(Strides(*decoder.arg(0)), ElementsAre(6, 1, 2));
}

TEST(LayoutsTest, LayoutsFollowFrameIndicesPastATokenAndPastTheInlineStorage) {
  // More stride entries than the decoder keeps inline: the second pass lays them out too.
  std::vector<float> big(1);
  float x[6] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_TOKEN, nullptr, {});
  builder.AddArg(XLA_FFI_DataType_F32, x, {2, 3});
  std::vector<int64_t> ones(BufferDecoder::kInlineDims, 1);
  builder.AddRet(XLA_FFI_DataType_F32, big.data(), ones);
  builder.AddRet(XLA_FFI_DataType_F32, x, {3, 2});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder, {{}, {0, 1}}, {{}, {0, 1}}).ok());
  ASSERT_EQ(decoder.num_args(), 1u);  // the token is left out
  EXPECT_THAT(Strides(*decoder.arg(0)), ElementsAre(1, 2));
  EXPECT_THAT(Strides(*decoder.ret(1)), ElementsAre(1, 3));
}

TEST(LayoutsTest, ZeroSizeDimensionKeepsTheView) {
  float x[1] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {0, 3});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder, {{0, 1}}, {}).ok());
  EXPECT_THAT(Strides(*decoder.arg(0)), ElementsAre(1, 0));
}

TEST(LayoutsTest, BufferWithFewerDimensionsThanItsLayoutIsAnError) {
  float x[3] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {3});
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder, {{0, 1}}, {});
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("argument 0 has rank 1"));
  EXPECT_THAT(status.message(), HasSubstr("input_layouts[0]"));
  EXPECT_THAT(status.message(), HasSubstr("names 2 dimensions"));
}

TEST(LayoutsTest, StrideOverflowInTheLayoutsOrderIsAnError) {
  // Row-major the element count is 0 at every step; with the zero dimension major-most the
  // strides of the others pass int64.
  float x[1] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {int64_t{1} << 40, int64_t{1} << 40, 0});
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder, {{0, 1, 2}}, {});
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("a stride of its layout overflows int64"));
}

TEST(LayoutsTest, PackedFloat4WithALayoutIsAnError) {
  uint8_t x[4] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F4E2M1FN, x, {2, 4});
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder, {{0, 1}}, {});
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("F4E2M1FN"));
  EXPECT_THAT(status.message(), HasSubstr("default (row-major) layout"));
}

TEST(LayoutsTest, RegistrationRefusesWhatIsNotAPermutation) {
  const tvm::ffi::Function f = tvm::ffi::Function::FromTyped([](TensorView, TensorView) {});
  for (const Layouts& bad : {Layouts{{0, 0}}, Layouts{{0, 2}}, Layouts{{-1}}}) {
    try {
      RegisterTarget(TargetName(), f, ArgSpec::Default(), WithLayouts({}, bad));
      FAIL() << "accepted a bad layout";
    } catch (const tvm::ffi::Error& error) {
      EXPECT_EQ(error.kind(), "ValueError");
      EXPECT_THAT(error.message(), HasSubstr("target '" + TargetName() + "'"));
      EXPECT_THAT(error.message(), HasSubstr("output_layouts[0]"));
      EXPECT_THAT(error.message(), HasSubstr("is not a permutation"));
    }
  }
}

TEST(LayoutsTest, RegistrationRefusesLayoutsWithOwnedTensors) {
  TargetOptions options = WithLayouts({{0, 1}}, {});
  options.pass_owned_tensor = true;
  try {
    RegisterTarget(TargetName(), tvm::ffi::Function::FromTyped([](TensorView) {}),
                   ArgSpec::Default(), options);
    FAIL() << "accepted layouts with owned tensors";
  } catch (const tvm::ffi::Error& error) {
    EXPECT_THAT(error.message(), HasSubstr("owned tensors"));
  }
}

TEST(LayoutsTest, OnlyNonDefaultLayoutsLeaveTheStraightPath) {
  const tvm::ffi::Function f = tvm::ffi::Function::FromTyped([](TensorView, TensorView) {});
  const Binding plain("layouts.plain", f, ArgSpec::Default(), TargetOptions{});
  const Binding row_major("layouts.rm", f, ArgSpec::Default(), WithLayouts({{1, 0}}, {{}}));
  const Binding column_major("layouts.cm", f, ArgSpec::Default(), WithLayouts({}, {{0, 1}}));
  EXPECT_TRUE(plain.straight);
  EXPECT_FALSE(plain.has_layouts);
  EXPECT_TRUE(row_major.straight);
  EXPECT_FALSE(row_major.has_layouts);
  EXPECT_FALSE(column_major.straight);
  EXPECT_TRUE(column_major.has_layouts);

  float x[6] = {};
  float y[6] = {};
  FakeExecutionContext context;
  for (const Binding* binding : {&plain, &row_major, &column_major}) {
    CallFrameBuilder builder;
    builder.AddArg(XLA_FFI_DataType_F32, x, {2, 3});
    builder.AddRet(XLA_FFI_DataType_F32, y, {2, 3});
    FastPath fast;
    EXPECT_EQ(fast.Pack(*binding, *builder.Build(context.get()), kCpu, 0), binding->straight)
        << binding->name;
  }
}

TEST(LayoutsTest, RegisteredTargetSeesTheStridesAndNamesItselfInErrors) {
  std::vector<std::vector<int64_t>> seen;
  tvm::ffi::Function f = tvm::ffi::Function::FromTyped([&seen](TensorView x, TensorView y) {
    seen.clear();
    for (const TensorView* t : {&x, &y}) {
      seen.emplace_back();
      for (int i = 0; i < t->ndim(); ++i) seen.back().push_back(t->stride(i));
    }
  });
  XLA_FFI_Handler* handler =
      RegisterTarget(TargetName(), f, ArgSpec::Default(), WithLayouts({{0, 1}}, {{2, 0, 1}}));
  float x[6] = {};
  float y[24] = {};
  FakeExecutionContext context;
  {
    CallFrameBuilder builder;
    builder.AddArg(XLA_FFI_DataType_F32, x, {2, 3});
    builder.AddRet(XLA_FFI_DataType_F32, y, {2, 3, 4});
    ASSERT_EQ(handler(builder.Build(context.get())), nullptr);
    EXPECT_THAT(seen, ElementsAre(ElementsAre(1, 2), ElementsAre(4, 8, 1)));
  }
  {
    CallFrameBuilder builder;
    builder.AddArg(XLA_FFI_DataType_F32, x, {6});
    builder.AddRet(XLA_FFI_DataType_F32, y, {2, 3, 4});
    XLA_FFI_Error* error = handler(builder.Build(context.get()));
    ASSERT_NE(error, nullptr);
    const std::string message = TakeError(error).message;
    EXPECT_THAT(message, HasSubstr(TargetName()));
    EXPECT_THAT(message, HasSubstr("argument 0 has rank 1"));
  }
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_fast_path.cc
 * \brief Tests of the straight path: what it packs, and every call it leaves to the general path.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/function.h>

#include <cstdint>
#include <string>
#include <vector>

#include "call/fast_path.h"
#include "fake_xla_api.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using testing::FakeExecutionContext;

Binding MakeBinding(const std::vector<std::string>& spec, bool pass_owned_tensor = false) {
  TargetOptions options;
  options.pass_owned_tensor = pass_owned_tensor;
  return Binding("fast.test", tvm::ffi::Function::FromTyped([]() {}), ArgSpec::Parse(spec),
                 options);
}

bool Pack(const Binding& binding, CallFrameBuilder* builder, FastPath* fast) {
  FakeExecutionContext context;
  return fast->Pack(binding, *builder->Build(context.get()), DLDevice{kDLCPU, 0}, 0);
}

TEST(FastPathTest, PacksViewsAttributesAndContextInSpecOrder) {
  Binding binding = MakeBinding({"attrs.scale", "rets", "ctx.device_id", "args", "attrs.mode"});
  float x[6] = {};
  float y[2] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {2, 3});
  builder.AddRet(XLA_FFI_DataType_F32, y, {2});
  builder.attrs().Scalar<float>("scale", XLA_FFI_DataType_F32, 0.5f);
  builder.attrs().String("mode", "fast");
  FastPath fast;
  ASSERT_TRUE(Pack(binding, &builder, &fast));
  ASSERT_EQ(fast.num_packed(), 5u);
  const TVMFFIAny* packed = fast.packed();
  EXPECT_EQ(packed[0].type_index, kTVMFFIFloat);
  EXPECT_EQ(packed[0].v_float64, 0.5);
  ASSERT_EQ(packed[1].type_index, kTVMFFIDLTensorPtr);
  EXPECT_EQ(static_cast<DLTensor*>(packed[1].v_ptr)->data, y);
  EXPECT_EQ(packed[2].type_index, kTVMFFIInt);
  EXPECT_EQ(packed[2].v_int64, 0);
  ASSERT_EQ(packed[3].type_index, kTVMFFIDLTensorPtr);
  const DLTensor* view = static_cast<DLTensor*>(packed[3].v_ptr);
  EXPECT_EQ(view->data, x);
  EXPECT_EQ(view->ndim, 2);
  EXPECT_EQ(view->shape[0], 2);
  EXPECT_EQ(view->shape[1], 3);
  EXPECT_EQ(view->strides[0], 3);
  EXPECT_EQ(view->strides[1], 1);
  ASSERT_EQ(packed[4].type_index, kTVMFFISmallStr);
  EXPECT_EQ(std::string(packed[4].v_bytes, packed[4].small_str_len), "fast");
}

TEST(FastPathTest, TakesSixtyFourTensorsOfRankEight) {
  Binding binding = MakeBinding({"args"});
  std::vector<float> data(1);
  CallFrameBuilder builder;
  for (int i = 0; i < 64; ++i)
    builder.AddArg(XLA_FFI_DataType_F32, data.data(), {1, 1, 1, 1, 1, 1, 1, 1});
  FastPath fast;
  ASSERT_TRUE(Pack(binding, &builder, &fast));
  EXPECT_EQ(fast.num_packed(), 64u);
  EXPECT_EQ(static_cast<DLTensor*>(fast.packed()[63].v_ptr)->ndim, 8);
}

// Each case below must go to the general path, which handles it or reports the error.
TEST(FastPathTest, LeavesUnusualCallsToTheGeneralPath) {
  float data[4] = {};
  uint8_t bytes[4] = {};
  FastPath fast;
  {
    CallFrameBuilder builder;  // Owned tensors.
    builder.AddArg(XLA_FFI_DataType_F32, data, {4});
    EXPECT_FALSE(Pack(MakeBinding({"args"}, /*pass_owned_tensor=*/true), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // A token.
    builder.AddArg(XLA_FFI_DataType_TOKEN, nullptr, {});
    EXPECT_FALSE(Pack(MakeBinding({"args"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // Packed 4-bit floats.
    builder.AddArg(XLA_FFI_DataType_F4E2M1FN, bytes, {4});
    EXPECT_FALSE(Pack(MakeBinding({"args"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // An element type with no DLPack equivalent.
    builder.AddArg(static_cast<XLA_FFI_DataType>(999), data, {4});
    EXPECT_FALSE(Pack(MakeBinding({"args"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // A string too long to store in place.
    builder.attrs().String("mode", "much too long");
    EXPECT_FALSE(Pack(MakeBinding({"attrs.mode"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // An array attribute.
    builder.attrs().Array<int64_t>("sizes", XLA_FFI_DataType_S64, {1, 2});
    EXPECT_FALSE(Pack(MakeBinding({"attrs.sizes"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // A missing attribute.
    EXPECT_FALSE(Pack(MakeBinding({"attrs.eps"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // An extra attribute.
    builder.attrs().Scalar<int64_t>("extra", XLA_FFI_DataType_S64, 1);
    EXPECT_FALSE(Pack(MakeBinding({"args"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // A U64 that may not fit int64.
    builder.attrs().Scalar<uint64_t>("n", XLA_FFI_DataType_U64, 1);
    EXPECT_FALSE(Pack(MakeBinding({"attrs.n"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // A negative dimension.
    builder.AddArg(XLA_FFI_DataType_F32, data, {-1});
    EXPECT_FALSE(Pack(MakeBinding({"args"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // An element count past int64.
    builder.AddArg(XLA_FFI_DataType_F32, data, {int64_t{1} << 62, 8});
    EXPECT_FALSE(Pack(MakeBinding({"args"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // More tensors than the straight path holds.
    for (int i = 0; i < 65; ++i) builder.AddArg(XLA_FFI_DataType_F32, data, {1});
    EXPECT_FALSE(Pack(MakeBinding({"args"}), &builder, &fast));
  }
  {
    CallFrameBuilder builder;  // More dimensions than the straight path holds.
    for (int i = 0; i < 2; ++i)
      builder.AddArg(XLA_FFI_DataType_F32, data, std::vector<int64_t>(300, 1));
    EXPECT_FALSE(Pack(MakeBinding({"args"}), &builder, &fast));
  }
}

}  // namespace
}  // namespace jax_tvm_ffi

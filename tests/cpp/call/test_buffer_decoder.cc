/*!
 * \file test_buffer_decoder.cc
 * \brief Tests of call-frame buffers to DLTensor views: zero-copy, device, compact strides,
 *        sub-byte packing, tokens, unmappable types and the heap fallback for large calls.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "call/buffer_decoder.h"
#include "fake_xla_api.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr DLDevice kCpu{kDLCPU, 0};

std::vector<int64_t> Shape(const DLTensor& t) {
  return std::vector<int64_t>(t.shape, t.shape + t.ndim);
}
std::vector<int64_t> Strides(const DLTensor& t) {
  return std::vector<int64_t>(t.strides, t.strides + t.ndim);
}

// The compact row-major strides of a shape.
std::vector<int64_t> RowMajor(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

Status Decode(CallFrameBuilder& builder, BufferDecoder* decoder, DLDevice device = kCpu) {
  XLA_FFI_CallFrame* frame = builder.Build(nullptr);
  return decoder->Decode(frame->args, frame->rets, device);
}

TEST(BufferDecoderTest, ViewsAliasXlaMemory) {
  std::vector<float> x(6, 1.0f);
  std::vector<int32_t> y(3, 0);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x.data(), {2, 3});
  builder.AddRet(XLA_FFI_DataType_S32, y.data(), {3});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  ASSERT_EQ(decoder.num_args(), 1u);
  ASSERT_EQ(decoder.num_rets(), 1u);
  EXPECT_EQ(decoder.arg(0)->data, x.data());
  EXPECT_EQ(decoder.ret(0)->data, y.data());
  EXPECT_EQ(decoder.arg(0)->byte_offset, 0u);
  // Results follow arguments in tensors().
  EXPECT_EQ(decoder.tensors(), decoder.arg(0));
  EXPECT_EQ(decoder.tensors() + 1, decoder.ret(0));

  const DLTensor& in = *decoder.arg(0);
  EXPECT_EQ(in.ndim, 2);
  EXPECT_THAT(Shape(in), ElementsAre(2, 3));
  EXPECT_EQ(in.dtype.code, kDLFloat);
  EXPECT_EQ(in.dtype.bits, 32);
  EXPECT_EQ(in.dtype.lanes, 1);
  const DLTensor& out = *decoder.ret(0);
  EXPECT_THAT(Shape(out), ElementsAre(3));
  EXPECT_EQ(out.dtype.code, kDLInt);
  EXPECT_EQ(out.dtype.bits, 32);
}

TEST(BufferDecoderTest, PlacesEveryViewOnTheGivenDevice) {
  int dummy[4];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, &dummy[0], {1});
  builder.AddArg(XLA_FFI_DataType_F32, &dummy[1], {1});
  builder.AddRet(XLA_FFI_DataType_F32, &dummy[2], {1});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder, DLDevice{kDLCUDA, 5}).ok());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(decoder.tensors()[i].device.device_type, kDLCUDA) << i;
    EXPECT_EQ(decoder.tensors()[i].device.device_id, 5) << i;
  }
}

TEST(BufferDecoderTest, FillsCompactRowMajorStrides) {
  float dummy;
  const std::vector<std::vector<int64_t>> shapes = {{7}, {2, 3}, {4, 1, 5}, {2, 3, 4, 5, 6}};
  CallFrameBuilder builder;
  for (const auto& shape : shapes) builder.AddArg(XLA_FFI_DataType_F32, &dummy, shape);
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  ASSERT_EQ(decoder.num_args(), shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    const DLTensor& t = *decoder.arg(i);
    ASSERT_NE(t.strides, nullptr);
    EXPECT_THAT(Shape(t), ElementsAreArray(shapes[i])) << i;
    EXPECT_THAT(Strides(t), ElementsAreArray(RowMajor(shapes[i]))) << i;
  }
  // Views do not share shape or stride storage.
  EXPECT_NE(decoder.arg(0)->shape, decoder.arg(1)->shape);
  EXPECT_EQ(Strides(*decoder.arg(3)), (std::vector<int64_t>{360, 120, 30, 6, 1}));
}

TEST(BufferDecoderTest, RankZeroIsAScalarView) {
  double x = 2.5;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F64, &x, {});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  ASSERT_EQ(decoder.num_args(), 1u);
  EXPECT_EQ(decoder.arg(0)->ndim, 0);
  EXPECT_EQ(decoder.arg(0)->data, &x);
  EXPECT_EQ(decoder.arg(0)->dtype.code, kDLFloat);
  EXPECT_EQ(decoder.arg(0)->dtype.bits, 64);
}

TEST(BufferDecoderTest, ZeroSizeDimensionsAreKept) {
  float dummy;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, &dummy, {0});
  builder.AddArg(XLA_FFI_DataType_F32, &dummy, {2, 0, 3});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  EXPECT_THAT(Shape(*decoder.arg(0)), ElementsAre(0));
  EXPECT_THAT(Shape(*decoder.arg(1)), ElementsAre(2, 0, 3));
  // Dimensions after the empty one keep their compact strides.
  EXPECT_EQ(decoder.arg(1)->strides[2], 1);
  EXPECT_EQ(decoder.arg(1)->strides[1], 3);
}

TEST(BufferDecoderTest, PackedFloat4HalvesTheLastDimensionRoundingUp) {
  uint8_t dummy[16];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F4E2M1FN, dummy, {3, 8});
  builder.AddArg(XLA_FFI_DataType_F4E2M1FN, dummy, {5});
  builder.AddRet(XLA_FFI_DataType_F4E2M1FN, dummy, {1, 7});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  EXPECT_THAT(Shape(*decoder.arg(0)), ElementsAre(3, 4));
  EXPECT_THAT(Strides(*decoder.arg(0)), ElementsAre(4, 1));
  EXPECT_THAT(Shape(*decoder.arg(1)), ElementsAre(3));
  EXPECT_THAT(Shape(*decoder.ret(0)), ElementsAre(1, 4));
  EXPECT_THAT(Strides(*decoder.ret(0)), ElementsAre(4, 1));
  EXPECT_EQ(decoder.arg(0)->dtype.code, kDLFloat4_e2m1fn);
  EXPECT_EQ(decoder.arg(0)->dtype.bits, 4);
  EXPECT_EQ(decoder.arg(0)->dtype.lanes, 2);
}

TEST(BufferDecoderTest, PackedFloat4WithOddRowsIsRefused) {
  // 2 rows of 7 values take 7 bytes; 2 rows of 4 two-lane bytes would claim 8.
  uint8_t dummy[8];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, dummy, {1});
  builder.AddRet(XLA_FFI_DataType_F4E2M1FN, dummy, {2, 7});
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("result 0"));
  EXPECT_THAT(status.message(), HasSubstr("odd last dimension (7)"));
}

TEST(BufferDecoderTest, PackedFloat4WithOddRowsButNoElementsIsAccepted) {
  uint8_t dummy = 0;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F4E2M1FN, &dummy, {0, 7});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  EXPECT_THAT(Shape(*decoder.arg(0)), ElementsAre(0, 4));
}

TEST(BufferDecoderTest, PackedFloat4ScalarIsNotReshaped) {
  uint8_t dummy = 0;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F4E2M1FN, &dummy, {});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  EXPECT_EQ(decoder.arg(0)->ndim, 0);
}

TEST(BufferDecoderTest, NegativeDimensionIsRefused) {
  float data[4] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, data, {2, -2});
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("argument 0 has dimensions [2, -2]"));
}

TEST(BufferDecoderTest, ElementCountOverflowIsRefused) {
  float data[4] = {};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, data, {1});
  builder.AddRet(XLA_FFI_DataType_F32, data, {int64_t{1} << 62, 8});
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("result 0"));
  EXPECT_THAT(status.message(), HasSubstr("overflows int64"));
}

TEST(BufferDecoderTest, SubByteIntegersKeepTheirShape) {
  uint8_t dummy[8];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_S4, dummy, {2, 5});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  EXPECT_THAT(Shape(*decoder.arg(0)), ElementsAre(2, 5));
  EXPECT_EQ(decoder.arg(0)->dtype.bits, 4);
  EXPECT_EQ(decoder.arg(0)->dtype.lanes, 1);
}

TEST(BufferDecoderTest, TokensAreSkipped) {
  float a = 0, b = 0, c = 0;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_TOKEN, nullptr, {});
  builder.AddArg(XLA_FFI_DataType_F32, &a, {1});
  builder.AddArg(XLA_FFI_DataType_TOKEN, nullptr, {});
  builder.AddArg(XLA_FFI_DataType_F32, &b, {1});
  builder.AddRet(XLA_FFI_DataType_TOKEN, nullptr, {});
  builder.AddRet(XLA_FFI_DataType_F32, &c, {1});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  ASSERT_EQ(decoder.num_args(), 2u);
  ASSERT_EQ(decoder.num_rets(), 1u);
  EXPECT_EQ(decoder.arg(0)->data, &a);
  EXPECT_EQ(decoder.arg(1)->data, &b);
  EXPECT_EQ(decoder.ret(0)->data, &c);
}

TEST(BufferDecoderTest, UnmappableTypeFailsNamingIt) {
  float a = 0;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, &a, {1});
  builder.AddRet(XLA_FFI_DataType_F32, &a, {1});
  builder.AddRet(XLA_FFI_DataType_INVALID, &a, {1});
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(status.message(), HasSubstr("result 1"));
  EXPECT_THAT(status.message(), HasSubstr("INVALID"));
}

TEST(BufferDecoderTest, UnknownTypeCodeFailsNamingTheCode) {
  float a = 0;
  CallFrameBuilder builder;
  builder.AddArg(static_cast<XLA_FFI_DataType>(999), &a, {1});
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("argument 0"));
  EXPECT_THAT(status.message(), HasSubstr("999"));
}

TEST(BufferDecoderTest, NonBufferArgumentFails) {
  CallFrameBuilder builder;
  int not_a_buffer = 0;
  builder.AddRawArg(static_cast<XLA_FFI_ArgType>(7), &not_a_buffer);
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("argument 0 is not a buffer"));
}

TEST(BufferDecoderTest, NegativeRankFails) {
  float a = 0;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, &a, {1}).rank = -1;
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("rank -1"));
}

TEST(BufferDecoderTest, RankBeyondInt32FailsBeforeAnySlotIsCounted) {
  // DLTensor::ndim is an int32: 2^32 + 1 was once cut to 1 (after reserving 2^32 + 1 slots),
  // 2^31 to a negative ndim. Neither reads more than dims[0] now.
  for (int64_t rank : {(int64_t{1} << 32) + 1, int64_t{1} << 31, INT64_MAX}) {
    for (XLA_FFI_DataType type : {XLA_FFI_DataType_F32, XLA_FFI_DataType_F4E2M1FN}) {
      float a = 0;
      CallFrameBuilder builder;
      builder.AddArg(XLA_FFI_DataType_F32, &a, {1});
      builder.AddArg(type, &a, {1}).rank = rank;
      BufferDecoder decoder;
      Status status = Decode(builder, &decoder);
      ASSERT_FALSE(status.ok()) << rank;
      EXPECT_THAT(status.message(),
                  HasSubstr("argument 1 has an invalid rank " + std::to_string(rank)));
    }
  }
}

TEST(BufferDecoderTest, MissingDimsFail) {
  float a = 0;
  CallFrameBuilder builder;
  builder.AddRet(XLA_FFI_DataType_F32, &a, {1}).dims = nullptr;
  BufferDecoder decoder;
  Status status = Decode(builder, &decoder);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("result 0"));
}

TEST(BufferDecoderTest, ManyTensorsFallBackToTheHeap) {
  constexpr size_t kArgs = 2 * BufferDecoder::kInlineTensors;
  constexpr size_t kRets = 5;
  std::vector<float> data(kArgs + kRets);
  CallFrameBuilder builder;
  for (size_t i = 0; i < kArgs; ++i) {
    builder.AddArg(XLA_FFI_DataType_F32, &data[i], {static_cast<int64_t>(i + 1), 2});
  }
  for (size_t i = 0; i < kRets; ++i) {
    builder.AddRet(XLA_FFI_DataType_F32, &data[kArgs + i], {3, static_cast<int64_t>(i + 1)});
  }
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  ASSERT_EQ(decoder.num_args(), kArgs);
  ASSERT_EQ(decoder.num_rets(), kRets);
  for (size_t i = 0; i < kArgs; ++i) {
    EXPECT_EQ(decoder.arg(i)->data, &data[i]) << i;
    EXPECT_THAT(Shape(*decoder.arg(i)), ElementsAre(static_cast<int64_t>(i + 1), 2)) << i;
    EXPECT_THAT(Strides(*decoder.arg(i)), ElementsAre(2, 1)) << i;
  }
  for (size_t i = 0; i < kRets; ++i) {
    EXPECT_EQ(decoder.ret(i)->data, &data[kArgs + i]) << i;
    EXPECT_THAT(Shape(*decoder.ret(i)), ElementsAre(3, static_cast<int64_t>(i + 1))) << i;
  }
}

TEST(BufferDecoderTest, ManyDimensionsFallBackToTheHeap) {
  // Two tensors of rank 40 need 160 shape and stride slots, more than kInlineDims.
  std::vector<int64_t> shape(40, 1);
  shape[0] = 3;
  shape[39] = 2;
  float a[6], b[6];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, a, shape);
  builder.AddRet(XLA_FFI_DataType_F32, b, shape);
  ASSERT_GT(2 * 2 * shape.size(), BufferDecoder::kInlineDims);
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(builder, &decoder).ok());
  for (DLTensor* t : {decoder.arg(0), decoder.ret(0)}) {
    EXPECT_EQ(t->ndim, 40);
    EXPECT_THAT(Shape(*t), ElementsAreArray(shape));
    EXPECT_THAT(Strides(*t), ElementsAreArray(RowMajor(shape)));
  }
  EXPECT_EQ(decoder.arg(0)->data, a);
  EXPECT_EQ(decoder.ret(0)->data, b);
}

TEST(BufferDecoderTest, SameDecoderCanDecodeASmallerCallAfterALargeOne) {
  std::vector<float> data(40);
  CallFrameBuilder large;
  for (size_t i = 0; i < 20; ++i) large.AddArg(XLA_FFI_DataType_F32, &data[i], {1});
  CallFrameBuilder small;
  small.AddArg(XLA_FFI_DataType_F32, &data[30], {4});
  BufferDecoder decoder;
  ASSERT_TRUE(Decode(large, &decoder).ok());
  ASSERT_TRUE(Decode(small, &decoder).ok());
  ASSERT_EQ(decoder.num_args(), 1u);
  EXPECT_EQ(decoder.arg(0)->data, &data[30]);
  EXPECT_THAT(Shape(*decoder.arg(0)), ElementsAre(4));
}

}  // namespace
}  // namespace jax_tvm_ffi

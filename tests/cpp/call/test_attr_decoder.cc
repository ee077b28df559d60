/*!
 * \file test_attr_decoder.cc
 * \brief Tests of attribute matching (by name, never by position) and of attribute decoding into
 *        TVM FFI values: every scalar width, floats bit-exactly, strings, arrays, dictionaries.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/any.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/string.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "call/attr_decoder.h"
#include "fake_xla_api.h"

namespace jax_tvm_ffi {
namespace {

using testing::AttrsBuilder;
using ::testing::HasSubstr;
using Map = tvm::ffi::Map<tvm::ffi::String, tvm::ffi::Any>;
using AnyArray = tvm::ffi::Array<tvm::ffi::Any>;

// ---------------------------------------------------------------------------------------------
// MatchAttrs

TEST(MatchAttrsTest, FindsAttributesByName) {
  ArgSpec spec = ArgSpec::Parse({"attrs.mode", "args", "attrs.eps"});
  AttrsBuilder attrs;
  attrs.Scalar<float>("eps", XLA_FFI_DataType_F32, 1.0f).String("mode", "fast");
  size_t index[2] = {99, 99};
  ASSERT_TRUE(MatchAttrs(spec, attrs.Build(), index).ok());
  // sorted_attr_names() is {"eps", "mode"}; the sorted frame is {"eps", "mode"} too.
  EXPECT_EQ(index[0], 0u);
  EXPECT_EQ(index[1], 1u);
}

TEST(MatchAttrsTest, DoesNotDependOnFrameOrder) {
  ArgSpec spec = ArgSpec::Parse({"attrs.a", "attrs.b", "attrs.c"});
  AttrsBuilder attrs;
  attrs.String("c", "C").String("a", "A").String("b", "B");
  const XLA_FFI_Attrs& frame = attrs.Build(/*sorted=*/false);
  size_t index[3];
  ASSERT_TRUE(MatchAttrs(spec, frame, index).ok());
  for (size_t w = 0; w < 3; ++w) {
    const XLA_FFI_ByteSpan* name = frame.names[index[w]];
    EXPECT_EQ(std::string(name->ptr, name->len), spec.sorted_attr_names()[w]);
  }
  EXPECT_EQ(index[0], 1u);
  EXPECT_EQ(index[1], 2u);
  EXPECT_EQ(index[2], 0u);
}

TEST(MatchAttrsTest, MissingAttributeIsNamed) {
  ArgSpec spec = ArgSpec::Parse({"args", "attrs.alpha", "attrs.eps"});
  AttrsBuilder attrs;
  attrs.Scalar<float>("alpha", XLA_FFI_DataType_F32, 1.0f);
  size_t index[2];
  Status status = MatchAttrs(spec, attrs.Build(), index);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(status.message(), HasSubstr("missing attribute 'eps'"));
}

TEST(MatchAttrsTest, PrefixOfANameDoesNotMatch) {
  ArgSpec spec = ArgSpec::Parse({"attrs.ab"});
  for (const char* present : {"a", "abc"}) {
    AttrsBuilder attrs;
    attrs.String(present, "x");
    size_t index[1];
    Status status = MatchAttrs(spec, attrs.Build(), index);
    ASSERT_FALSE(status.ok()) << present;
    EXPECT_THAT(status.message(), HasSubstr("missing attribute 'ab'")) << present;
  }
}

TEST(MatchAttrsTest, ExtraAttributeIsNamed) {
  ArgSpec spec = ArgSpec::Parse({"args", "rets", "attrs.eps"});
  AttrsBuilder attrs;
  attrs.Scalar<float>("eps", XLA_FFI_DataType_F32, 1.0f)
      .Scalar<int64_t>("extra", XLA_FFI_DataType_S64, 3);
  size_t index[1];
  Status status = MatchAttrs(spec, attrs.Build(), index);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(status.message(), HasSubstr("unexpected attribute 'extra'"));
  EXPECT_THAT(status.message(), HasSubstr("attrs.extra"));
}

TEST(MatchAttrsTest, AttributeWithNoSpecItemsIsNamed) {
  ArgSpec spec = ArgSpec::Default();
  AttrsBuilder attrs;
  attrs.Scalar<int64_t>("n", XLA_FFI_DataType_S64, 3);
  Status status = MatchAttrs(spec, attrs.Build(), nullptr);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("unexpected attribute 'n'"));
}

TEST(MatchAttrsTest, RepeatedFrameAttributeFails) {
  ArgSpec spec = ArgSpec::Parse({"attrs.a"});
  AttrsBuilder attrs;
  attrs.String("a", "1").String("a", "2");
  size_t index[1];
  Status status = MatchAttrs(spec, attrs.Build(), index);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("more than once"));
}

// An empty frame whose arrays are null: any read of them would crash.
XLA_FFI_Attrs EmptyFrameAttrs() {
  return XLA_FFI_Attrs{XLA_FFI_Attrs_STRUCT_SIZE, nullptr, 0, nullptr, nullptr, nullptr};
}

TEST(MatchAttrsTest, ZeroAttributesAndNoneWanted) {
  EXPECT_TRUE(MatchAttrs(ArgSpec::Default(), EmptyFrameAttrs(), nullptr).ok());
}

TEST(MatchAttrsTest, ZeroAttributesInFrameReadsNothing) {
  ArgSpec spec = ArgSpec::Parse({"args", "attrs.b", "attrs.a"});
  size_t index[2];
  Status status = MatchAttrs(spec, EmptyFrameAttrs(), index);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("missing attribute 'a'"));
}

// ---------------------------------------------------------------------------------------------
// DecodeAttr

// Decodes the only attribute of `attrs`, which must succeed.
tvm::ffi::Any DecodeOnly(AttrsBuilder& attrs) {
  const XLA_FFI_Attrs& built = attrs.Build();
  EXPECT_EQ(built.size, 1);
  tvm::ffi::Any out;
  Status status = DecodeAttr("x", built.types[0], built.attrs[0], &out);
  EXPECT_TRUE(status.ok()) << status.message();
  return out;
}

// Decodes the only attribute of `attrs`, which must fail, and returns the failure.
Status DecodeFailure(AttrsBuilder& attrs, const std::string& name = "x") {
  const XLA_FFI_Attrs& built = attrs.Build();
  tvm::ffi::Any out;
  Status status = DecodeAttr(name, built.types[0], built.attrs[0], &out);
  EXPECT_FALSE(status.ok());
  return status;
}

template <typename T>
tvm::ffi::Any DecodeScalar(XLA_FFI_DataType dtype, T value) {
  AttrsBuilder attrs;
  attrs.Scalar<T>("x", dtype, value);
  return DecodeOnly(attrs);
}

int64_t AsInt(const tvm::ffi::Any& value) {
  EXPECT_EQ(value.type_index(), TVMFFITypeIndex::kTVMFFIInt) << value.GetTypeKey();
  return value.cast<int64_t>();
}

double AsFloat(const tvm::ffi::Any& value) {
  EXPECT_EQ(value.type_index(), TVMFFITypeIndex::kTVMFFIFloat) << value.GetTypeKey();
  return value.cast<double>();
}

TEST(DecodeAttrTest, Bool) {
  tvm::ffi::Any yes = DecodeScalar<uint8_t>(XLA_FFI_DataType_PRED, 1);
  tvm::ffi::Any no = DecodeScalar<uint8_t>(XLA_FFI_DataType_PRED, 0);
  ASSERT_EQ(yes.type_index(), TVMFFITypeIndex::kTVMFFIBool);
  ASSERT_EQ(no.type_index(), TVMFFITypeIndex::kTVMFFIBool);
  EXPECT_TRUE(yes.cast<bool>());
  EXPECT_FALSE(no.cast<bool>());
}

TEST(DecodeAttrTest, SignedIntegersOfEveryWidth) {
  EXPECT_EQ(AsInt(DecodeScalar<int8_t>(XLA_FFI_DataType_S8, -128)), -128);
  EXPECT_EQ(AsInt(DecodeScalar<int8_t>(XLA_FFI_DataType_S8, 127)), 127);
  EXPECT_EQ(AsInt(DecodeScalar<int16_t>(XLA_FFI_DataType_S16, -32768)), -32768);
  EXPECT_EQ(AsInt(DecodeScalar<int32_t>(XLA_FFI_DataType_S32, -5)), -5);
  EXPECT_EQ(AsInt(DecodeScalar<int32_t>(XLA_FFI_DataType_S32, std::numeric_limits<int32_t>::min())),
            std::numeric_limits<int32_t>::min());
  EXPECT_EQ(AsInt(DecodeScalar<int64_t>(XLA_FFI_DataType_S64, std::numeric_limits<int64_t>::min())),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(AsInt(DecodeScalar<int64_t>(XLA_FFI_DataType_S64, int64_t{1} << 40)), int64_t{1} << 40);
}

TEST(DecodeAttrTest, UnsignedIntegersOfEveryWidth) {
  EXPECT_EQ(AsInt(DecodeScalar<uint8_t>(XLA_FFI_DataType_U8, 255)), 255);
  EXPECT_EQ(AsInt(DecodeScalar<uint16_t>(XLA_FFI_DataType_U16, 65535)), 65535);
  EXPECT_EQ(AsInt(DecodeScalar<uint32_t>(XLA_FFI_DataType_U32, 4294967295u)), 4294967295);
  EXPECT_EQ(
      AsInt(DecodeScalar<uint64_t>(XLA_FFI_DataType_U64, std::numeric_limits<int64_t>::max())),
      std::numeric_limits<int64_t>::max());
}

TEST(DecodeAttrTest, U64BeyondInt64Fails) {
  AttrsBuilder attrs;
  attrs.Scalar<uint64_t>("big", XLA_FFI_DataType_U64, uint64_t{1} << 63);
  Status status = DecodeFailure(attrs, "big");
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(status.message(), HasSubstr("'big'"));
  EXPECT_THAT(status.message(), HasSubstr("9223372036854775808"));
}

TEST(DecodeAttrTest, Float16IsExact) {
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_F16, 0x3E00)), 1.5);
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_F16, 0xC080)), -2.25);
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_F16, 0x7BFF)), 65504.0);
  // Smallest and largest subnormals: 2^-24 and 1023 * 2^-24.
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_F16, 0x0001)), std::ldexp(1.0, -24));
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_F16, 0x83FF)),
            -std::ldexp(1023.0, -24));
  // Smallest normal: 2^-14.
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_F16, 0x0400)), std::ldexp(1.0, -14));
  double negative_zero = AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_F16, 0x8000));
  EXPECT_EQ(negative_zero, 0.0);
  EXPECT_TRUE(std::signbit(negative_zero));
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_F16, 0xFC00)),
            -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_F16, 0x7E00))));
}

TEST(DecodeAttrTest, BFloat16IsExact) {
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_BF16, 0x3FC0)), 1.5);
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_BF16, 0xC010)), -2.25);
  // 2^100 is representable in bfloat16 (8 exponent bits) but not in float16.
  EXPECT_EQ(AsFloat(DecodeScalar<uint16_t>(XLA_FFI_DataType_BF16, 0x7180)), std::ldexp(1.0, 100));
}

TEST(DecodeAttrTest, Float32AndFloat64AreExact) {
  EXPECT_EQ(AsFloat(DecodeScalar<float>(XLA_FFI_DataType_F32, 1.5f)), 1.5);
  EXPECT_EQ(AsFloat(DecodeScalar<float>(XLA_FFI_DataType_F32, -2.25f)), -2.25);
  EXPECT_EQ(AsFloat(DecodeScalar<float>(XLA_FFI_DataType_F32, 1e-5f)), double{1e-5f});
  EXPECT_EQ(AsFloat(DecodeScalar<double>(XLA_FFI_DataType_F64, 0.1)), 0.1);
  EXPECT_EQ(AsFloat(DecodeScalar<double>(XLA_FFI_DataType_F64, -1e300)), -1e300);
}

TEST(DecodeAttrTest, String) {
  AttrsBuilder attrs;
  attrs.String("x", "fast mode");
  tvm::ffi::Any value = DecodeOnly(attrs);
  EXPECT_EQ(value.cast<tvm::ffi::String>(), "fast mode");
}

TEST(DecodeAttrTest, StringMayHoldNulAndBeEmpty) {
  AttrsBuilder with_nul;
  with_nul.String("x", std::string("a\0b", 3));
  EXPECT_EQ(std::string(DecodeOnly(with_nul).cast<tvm::ffi::String>()), std::string("a\0b", 3));
  AttrsBuilder empty;
  empty.String("x", "");
  EXPECT_EQ(DecodeOnly(empty).cast<tvm::ffi::String>(), "");
}

TEST(DecodeAttrTest, IntegerArray) {
  AttrsBuilder attrs;
  attrs.Array<int32_t>("x", XLA_FFI_DataType_S32, {1, -2, 300000});
  AnyArray array = DecodeOnly(attrs).cast<AnyArray>();
  ASSERT_EQ(array.size(), 3);
  EXPECT_EQ(AsInt(array[0]), 1);
  EXPECT_EQ(AsInt(array[1]), -2);
  EXPECT_EQ(AsInt(array[2]), 300000);
}

TEST(DecodeAttrTest, FloatArrays) {
  AttrsBuilder f32;
  f32.Array<float>("x", XLA_FFI_DataType_F32, {1.5f, -2.25f});
  AnyArray a = DecodeOnly(f32).cast<AnyArray>();
  ASSERT_EQ(a.size(), 2);
  EXPECT_EQ(AsFloat(a[0]), 1.5);
  EXPECT_EQ(AsFloat(a[1]), -2.25);

  AttrsBuilder f64;
  f64.Array<double>("x", XLA_FFI_DataType_F64, {0.1, 0.2, 0.3});
  AnyArray b = DecodeOnly(f64).cast<AnyArray>();
  ASSERT_EQ(b.size(), 3);
  EXPECT_EQ(AsFloat(b[2]), 0.3);

  AttrsBuilder f16;
  f16.Array<uint16_t>("x", XLA_FFI_DataType_F16, {0x3E00, 0x0001});
  AnyArray c = DecodeOnly(f16).cast<AnyArray>();
  ASSERT_EQ(c.size(), 2);
  EXPECT_EQ(AsFloat(c[0]), 1.5);
  EXPECT_EQ(AsFloat(c[1]), std::ldexp(1.0, -24));
}

TEST(DecodeAttrTest, BoolAndUnsignedArrays) {
  AttrsBuilder pred;
  pred.Array<uint8_t>("x", XLA_FFI_DataType_PRED, {1, 0, 1});
  AnyArray p = DecodeOnly(pred).cast<AnyArray>();
  ASSERT_EQ(p.size(), 3);
  EXPECT_TRUE(p[0].cast<bool>());
  EXPECT_FALSE(p[1].cast<bool>());

  AttrsBuilder u64;
  u64.Array<uint64_t>("x", XLA_FFI_DataType_U64, {7, 1ull << 62});
  AnyArray u = DecodeOnly(u64).cast<AnyArray>();
  ASSERT_EQ(u.size(), 2);
  EXPECT_EQ(AsInt(u[1]), int64_t{1} << 62);
}

TEST(DecodeAttrTest, EmptyArray) {
  AttrsBuilder attrs;
  attrs.Array<int64_t>("x", XLA_FFI_DataType_S64, {});
  EXPECT_EQ(DecodeOnly(attrs).cast<AnyArray>().size(), 0);
}

TEST(DecodeAttrTest, ArrayElementOverflowFails) {
  AttrsBuilder attrs;
  attrs.Array<uint64_t>("sizes", XLA_FFI_DataType_U64, {1, ~uint64_t{0}});
  Status status = DecodeFailure(attrs, "sizes");
  EXPECT_THAT(status.message(), HasSubstr("'sizes'"));
}

TEST(DecodeAttrTest, NestedDictionaries) {
  AttrsBuilder attrs;
  AttrsBuilder& cfg = attrs.Dictionary("x");
  cfg.Scalar<int64_t>("a", XLA_FFI_DataType_S64, 1).String("name", "n");
  AttrsBuilder& inner = cfg.Dictionary("inner");
  inner.Array<double>("w", XLA_FFI_DataType_F64, {1.0, 2.0})
      .Scalar<uint8_t>("flag", XLA_FFI_DataType_PRED, 1);
  inner.Dictionary("empty");

  tvm::ffi::Any value = DecodeOnly(attrs);
  Map map = value.cast<Map>();
  EXPECT_EQ(map.size(), 3);
  EXPECT_EQ(AsInt(map.at("a")), 1);
  EXPECT_EQ(map.at("name").cast<tvm::ffi::String>(), "n");
  Map nested = map.at("inner").cast<Map>();
  EXPECT_EQ(nested.size(), 3);
  EXPECT_TRUE(nested.at("flag").cast<bool>());
  AnyArray w = nested.at("w").cast<AnyArray>();
  ASSERT_EQ(w.size(), 2);
  EXPECT_EQ(AsFloat(w[1]), 2.0);
  EXPECT_EQ(nested.at("empty").cast<Map>().size(), 0);
}

TEST(DecodeAttrTest, ErrorInsideDictionaryNamesThePath) {
  AttrsBuilder attrs;
  attrs.Dictionary("cfg").Dictionary("inner").Scalar<float>("z", XLA_FFI_DataType_C64, 0.0f);
  Status status = DecodeFailure(attrs, "cfg");
  EXPECT_THAT(status.message(), HasSubstr("'cfg.inner.z'"));
  EXPECT_THAT(status.message(), HasSubstr("C64"));
}

TEST(DecodeAttrTest, UnsupportedScalarTypeFails) {
  AttrsBuilder attrs;
  float complex_value[2] = {1.0f, 2.0f};
  attrs.ScalarBytes("z", XLA_FFI_DataType_C64, complex_value, sizeof(complex_value));
  Status status = DecodeFailure(attrs, "z");
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(status.message(), HasSubstr("'z'"));
  EXPECT_THAT(status.message(), HasSubstr("C64"));
}

TEST(DecodeAttrTest, UnsupportedArrayElementTypeFails) {
  AttrsBuilder attrs;
  attrs.Array<uint8_t>("t", XLA_FFI_DataType_TOKEN, {0});
  Status status = DecodeFailure(attrs, "t");
  EXPECT_THAT(status.message(), HasSubstr("'t'"));
  EXPECT_THAT(status.message(), HasSubstr("TOKEN"));
}

TEST(DecodeAttrTest, UnknownAttributeKindFails) {
  int64_t value = 0;
  tvm::ffi::Any out;
  Status status = DecodeAttr("k", static_cast<XLA_FFI_AttrType>(42), &value, &out);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("'k'"));
  EXPECT_THAT(status.message(), HasSubstr("42"));
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_dtype.cc
 * \brief Tests of the XLA element type to DLPack data type table, row by row against docs/design.md
 * ("Data types").
 */
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "jax_tvm_ffi/dtype.h"

namespace jax_tvm_ffi {
namespace {

struct Row {
  XLA_FFI_DataType xla;
  const char* name;
  DLDataTypeCode code;
  uint8_t bits;
  uint16_t lanes;
  bool halve_last_dim;
};

// The table of docs/design.md ("Data types"), written out independently of dtype.cc.
constexpr Row kRows[] = {
    {XLA_FFI_DataType_PRED, "PRED", kDLBool, 8, 1, false},
    {XLA_FFI_DataType_S2, "S2", kDLInt, 2, 1, false},
    {XLA_FFI_DataType_S4, "S4", kDLInt, 4, 1, false},
    {XLA_FFI_DataType_S8, "S8", kDLInt, 8, 1, false},
    {XLA_FFI_DataType_S16, "S16", kDLInt, 16, 1, false},
    {XLA_FFI_DataType_S32, "S32", kDLInt, 32, 1, false},
    {XLA_FFI_DataType_S64, "S64", kDLInt, 64, 1, false},
    {XLA_FFI_DataType_U2, "U2", kDLUInt, 2, 1, false},
    {XLA_FFI_DataType_U4, "U4", kDLUInt, 4, 1, false},
    {XLA_FFI_DataType_U8, "U8", kDLUInt, 8, 1, false},
    {XLA_FFI_DataType_U16, "U16", kDLUInt, 16, 1, false},
    {XLA_FFI_DataType_U32, "U32", kDLUInt, 32, 1, false},
    {XLA_FFI_DataType_U64, "U64", kDLUInt, 64, 1, false},
    {XLA_FFI_DataType_F16, "F16", kDLFloat, 16, 1, false},
    {XLA_FFI_DataType_BF16, "BF16", kDLBfloat, 16, 1, false},
    {XLA_FFI_DataType_F32, "F32", kDLFloat, 32, 1, false},
    {XLA_FFI_DataType_F64, "F64", kDLFloat, 64, 1, false},
    {XLA_FFI_DataType_C64, "C64", kDLComplex, 64, 1, false},
    {XLA_FFI_DataType_C128, "C128", kDLComplex, 128, 1, false},
    {XLA_FFI_DataType_F8E5M2, "F8E5M2", kDLFloat8_e5m2, 8, 1, false},
    {XLA_FFI_DataType_F8E4M3, "F8E4M3", kDLFloat8_e4m3, 8, 1, false},
    {XLA_FFI_DataType_F8E4M3FN, "F8E4M3FN", kDLFloat8_e4m3fn, 8, 1, false},
    {XLA_FFI_DataType_F8E4M3B11FNUZ, "F8E4M3B11FNUZ", kDLFloat8_e4m3b11fnuz, 8, 1, false},
    {XLA_FFI_DataType_F8E5M2FNUZ, "F8E5M2FNUZ", kDLFloat8_e5m2fnuz, 8, 1, false},
    {XLA_FFI_DataType_F8E4M3FNUZ, "F8E4M3FNUZ", kDLFloat8_e4m3fnuz, 8, 1, false},
    {XLA_FFI_DataType_F8E3M4, "F8E3M4", kDLFloat8_e3m4, 8, 1, false},
    {XLA_FFI_DataType_F8E8M0FNU, "F8E8M0FNU", kDLFloat8_e8m0fnu, 8, 1, false},
    {XLA_FFI_DataType_F4E2M1FN, "F4E2M1FN", kDLFloat4_e2m1fn, 4, 2, true},
};

class DTypeRowTest : public ::testing::TestWithParam<Row> {};

TEST_P(DTypeRowTest, MapsAsDesigned) {
  const Row& row = GetParam();
  DTypeMapping mapping = MapDataType(row.xla);
  ASSERT_TRUE(mapping.valid);
  EXPECT_EQ(mapping.dtype.code, static_cast<uint8_t>(row.code));
  EXPECT_EQ(mapping.dtype.bits, row.bits);
  EXPECT_EQ(mapping.dtype.lanes, row.lanes);
  EXPECT_EQ(mapping.halve_last_dim, row.halve_last_dim);
}

TEST_P(DTypeRowTest, HasItsXlaName) {
  const Row& row = GetParam();
  EXPECT_STREQ(DataTypeName(row.xla), row.name);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DTypeRowTest, ::testing::ValuesIn(kRows),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           return std::string(info.param.name);
                         });

TEST(DTypeTest, OnlyPackedFloat4IsHalved) {
  int halved = 0;
  for (int code = 0; code < 256; ++code) {
    DTypeMapping mapping = MapDataType(static_cast<XLA_FFI_DataType>(code));
    if (mapping.halve_last_dim) {
      ++halved;
      EXPECT_EQ(code, XLA_FFI_DataType_F4E2M1FN);
    }
  }
  EXPECT_EQ(halved, 1);
}

TEST(DTypeTest, TokenIsNotATensor) {
  EXPECT_FALSE(MapDataType(XLA_FFI_DataType_TOKEN).valid);
  EXPECT_STREQ(DataTypeName(XLA_FFI_DataType_TOKEN), "TOKEN");
}

TEST(DTypeTest, InvalidIsInvalid) {
  EXPECT_FALSE(MapDataType(XLA_FFI_DataType_INVALID).valid);
  EXPECT_STREQ(DataTypeName(XLA_FFI_DataType_INVALID), "INVALID");
}

TEST(DTypeTest, UnknownCodesAreInvalidAndNamedUnknown) {
  // 13 and 14 are unused by XLA; 64 is the first code past the table; 999 and -1 are far out.
  for (int code : {13, 14, 34, 63, 64, 999, -1}) {
    auto type = static_cast<XLA_FFI_DataType>(code);
    EXPECT_FALSE(MapDataType(type).valid) << code;
    EXPECT_STREQ(DataTypeName(type), "UNKNOWN") << code;
  }
}

TEST(DTypeTest, EveryValidMappingHasAName) {
  for (int code = 0; code < 256; ++code) {
    auto type = static_cast<XLA_FFI_DataType>(code);
    if (MapDataType(type).valid) {
      EXPECT_STRNE(DataTypeName(type), "UNKNOWN") << code;
      EXPECT_GT(MapDataType(type).dtype.bits, 0) << code;
      EXPECT_GT(MapDataType(type).dtype.lanes, 0) << code;
    }
  }
}

}  // namespace
}  // namespace jax_tvm_ffi

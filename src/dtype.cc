/*!
 * \file dtype.cc
 * \brief The XLA element type to DLPack data type table (see DESIGN.md, "Data types").
 */
#include "jax_tvm_ffi/dtype.h"

#include <array>
#include <cstdint>

namespace jax_tvm_ffi {
namespace {

struct Entry {
  const char* name;
  DTypeMapping mapping;
};

constexpr DTypeMapping Map(DLDataTypeCode code, uint8_t bits, uint16_t lanes = 1,
                           bool halve_last_dim = false) {
  return {true, DLDataType{static_cast<uint8_t>(code), bits, lanes}, halve_last_dim};
}
constexpr DTypeMapping kUnmapped = {false, DLDataType{0, 0, 0}, false};

// Indexed by XLA_FFI_DataType. XLA's codes are small and dense, so a table keeps the per-buffer
// lookup to one load.
constexpr size_t kTableSize = 64;

constexpr std::array<Entry, kTableSize> BuildTable() {
  std::array<Entry, kTableSize> table{};
  for (Entry& entry : table) entry = {nullptr, kUnmapped};
  table[XLA_FFI_DataType_INVALID] = {"INVALID", kUnmapped};
  table[XLA_FFI_DataType_TOKEN] = {"TOKEN", kUnmapped};
  table[XLA_FFI_DataType_PRED] = {"PRED", Map(kDLBool, 8)};
  table[XLA_FFI_DataType_S1] = {"S1", Map(kDLInt, 1)};
  table[XLA_FFI_DataType_S2] = {"S2", Map(kDLInt, 2)};
  table[XLA_FFI_DataType_S4] = {"S4", Map(kDLInt, 4)};
  table[XLA_FFI_DataType_S8] = {"S8", Map(kDLInt, 8)};
  table[XLA_FFI_DataType_S16] = {"S16", Map(kDLInt, 16)};
  table[XLA_FFI_DataType_S32] = {"S32", Map(kDLInt, 32)};
  table[XLA_FFI_DataType_S64] = {"S64", Map(kDLInt, 64)};
  table[XLA_FFI_DataType_U1] = {"U1", Map(kDLUInt, 1)};
  table[XLA_FFI_DataType_U2] = {"U2", Map(kDLUInt, 2)};
  table[XLA_FFI_DataType_U4] = {"U4", Map(kDLUInt, 4)};
  table[XLA_FFI_DataType_U8] = {"U8", Map(kDLUInt, 8)};
  table[XLA_FFI_DataType_U16] = {"U16", Map(kDLUInt, 16)};
  table[XLA_FFI_DataType_U32] = {"U32", Map(kDLUInt, 32)};
  table[XLA_FFI_DataType_U64] = {"U64", Map(kDLUInt, 64)};
  table[XLA_FFI_DataType_F16] = {"F16", Map(kDLFloat, 16)};
  table[XLA_FFI_DataType_BF16] = {"BF16", Map(kDLBfloat, 16)};
  table[XLA_FFI_DataType_F32] = {"F32", Map(kDLFloat, 32)};
  table[XLA_FFI_DataType_F64] = {"F64", Map(kDLFloat, 64)};
  table[XLA_FFI_DataType_C64] = {"C64", Map(kDLComplex, 64)};
  table[XLA_FFI_DataType_C128] = {"C128", Map(kDLComplex, 128)};
  table[XLA_FFI_DataType_F8E5M2] = {"F8E5M2", Map(kDLFloat8_e5m2, 8)};
  table[XLA_FFI_DataType_F8E4M3] = {"F8E4M3", Map(kDLFloat8_e4m3, 8)};
  table[XLA_FFI_DataType_F8E4M3FN] = {"F8E4M3FN", Map(kDLFloat8_e4m3fn, 8)};
  table[XLA_FFI_DataType_F8E4M3B11FNUZ] = {"F8E4M3B11FNUZ", Map(kDLFloat8_e4m3b11fnuz, 8)};
  table[XLA_FFI_DataType_F8E5M2FNUZ] = {"F8E5M2FNUZ", Map(kDLFloat8_e5m2fnuz, 8)};
  table[XLA_FFI_DataType_F8E4M3FNUZ] = {"F8E4M3FNUZ", Map(kDLFloat8_e4m3fnuz, 8)};
  table[XLA_FFI_DataType_F8E3M4] = {"F8E3M4", Map(kDLFloat8_e3m4, 8)};
  table[XLA_FFI_DataType_F8E8M0FNU] = {"F8E8M0FNU", Map(kDLFloat8_e8m0fnu, 8)};
  table[XLA_FFI_DataType_F4E2M1FN] = {"F4E2M1FN", Map(kDLFloat4_e2m1fn, 4, 2, true)};
  return table;
}

constexpr std::array<Entry, kTableSize> kTable = BuildTable();

}  // namespace

DTypeMapping MapDataType(XLA_FFI_DataType type) {
  auto index = static_cast<uint32_t>(type);
  return index < kTableSize ? kTable[index].mapping : kUnmapped;
}

const char* DataTypeName(XLA_FFI_DataType type) {
  auto index = static_cast<uint32_t>(type);
  if (index < kTableSize && kTable[index].name != nullptr) return kTable[index].name;
  return "UNKNOWN";
}

}  // namespace jax_tvm_ffi

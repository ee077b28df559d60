/*!
 * \file jax_tvm_ffi/dtype.h
 * \brief The mapping from XLA element types to DLPack data types, and their names: one table.
 */
#ifndef JAX_TVM_FFI_DTYPE_H_
#define JAX_TVM_FFI_DTYPE_H_

#include <dlpack/dlpack.h>
#include <xla/ffi/api/c_api.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace jax_tvm_ffi {

/*! \brief How an XLA element type appears to a TVM FFI function. */
struct DTypeMapping {
  /*! \brief False when the type has no DLPack equivalent (TOKEN, INVALID, unknown codes). */
  bool valid;
  DLDataType dtype;
  /*!
   * \brief True for packed 4-bit floats, which are described as 2-lane bytes: the tensor's
   *        last dimension is halved (rounded up) so the view covers whole bytes.
   */
  bool halve_last_dim;
};

namespace detail {

/*! \brief One row of the dtype table: how an XLA element type maps, and what XLA calls it. */
struct DTypeEntry {
  /*! \brief Zero bits marks a type with no DLPack equivalent. */
  DLDataType dtype;
  /*! \brief XLA's name; nullptr for a code XLA does not define. */
  const char* name;
};

constexpr DTypeEntry Entry(const char* name, DLDataTypeCode code, uint8_t bits,
                           uint16_t lanes = 1) {
  return DTypeEntry{DLDataType{static_cast<uint8_t>(code), bits, lanes}, name};
}

constexpr DTypeEntry NoDLPackType(const char* name) {
  return DTypeEntry{DLDataType{0, 0, 0}, name};
}

// Indexed by XLA_FFI_DataType: XLA's codes are small and dense, so a lookup is one load. The
// table lives in the header so the per-buffer lookup on the call path inlines; the names sit
// beside the types so that a type cannot be mapped without being named.
constexpr size_t kDTypeTableSize = 64;

constexpr std::array<DTypeEntry, kDTypeTableSize> BuildDTypeTable() {
  std::array<DTypeEntry, kDTypeTableSize> table{};
  table[XLA_FFI_DataType_INVALID] = NoDLPackType("INVALID");
  table[XLA_FFI_DataType_TOKEN] = NoDLPackType("TOKEN");
  table[XLA_FFI_DataType_PRED] = Entry("PRED", kDLBool, 8);
  table[XLA_FFI_DataType_S1] = Entry("S1", kDLInt, 1);
  table[XLA_FFI_DataType_S2] = Entry("S2", kDLInt, 2);
  table[XLA_FFI_DataType_S4] = Entry("S4", kDLInt, 4);
  table[XLA_FFI_DataType_S8] = Entry("S8", kDLInt, 8);
  table[XLA_FFI_DataType_S16] = Entry("S16", kDLInt, 16);
  table[XLA_FFI_DataType_S32] = Entry("S32", kDLInt, 32);
  table[XLA_FFI_DataType_S64] = Entry("S64", kDLInt, 64);
  table[XLA_FFI_DataType_U1] = Entry("U1", kDLUInt, 1);
  table[XLA_FFI_DataType_U2] = Entry("U2", kDLUInt, 2);
  table[XLA_FFI_DataType_U4] = Entry("U4", kDLUInt, 4);
  table[XLA_FFI_DataType_U8] = Entry("U8", kDLUInt, 8);
  table[XLA_FFI_DataType_U16] = Entry("U16", kDLUInt, 16);
  table[XLA_FFI_DataType_U32] = Entry("U32", kDLUInt, 32);
  table[XLA_FFI_DataType_U64] = Entry("U64", kDLUInt, 64);
  table[XLA_FFI_DataType_F16] = Entry("F16", kDLFloat, 16);
  table[XLA_FFI_DataType_BF16] = Entry("BF16", kDLBfloat, 16);
  table[XLA_FFI_DataType_F32] = Entry("F32", kDLFloat, 32);
  table[XLA_FFI_DataType_F64] = Entry("F64", kDLFloat, 64);
  table[XLA_FFI_DataType_C64] = Entry("C64", kDLComplex, 64);
  table[XLA_FFI_DataType_C128] = Entry("C128", kDLComplex, 128);
  table[XLA_FFI_DataType_F8E5M2] = Entry("F8E5M2", kDLFloat8_e5m2, 8);
  table[XLA_FFI_DataType_F8E4M3] = Entry("F8E4M3", kDLFloat8_e4m3, 8);
  table[XLA_FFI_DataType_F8E4M3FN] = Entry("F8E4M3FN", kDLFloat8_e4m3fn, 8);
  table[XLA_FFI_DataType_F8E4M3B11FNUZ] = Entry("F8E4M3B11FNUZ", kDLFloat8_e4m3b11fnuz, 8);
  table[XLA_FFI_DataType_F8E5M2FNUZ] = Entry("F8E5M2FNUZ", kDLFloat8_e5m2fnuz, 8);
  table[XLA_FFI_DataType_F8E4M3FNUZ] = Entry("F8E4M3FNUZ", kDLFloat8_e4m3fnuz, 8);
  table[XLA_FFI_DataType_F8E3M4] = Entry("F8E3M4", kDLFloat8_e3m4, 8);
  table[XLA_FFI_DataType_F8E8M0FNU] = Entry("F8E8M0FNU", kDLFloat8_e8m0fnu, 8);
  table[XLA_FFI_DataType_F4E2M1FN] = Entry("F4E2M1FN", kDLFloat4_e2m1fn, 4, 2);
  return table;
}

inline constexpr std::array<DTypeEntry, kDTypeTableSize> kDTypeTable = BuildDTypeTable();

/*! \brief The DLPack type of an XLA element type; bits == 0 when there is none. */
inline DLDataType LookupDLDataType(XLA_FFI_DataType type) {
  auto index = static_cast<uint32_t>(type);
  return index < kDTypeTableSize ? kDTypeTable[index].dtype : DLDataType{0, 0, 0};
}

}  // namespace detail

/*! \brief Maps an XLA element type; never fails, check DTypeMapping::valid. */
inline DTypeMapping MapDataType(XLA_FFI_DataType type) {
  const DLDataType dtype = detail::LookupDLDataType(type);
  if (dtype.bits == 0) return DTypeMapping{false, DLDataType{0, 0, 0}, false};
  return DTypeMapping{true, dtype, dtype.code == kDLFloat4_e2m1fn};
}

/*! \brief The XLA name of an element type ("F32", "BF16", ...), or "UNKNOWN" for a code it does not
 * know. */
const char* DataTypeName(XLA_FFI_DataType type);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_DTYPE_H_

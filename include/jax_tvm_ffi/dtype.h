/*!
 * \file jax_tvm_ffi/dtype.h
 * \brief The mapping from XLA element types to DLPack data types.
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

constexpr DLDataType Type(DLDataTypeCode code, uint8_t bits, uint16_t lanes = 1) {
  return DLDataType{static_cast<uint8_t>(code), bits, lanes};
}

// Indexed by XLA_FFI_DataType: XLA's codes are small and dense, so a lookup is one 4-byte load.
// Zero bits marks a type with no DLPack equivalent. The table lives in the header so the
// per-buffer lookup on the call path inlines.
constexpr size_t kDTypeTableSize = 64;

constexpr std::array<DLDataType, kDTypeTableSize> BuildDTypeTable() {
  std::array<DLDataType, kDTypeTableSize> table{};
  table[XLA_FFI_DataType_PRED] = Type(kDLBool, 8);
  table[XLA_FFI_DataType_S1] = Type(kDLInt, 1);
  table[XLA_FFI_DataType_S2] = Type(kDLInt, 2);
  table[XLA_FFI_DataType_S4] = Type(kDLInt, 4);
  table[XLA_FFI_DataType_S8] = Type(kDLInt, 8);
  table[XLA_FFI_DataType_S16] = Type(kDLInt, 16);
  table[XLA_FFI_DataType_S32] = Type(kDLInt, 32);
  table[XLA_FFI_DataType_S64] = Type(kDLInt, 64);
  table[XLA_FFI_DataType_U1] = Type(kDLUInt, 1);
  table[XLA_FFI_DataType_U2] = Type(kDLUInt, 2);
  table[XLA_FFI_DataType_U4] = Type(kDLUInt, 4);
  table[XLA_FFI_DataType_U8] = Type(kDLUInt, 8);
  table[XLA_FFI_DataType_U16] = Type(kDLUInt, 16);
  table[XLA_FFI_DataType_U32] = Type(kDLUInt, 32);
  table[XLA_FFI_DataType_U64] = Type(kDLUInt, 64);
  table[XLA_FFI_DataType_F16] = Type(kDLFloat, 16);
  table[XLA_FFI_DataType_BF16] = Type(kDLBfloat, 16);
  table[XLA_FFI_DataType_F32] = Type(kDLFloat, 32);
  table[XLA_FFI_DataType_F64] = Type(kDLFloat, 64);
  table[XLA_FFI_DataType_C64] = Type(kDLComplex, 64);
  table[XLA_FFI_DataType_C128] = Type(kDLComplex, 128);
  table[XLA_FFI_DataType_F8E5M2] = Type(kDLFloat8_e5m2, 8);
  table[XLA_FFI_DataType_F8E4M3] = Type(kDLFloat8_e4m3, 8);
  table[XLA_FFI_DataType_F8E4M3FN] = Type(kDLFloat8_e4m3fn, 8);
  table[XLA_FFI_DataType_F8E4M3B11FNUZ] = Type(kDLFloat8_e4m3b11fnuz, 8);
  table[XLA_FFI_DataType_F8E5M2FNUZ] = Type(kDLFloat8_e5m2fnuz, 8);
  table[XLA_FFI_DataType_F8E4M3FNUZ] = Type(kDLFloat8_e4m3fnuz, 8);
  table[XLA_FFI_DataType_F8E3M4] = Type(kDLFloat8_e3m4, 8);
  table[XLA_FFI_DataType_F8E8M0FNU] = Type(kDLFloat8_e8m0fnu, 8);
  table[XLA_FFI_DataType_F4E2M1FN] = Type(kDLFloat4_e2m1fn, 4, 2);
  return table;
}

inline constexpr std::array<DLDataType, kDTypeTableSize> kDTypeTable = BuildDTypeTable();

/*! \brief The DLPack type of an XLA element type; bits == 0 when there is none. */
inline DLDataType LookupDLDataType(XLA_FFI_DataType type) {
  auto index = static_cast<uint32_t>(type);
  return index < kDTypeTableSize ? kDTypeTable[index] : DLDataType{0, 0, 0};
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

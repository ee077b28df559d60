/*!
 * \file dtype.cc
 * \brief Names of XLA element types, for messages. The mapping itself is in dtype.h.
 */
#include "jax_tvm_ffi/dtype.h"

namespace jax_tvm_ffi {

const char* DataTypeName(XLA_FFI_DataType type) {
  switch (type) {
    case XLA_FFI_DataType_INVALID:
      return "INVALID";
    case XLA_FFI_DataType_TOKEN:
      return "TOKEN";
    case XLA_FFI_DataType_PRED:
      return "PRED";
    case XLA_FFI_DataType_S1:
      return "S1";
    case XLA_FFI_DataType_S2:
      return "S2";
    case XLA_FFI_DataType_S4:
      return "S4";
    case XLA_FFI_DataType_S8:
      return "S8";
    case XLA_FFI_DataType_S16:
      return "S16";
    case XLA_FFI_DataType_S32:
      return "S32";
    case XLA_FFI_DataType_S64:
      return "S64";
    case XLA_FFI_DataType_U1:
      return "U1";
    case XLA_FFI_DataType_U2:
      return "U2";
    case XLA_FFI_DataType_U4:
      return "U4";
    case XLA_FFI_DataType_U8:
      return "U8";
    case XLA_FFI_DataType_U16:
      return "U16";
    case XLA_FFI_DataType_U32:
      return "U32";
    case XLA_FFI_DataType_U64:
      return "U64";
    case XLA_FFI_DataType_F16:
      return "F16";
    case XLA_FFI_DataType_BF16:
      return "BF16";
    case XLA_FFI_DataType_F32:
      return "F32";
    case XLA_FFI_DataType_F64:
      return "F64";
    case XLA_FFI_DataType_C64:
      return "C64";
    case XLA_FFI_DataType_C128:
      return "C128";
    case XLA_FFI_DataType_F8E5M2:
      return "F8E5M2";
    case XLA_FFI_DataType_F8E4M3:
      return "F8E4M3";
    case XLA_FFI_DataType_F8E4M3FN:
      return "F8E4M3FN";
    case XLA_FFI_DataType_F8E4M3B11FNUZ:
      return "F8E4M3B11FNUZ";
    case XLA_FFI_DataType_F8E5M2FNUZ:
      return "F8E5M2FNUZ";
    case XLA_FFI_DataType_F8E4M3FNUZ:
      return "F8E4M3FNUZ";
    case XLA_FFI_DataType_F8E3M4:
      return "F8E3M4";
    case XLA_FFI_DataType_F8E8M0FNU:
      return "F8E8M0FNU";
    case XLA_FFI_DataType_F4E2M1FN:
      return "F4E2M1FN";
  }
  return "UNKNOWN";
}

}  // namespace jax_tvm_ffi

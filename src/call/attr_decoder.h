/*!
 * \file attr_decoder.h
 * \brief Finding the attributes an arg_spec names in a call frame (by name, never by position)
 *        and decoding XLA attribute values into natural TVM FFI values.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_ATTR_DECODER_H_
#define JAX_TVM_FFI_SRC_CALL_ATTR_DECODER_H_

#include <tvm/ffi/any.h>
#include <tvm/ffi/c_api.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/status.h"
#include "jax_tvm_ffi/arg_spec.h"

namespace jax_tvm_ffi {

/*!
 * \brief Matches the spec's attributes to the frame's.
 * \param spec The target's spec.
 * \param attrs The call frame's attributes.
 * \param frame_index Out, one entry per spec.sorted_attr_names(): the index in attrs of that
 *        attribute.
 * \return A failure naming the attribute when the spec names one the call lacks, or the call
 *         passes one the spec does not name.
 */
Status MatchAttrs(const ArgSpec& spec, const XLA_FFI_Attrs& attrs, size_t* frame_index);

/*!
 * \brief Decodes a scalar attribute straight into a packed argument slot, for the call path.
 * \return false when the scalar needs DecodeAttr (F16/BF16, an out-of-range U64, an unsupported
 *         type), which also produces the error message.
 */
inline bool DecodeScalarFast(const XLA_FFI_Scalar& scalar, TVMFFIAny* out) {
  out->zero_padding = 0;
  switch (scalar.dtype) {
    case XLA_FFI_DataType_PRED:
      out->type_index = kTVMFFIBool;
      out->v_int64 = *static_cast<const uint8_t*>(scalar.value) != 0;
      return true;
    case XLA_FFI_DataType_S8:
      out->v_int64 = *static_cast<const int8_t*>(scalar.value);
      break;
    case XLA_FFI_DataType_S16:
      out->v_int64 = *static_cast<const int16_t*>(scalar.value);
      break;
    case XLA_FFI_DataType_S32:
      out->v_int64 = *static_cast<const int32_t*>(scalar.value);
      break;
    case XLA_FFI_DataType_S64:
      out->v_int64 = *static_cast<const int64_t*>(scalar.value);
      break;
    case XLA_FFI_DataType_U8:
      out->v_int64 = *static_cast<const uint8_t*>(scalar.value);
      break;
    case XLA_FFI_DataType_U16:
      out->v_int64 = *static_cast<const uint16_t*>(scalar.value);
      break;
    case XLA_FFI_DataType_U32:
      out->v_int64 = *static_cast<const uint32_t*>(scalar.value);
      break;
    case XLA_FFI_DataType_F32:
      out->type_index = kTVMFFIFloat;
      out->v_float64 = *static_cast<const float*>(scalar.value);
      return true;
    case XLA_FFI_DataType_F64:
      out->type_index = kTVMFFIFloat;
      out->v_float64 = *static_cast<const double*>(scalar.value);
      return true;
    default:
      return false;
  }
  out->type_index = kTVMFFIInt;
  return true;
}

/*!
 * \brief Decodes a string attribute short enough for TVM FFI's in-place small string (at most 7
 *        bytes, no allocation) straight into a packed argument slot, for the call path.
 * \return false for a longer string, which needs DecodeAttr.
 */
inline bool DecodeSmallStringFast(const XLA_FFI_ByteSpan& span, TVMFFIAny* out) {
  constexpr size_t kMaxSmallStringBytes = sizeof(out->v_bytes) - 1;  // One byte for the NUL.
  if (span.len > kMaxSmallStringBytes) return false;
  out->type_index = kTVMFFISmallStr;
  out->small_str_len = static_cast<uint32_t>(span.len);
  out->v_int64 = 0;
  std::memcpy(out->v_bytes, span.ptr, span.len);
  return true;
}

/*!
 * \brief Decodes one attribute value.
 *
 * bool and integer scalars of every width become bool / int64; F16, BF16, F32 and F64 scalars
 * become double; strings become tvm::ffi::String; 1-D arrays become tvm::ffi::Array; dictionaries
 * become tvm::ffi::Map<String, Any>, nested as given.
 *
 * \param name The attribute's name, used in messages (nested values as "outer.inner").
 * \param type The XLA attribute type.
 * \param value The XLA attribute value.
 * \param out Receives the value.
 * \return A failure naming the attribute for a kind or element type it cannot represent.
 */
Status DecodeAttr(const std::string& name, XLA_FFI_AttrType type, const void* value,
                  tvm::ffi::Any* out);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_ATTR_DECODER_H_

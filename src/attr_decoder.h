/*!
 * \file attr_decoder.h
 * \brief Finding the attributes an arg_spec names in a call frame (by name, never by position)
 *        and decoding XLA attribute values into natural TVM FFI values.
 */
#ifndef JAX_TVM_FFI_SRC_ATTR_DECODER_H_
#define JAX_TVM_FFI_SRC_ATTR_DECODER_H_

#include <tvm/ffi/any.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <string>

#include "jax_tvm_ffi/arg_spec.h"
#include "status.h"

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

#endif  // JAX_TVM_FFI_SRC_ATTR_DECODER_H_

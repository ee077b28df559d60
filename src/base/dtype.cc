/*!
 * \file dtype.cc
 * \brief Names of XLA element types, for messages, read from the table in dtype.h. Out of line:
 *        only error paths ask.
 */
#include "jax_tvm_ffi/dtype.h"

#include <cstdint>

namespace jax_tvm_ffi {

const char* DataTypeName(XLA_FFI_DataType type) {
  const auto index = static_cast<uint32_t>(type);
  const char* name = index < detail::kDTypeTableSize ? detail::kDTypeTable[index].name : nullptr;
  return name != nullptr ? name : "UNKNOWN";
}

}  // namespace jax_tvm_ffi

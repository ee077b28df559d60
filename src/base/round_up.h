/*!
 * \file round_up.h
 * \brief Rounding a size up to an alignment, overflow-checked: the one helper the scratch arena,
 *        the scratch allocator and owned copies share.
 */
#ifndef JAX_TVM_FFI_SRC_BASE_ROUND_UP_H_
#define JAX_TVM_FFI_SRC_BASE_ROUND_UP_H_

#include <cstddef>
#include <limits>

namespace jax_tvm_ffi {

/*!
 * \brief Rounds `size` up to a multiple of `alignment`, a power of two.
 * \param out Receives the rounded size.
 * \return False when the rounded size does not fit in size_t (`out` is then left alone).
 */
constexpr bool RoundUp(size_t size, size_t alignment, size_t* out) {
  const size_t mask = alignment - 1;
  if (size > std::numeric_limits<size_t>::max() - mask) return false;
  *out = (size + mask) & ~mask;
  return true;
}

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_BASE_ROUND_UP_H_

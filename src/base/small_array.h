/*!
 * \file small_array.h
 * \brief A per-call array on the stack for typical sizes, on the heap beyond them.
 */
#ifndef JAX_TVM_FFI_SRC_BASE_SMALL_ARRAY_H_
#define JAX_TVM_FFI_SRC_BASE_SMALL_ARRAY_H_

#include <cstddef>
#include <memory>
#include <type_traits>

#include "base/predict.h"

namespace jax_tvm_ffi {

// Arrays sized for typical calls live on the stack, uninitialized (T is trivial); larger calls
// fall back to the heap.
template <typename T, size_t kInline>
class SmallArray {
  static_assert(std::is_trivially_default_constructible_v<T>, "storage is left uninitialized");

 public:
  T* Get(size_t size) {
    if (JAX_TVM_FFI_UNLIKELY(size > kInline)) {
      heap_.reset(new T[size]);
      return heap_.get();
    }
    return inline_;
  }

 private:
  T inline_[kInline];
  std::unique_ptr<T[]> heap_;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_BASE_SMALL_ARRAY_H_

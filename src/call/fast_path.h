/*!
 * \file fast_path.h
 * \brief The straight path for the common call, packed with no heap, no Status and no general
 *        decoding: borrowed views of at most kMaxTensors ordinary buffers whose ranks add up to
 *        at most kMaxDims, and the spec's attributes exactly, in XLA's sorted order, all plain
 * scalars or strings of at most 7 bytes (stored in place, no allocation). Anything else (owned
 * tensors, tokens, packed 4-bit floats, longer strings, arrays, dictionaries, a missing or extra
 * attribute, any error) is left to the general path, which also writes the error messages.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_FAST_PATH_H_
#define JAX_TVM_FFI_SRC_CALL_FAST_PATH_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/c_api.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>

#include "registration/binding.h"

namespace jax_tvm_ffi {

/*! \brief The packed arguments of one call on the straight path; lives on the caller's stack. */
class FastPath {
 public:
  // Sized so the scaling benchmark's largest case (64 tensors of rank 8) stays on this path; the
  // object is about 6.6 KB of stack, of which a call touches only what it uses.
  static constexpr size_t kMaxTensors = 64;
  static constexpr size_t kMaxDims = 512;
  static constexpr size_t kMaxPacked = 96;

  /*!
   * \brief Packs the call's arguments in spec order.
   * \param binding The target.
   * \param frame The call frame.
   * \param device The device of every view.
   * \param stream The value of "ctx.stream".
   * \return false when the call needs the general path; nothing outside this object changed.
   */
  bool Pack(const Binding& binding, const XLA_FFI_CallFrame& frame, DLDevice device,
            int64_t stream);

  TVMFFIAny* packed() { return packed_; }
  /*! \brief The views, by buffer index (arguments first, then results). */
  const DLTensor* tensors() const { return tensors_; }
  size_t num_packed() const { return num_packed_; }

 private:
  DLTensor tensors_[kMaxTensors];
  int64_t strides_[kMaxDims];
  TVMFFIAny packed_[kMaxPacked];
  size_t num_packed_ = 0;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_FAST_PATH_H_

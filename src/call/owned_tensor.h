/*!
 * \file owned_tensor.h
 * \brief Owned tvm::ffi::Tensor objects for targets registered with pass_owned_tensor, and what
 *        happens when the function keeps one past the call.
 *
 * A function may keep an owned tensor (or a NumPy array exported from it with DLPack) after it
 * returns: a tensor whose reference count is above one when the call ends is "kept". Such an
 * object must never point into XLA's memory, which XLA reuses as soon as the call ends. Hence:
 * - On CPU every owned tensor is backed by its own heap buffer: arguments are copied in before
 *   the call and results copied out after it (a result that aliases an argument's buffer,
 *   through input_output_aliases, is copied in too). A kept tensor keeps its private buffer alive
 *   and stays valid for as long as it is referenced.
 * - On GPUs the bridge cannot copy device memory (it links no GPU runtime), so owned tensors view
 *   XLA's buffer directly, and a kept tensor is emptied after the call: its data pointer becomes
 *   null and its shape all zeros, so it holds no element to read. A DLPack export made from the
 *   tensor during the call (a CuPy or torch array) carries its own copy of the device pointer
 *   and cannot be revoked: GPU callbacks must not keep those.
 *
 * Which kept tensors fail the call (FAILED_PRECONDITION, naming each one):
 * - a kept result, on every platform: XLA reads a result once, when the call ends, so what is
 *   written through it afterwards would be lost without a word;
 * - a kept argument on a GPU: it viewed XLA's device memory, which XLA then reuses.
 * A kept argument on CPU does not fail the call: its private copy holds exactly the argument's
 * contents, and nothing reads from or writes to it after the call, so keeping it is no different
 * from keeping any NumPy array. This is what lets a callback pass np.from_dlpack(x) to jitted
 * JAX: JAX's CPU client makes a zero-copy buffer of the array, and the reference that buffer
 * holds is dropped only after the call (XLA's thread releases the buffer after the result is
 * ready, and jaxlib defers the Python decref to its next dispatch or garbage collection).
 */
#ifndef JAX_TVM_FFI_SRC_CALL_OWNED_TENSOR_H_
#define JAX_TVM_FFI_SRC_CALL_OWNED_TENSOR_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/container/tensor.h>

#include <cstddef>
#include <vector>

#include "base/status.h"

namespace jax_tvm_ffi {

/*! \brief The owned tensors of one call. */
class OwnedTensors {
 public:
  /*!
   * \brief Makes one owned tensor per view.
   * \param views The call's views: num_args arguments followed by results.
   * \param num_args How many of views are arguments (copied in on CPU).
   * \param num_tensors The number of views.
   */
  Status Create(DLTensor* views, size_t num_args, size_t num_tensors);

  /*! \brief The owned tensor standing for views[i]. */
  const tvm::ffi::Tensor& tensor(size_t i) const { return tensors_[i]; }

  /*!
   * \brief Ends the call: copies results back into XLA's buffers (CPU) and releases the tensors.
   * \param copy_results False when the call failed and the results are garbage anyway.
   * \return A failure naming each kept tensor that fails the call (see the file comment): every
   *         kept result, and kept arguments on GPUs. Its message contains "Leaked temp owned
   *         tensors", the wording of the published jax-tvm-ffi 0.1.3 that code may look for.
   */
  Status Finish(bool copy_results);

 private:
  DLTensor* views_ = nullptr;
  size_t num_args_ = 0;
  std::vector<tvm::ffi::Tensor> tensors_;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_OWNED_TENSOR_H_

/*!
 * \file tensor_bytes.h
 * \brief The size in bytes of a compact tensor, every step overflow-checked: the one place that
 *        turns a shape and a dtype into bytes (scratch requests, owned copies, shadow buffers).
 */
#ifndef JAX_TVM_FFI_SRC_BASE_TENSOR_BYTES_H_
#define JAX_TVM_FFI_SRC_BASE_TENSOR_BYTES_H_

#include <dlpack/dlpack.h>

#include <cstdint>
#include <string>

namespace jax_tvm_ffi {

/*!
 * \brief The largest tensor any memory can hold, in bytes: 2^48, the virtual address space of the
 *        64-bit platforms the bridge runs on (x86-64 user space is 2^47, AArch64 2^48). Refusing
 *        larger sizes before any allocator sees them keeps the error the same on every platform
 *        and under AddressSanitizer.
 */
constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 48;

/*!
 * \brief The bytes of a compact tensor of `tensor`'s shape and dtype: ceil(elements * bits *
 *        lanes / 8), sub-byte elements packed as XLA stores them. Not tvm::ffi::GetDataSize: it
 *        multiplies unchecked (f64[2^61] wraps to 0 bytes), and the copy of it in apache-tvm-ffi
 *        0.1.8's headers counts a 1-bit element as a whole byte. A zero dimension gives 0 bytes
 *        whatever the others.
 * \param tensor The tensor (ndim, shape and dtype are read).
 * \param max_bytes The largest size accepted.
 * \param what What the limit is for, in the plural ("scratch tensors"), for the message.
 * \param bytes Receives the size on success.
 * \param problem Receives what is wrong otherwise, when not null: a negative rank or dimension, a
 *        null shape, a zero-bit dtype, or a size above max_bytes (naming dtype, shape, elements
 *        and bytes).
 * \return Whether the size is known and at most max_bytes.
 */
bool TensorBytes(const DLTensor& tensor, uint64_t max_bytes, const char* what, uint64_t* bytes,
                 std::string* problem);

/*! \brief "float32[2, 3]": a tensor's dtype and shape as a message names them. */
std::string DescribeTensor(const DLTensor& tensor);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_BASE_TENSOR_BYTES_H_

/*!
 * \file kernel_cache.h
 * \brief The libraries of embedded kernels loaded in this process, one per digest, shared by
 *        every call site and executable that uses it and unloaded when the last one goes.
 */
#ifndef JAX_TVM_FFI_SRC_EMBEDDED_KERNEL_CACHE_H_
#define JAX_TVM_FFI_SRC_EMBEDDED_KERNEL_CACHE_H_

#include <tvm/ffi/function.h>

#include <cstddef>
#include <memory>

#include "base/status.h"
#include "embedded/payload.h"

namespace jax_tvm_ffi {

struct LoadedLibrary;

/*! \brief An embedded kernel ready to call: its function, and the library it lives in. */
struct EmbeddedKernel {
  tvm::ffi::Function function;
  /*! \brief Keeps the library loaded while the function may be called. */
  std::shared_ptr<LoadedLibrary> library;
};

/*!
 * \brief The payload's function, loading its library if no call site has it loaded yet.
 * \return InvalidArgument (FAILED_PRECONDITION when refused) naming the problem: embedded kernels
 *         are refused in this process, the bytes do not match the digest, the library does not
 *         load here (other architecture, missing symbol: the loader's message), it exports no
 *         function of that name.
 */
Status LoadEmbeddedKernel(const EmbeddedPayload& payload, EmbeddedKernel* out);

/*! \brief The number of embedded libraries loaded now (distinct digests). */
size_t EmbeddedLibrariesLoaded();

/*!
 * \brief Whether this process loads embedded kernels: yes unless the environment variable
 *        JAX_TVM_FFI_REFUSE_EMBEDDED_KERNELS was "1" when first asked, or SetEmbeddedKernelsAllowed
 *        said no since.
 */
bool EmbeddedKernelsAllowed();
void SetEmbeddedKernelsAllowed(bool allowed);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_EMBEDDED_KERNEL_CACHE_H_

/*!
 * \file embedded_exports.cc
 * \brief What the Python package needs of embedded kernels, exported from libjax_tvm_ffi.so:
 *        the generic targets' handlers, the process's trust switch, and counts for tests.
 */
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/string.h>

#include <cstdint>

#include "embedded/embedded_target.h"
#include "embedded/kernel_cache.h"

namespace jax_tvm_ffi {
namespace {

/*! \brief {"plain": address, "cuda_graph": address} of the two generic targets' handlers. */
tvm::ffi::Map<tvm::ffi::String, int64_t> PyEmbeddedHandlers() {
  return {
      {"plain", static_cast<int64_t>(reinterpret_cast<intptr_t>(&EmbeddedHandler))},
      {"cuda_graph", static_cast<int64_t>(reinterpret_cast<intptr_t>(&EmbeddedCudaGraphHandler))}};
}

void PyAllowEmbeddedKernels(bool allowed) { SetEmbeddedKernelsAllowed(allowed); }

bool PyEmbeddedKernelsAllowed() { return EmbeddedKernelsAllowed(); }

int64_t PyEmbeddedLibrariesLoaded() { return static_cast<int64_t>(EmbeddedLibrariesLoaded()); }

int64_t PyEmbeddedStateApiMinor() { return EmbeddedStateApiMinor(); }

int64_t PyEmbeddedCallSitesAlive() { return static_cast<int64_t>(EmbeddedCallSitesAlive()); }

}  // namespace
}  // namespace jax_tvm_ffi

TVM_FFI_DLL_EXPORT_TYPED_FUNC(embedded_handlers, jax_tvm_ffi::PyEmbeddedHandlers);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(allow_embedded_kernels, jax_tvm_ffi::PyAllowEmbeddedKernels);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(embedded_kernels_allowed, jax_tvm_ffi::PyEmbeddedKernelsAllowed);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(embedded_libraries_loaded, jax_tvm_ffi::PyEmbeddedLibrariesLoaded);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(embedded_state_api_minor, jax_tvm_ffi::PyEmbeddedStateApiMinor);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(embedded_call_sites_alive, jax_tvm_ffi::PyEmbeddedCallSitesAlive);

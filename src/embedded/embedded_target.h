/*!
 * \file embedded_target.h
 * \brief The two generic XLA FFI targets of embedded kernels, whose custom calls carry their
 *        kernel (see payload.h). XLA's instantiate stage loads the kernel and makes the call
 *        site's binding, kept as the call site's state (XLA_FFI_State_Set); each execution finds
 *        it there (XLA_FFI_State_Get) and runs the same call path as a registered target.
 */
#ifndef JAX_TVM_FFI_SRC_EMBEDDED_EMBEDDED_TARGET_H_
#define JAX_TVM_FFI_SRC_EMBEDDED_EMBEDDED_TARGET_H_

#include <xla/ffi/api/c_api.h>

#include <cstdint>

namespace jax_tvm_ffi {

/*! \brief The custom-call target names, as the Python side registers them. */
constexpr const char* kEmbeddedTarget = "jax_tvm_ffi.embedded";
constexpr const char* kEmbeddedCudaGraphTarget = "jax_tvm_ffi.embedded_cuda_graph";

/*!
 * \brief The handler of kEmbeddedTarget (every stage: register it for instantiate and execute).
 */
XLA_FFI_Error* EmbeddedHandler(XLA_FFI_CallFrame* frame);

/*! \brief The handler of kEmbeddedCudaGraphTarget: the same, reported CUDA-graph compatible. */
XLA_FFI_Error* EmbeddedCudaGraphHandler(XLA_FFI_CallFrame* frame);

/*!
 * \brief The oldest XLA FFI API 0.x minor version the running XLA must speak for embedded kernels:
 *        the state calls' layout this build was compiled with.
 */
int32_t EmbeddedStateApiMinor();

/*! \brief The call sites alive now (their state not yet deleted by XLA). */
long EmbeddedCallSitesAlive();

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_EMBEDDED_EMBEDDED_TARGET_H_

/*!
 * \file invoke.h
 * \brief The call itself, shared by the straight and the general path: the function called with
 *        its packed arguments, XLA's stream installed and scratch memory in scope, and its
 *        outcome checked.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_INVOKE_H_
#define JAX_TVM_FFI_SRC_CALL_INVOKE_H_

#include <tvm/ffi/c_api.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>

#include "base/status.h"
#include "call/owned_tensor.h"
#include "call/stream_scope.h"
#include "registration/binding.h"
#include "scratch/scratch_workspace.h"

namespace jax_tvm_ffi {

/*!
 * \brief Calls the function with `num_packed` packed arguments.
 * \param owned_tensors The call's owned tensors (their results are copied back), or nullptr.
 * \param workspace The caller's workspace (workspace mode), or nullptr.
 * \return The function's error, a kept scratch tensor, or a function that returned a value.
 */
// Calls the function with packed arguments, the platform stream installed, and checks the result.
Status Invoke(const Binding& binding, const XLA_FFI_CallFrame& frame, const Placement& placement,
              TVMFFIAny* packed, size_t num_packed, OwnedTensors* owned_tensors,
              Workspace* workspace);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_INVOKE_H_

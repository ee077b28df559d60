/*!
 * \file python_guard.h
 * \brief The exit guard of Python-backed targets: their calls are counted while they run and
 *        refused once the interpreter is shutting down (BlockPythonCalls, declared in
 *        jax_tvm_ffi/target.h), so that no XLA thread enters a finalized interpreter.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_PYTHON_GUARD_H_
#define JAX_TVM_FFI_SRC_CALL_PYTHON_GUARD_H_

#include <tvm/ffi/function.h>
#include <xla/ffi/api/c_api.h>

#include "registration/binding.h"

namespace jax_tvm_ffi {

/*!
 * \brief Runs `call` for a Python-backed target as a counted call, or refuses it with CANCELLED
 *        once Python calls are blocked. Wraps the whole call (checks included) from outside.
 */
XLA_FFI_Error* HandleGuardedCall(const Binding& binding, XLA_FFI_CallFrame* frame,
                                 XLA_FFI_Error* (*call)(const Binding&, XLA_FFI_CallFrame*));

/*!
 * \brief Releases a function on a thread that may not be Python's (an XLA thread), counted like
 *        a call of a python_backed target so that the exit handler waits for it; once
 *        BlockPythonCalls() has been called the function is kept for the rest of the process.
 */
void ReleaseOffPythonThread(tvm::ffi::Function function);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_PYTHON_GUARD_H_

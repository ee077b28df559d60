/*!
 * \file general_path.h
 * \brief The general path of a call: every buffer, attribute kind and option the straight path
 *        leaves to it, and every error message.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_GENERAL_PATH_H_
#define JAX_TVM_FFI_SRC_CALL_GENERAL_PATH_H_

#include <xla/ffi/api/c_api.h>

#include "base/status.h"
#include "call/stream_scope.h"
#include "registration/binding.h"
#include "scratch/scratch_workspace.h"

namespace jax_tvm_ffi {

/*!
 * \brief Decodes the frame in full (buffers, tokens, packed 4-bit floats, attributes of every
 *        kind, owned tensors), packs it like the straight path and makes the call.
 * \return A failure naming what in the frame is wrong, or the call's outcome (see Invoke).
 */
Status ExecuteGeneral(const Binding& binding, const XLA_FFI_CallFrame& frame,
                      const Placement& placement, Workspace* workspace);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_GENERAL_PATH_H_

/*!
 * \file invoke.h
 * \brief The call itself, shared by the straight and the general path: the function called with
 *        its packed arguments, XLA's stream installed and scratch memory in scope, and its
 *        outcome checked.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_INVOKE_H_
#define JAX_TVM_FFI_SRC_CALL_INVOKE_H_

#include <tvm/ffi/any.h>
#include <tvm/ffi/c_api.h>
#include <tvm/ffi/function.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>

#include "base/error.h"
#include "base/predict.h"
#include "base/status.h"
#include "call/owned_tensor.h"
#include "call/stream_scope.h"
#include "registration/binding.h"
#include "scratch/scratch_allocator.h"
#include "scratch/scratch_workspace.h"

namespace jax_tvm_ffi {

/*!
 * \brief Calls the function with `num_packed` packed arguments.
 * \param owned_tensors The call's owned tensors (their results are copied back), or nullptr.
 * \param workspace The caller's workspace (workspace mode), or nullptr.
 * \return The function's error, a kept scratch tensor, or a function that returned a value.
 *
 * Inline: the straight path, from the handler's guard to the kernel, is one function, without a
 * prologue and the arguments' passing for each step.
 */
[[gnu::always_inline]] inline Status Invoke(const Binding& binding, const XLA_FFI_CallFrame& frame,
                                            const Placement& placement, TVMFFIAny* packed,
                                            size_t num_packed, OwnedTensors* owned_tensors,
                                            Workspace* workspace) {
  Status status;
  StreamScope stream_scope;
  if (binding.uses_stream) {
    status = stream_scope.Enter(binding.device_type, placement.device_id, placement.stream);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  }
  ScratchScope scratch(binding, frame.api, frame.ctx, placement.device_id, workspace);
  status = scratch.Enter();
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;

  tvm::ffi::Any result;
  auto* result_slot = reinterpret_cast<TVMFFIAny*>(&result);
  const auto num_args = static_cast<int32_t>(num_packed);
  // A library function's symbol is called directly: the trampoline around it only passes it a
  // null `self` (library_function.h), for about 45 instructions a call.
  int rc;
  if (binding.direct_entry != nullptr) {
    rc = binding.direct_entry(nullptr, packed, num_args, result_slot);
  } else {
    auto* function = const_cast<tvm::ffi::FunctionObj*>(binding.function.get());
    rc = function->safe_call(function, packed, num_args, result_slot);
  }
  if (JAX_TVM_FFI_UNLIKELY(rc != 0)) {
    // The function's error is the one to report; the scratch and owned tensors are still given
    // back.
    status = TakeRaisedTvmError();
    if (owned_tensors != nullptr) owned_tensors->Finish(/*copy_results=*/false);
    scratch.Finish();
    return status;
  }
  if (owned_tensors != nullptr) {
    status = owned_tensors->Finish(/*copy_results=*/true);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  }
  status = scratch.Finish();
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  if (JAX_TVM_FFI_UNLIKELY(result.type_index() != TVMFFITypeIndex::kTVMFFINone)) {
    return Status::InvalidArgument(
        "the function returned a value of type " + result.GetTypeKey() +
        "; a bridged function must write its outputs into the result tensors and return None");
  }
  return Status();
}

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_INVOKE_H_

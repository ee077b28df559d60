/*!
 * \file handler.cc
 * \brief The call of a target: XLA's stages and metadata query, the straight path or the
 *        general one, the workspace and checking modes, and errors returned to XLA.
 */
#include "call/handler.h"

#include <tvm/ffi/error.h>

#include <cstddef>
#include <exception>
#include <string>

#include "base/api_version.h"
#include "base/error.h"
#include "base/predict.h"
#include "base/status.h"
#include "call/call_site_plan.h"
#include "call/checked_call.h"
#include "call/fast_path.h"
#include "call/general_path.h"
#include "call/invoke.h"
#include "call/python_guard.h"
#include "call/stream_scope.h"
#include "jax_tvm_ffi/dtype.h"
#include "scratch/scratch_workspace.h"

namespace jax_tvm_ffi {
namespace {

// The straight path when the call can take it, else the general one. Inline, as Invoke is: see
// invoke.h.
[[gnu::always_inline]] inline Status Dispatch(const Binding& binding,
                                              const XLA_FFI_CallFrame& frame,
                                              const Placement& placement, Workspace* workspace) {
  FastPath fast;
  if (fast.Pack(binding, frame, DLDevice{binding.device_type, placement.device_id},
                reinterpret_cast<int64_t>(placement.stream))) {
    return Invoke(binding, frame, placement, fast.packed(), fast.num_packed(), nullptr, workspace);
  }
  return ExecuteGeneral(binding, frame, placement, workspace);
}

// The workspace mode (TargetOptions::last_result_is_workspace): the last result is the caller's
// workspace. The function sees the frame without it, and its scratch requests are carved from it.
[[gnu::noinline]] Status ExecuteWithWorkspace(const Binding& binding,
                                              const XLA_FFI_CallFrame& frame,
                                              const Placement& placement) {
  const auto num_rets = static_cast<size_t>(frame.rets.size);
  const auto* buffer = num_rets == 0 || frame.rets.types[num_rets - 1] != XLA_FFI_RetType_BUFFER
                           ? nullptr
                           : static_cast<const XLA_FFI_Buffer*>(frame.rets.rets[num_rets - 1]);
  if (buffer == nullptr || buffer->dtype != XLA_FFI_DataType_U8 || buffer->rank != 1 ||
      buffer->dims == nullptr || buffer->dims[0] < 0) {
    std::string got = "no result";
    if (buffer != nullptr) {
      got = std::string(DataTypeName(buffer->dtype)) + " of rank " + std::to_string(buffer->rank);
    } else if (num_rets != 0) {
      got = "a result that is not a buffer";
    }
    return Status::InvalidArgument(
        "use_last_output_for_alloc_workspace=True: the last result must be the workspace, a 1-D "
        "uint8 buffer (jax.ShapeDtypeStruct((nbytes,), jnp.uint8)); got " +
        got);
  }
  SetLastWorkspacePeak(0);
  Workspace workspace(buffer->data, static_cast<uint64_t>(buffer->dims[0]),
                      DLDevice{binding.device_type, placement.device_id});
  XLA_FFI_CallFrame without_workspace = frame;
  without_workspace.rets.size -= 1;
  Status status = Dispatch(binding, without_workspace, placement, &workspace);
  SetLastWorkspacePeak(workspace.peak());
  return status;
}

Status Execute(const Binding& binding, const XLA_FFI_CallFrame& frame) {
  Placement placement;
  Status status = GetPlacement(binding, frame, &placement);
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  return Dispatch(binding, frame, placement, nullptr);
}

Status ExecuteWorkspaceMode(const Binding& binding, const XLA_FFI_CallFrame& frame) {
  Placement placement;
  Status status = GetPlacement(binding, frame, &placement);
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  return ExecuteWithWorkspace(binding, frame, placement);
}

// Runs `body` so that nothing unwinds into XLA: allocation failures and errors thrown by TVM FFI
// containers while decoding become call errors. The try block costs nothing on the success path.
template <typename Body>
XLA_FFI_Error* Guarded(const Binding& binding, XLA_FFI_CallFrame* frame, Body&& body) {
  Status status;
  try {
    status = body();
  } catch (const tvm::ffi::Error& error) {
    status = Status::Error(XLA_FFI_Error_Code_INTERNAL, error.kind() + ": " + error.message());
  } catch (const std::exception& error) {
    status = Status::Error(XLA_FFI_Error_Code_INTERNAL, error.what());
  } catch (...) {
    // A library symbol called directly that lets a non-standard exception out (its trampoline
    // would have caught it).
    status =
        Status::Error(XLA_FFI_Error_Code_INTERNAL, "the function threw a non-standard exception");
  }
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return MakeXlaError(frame->api, binding.name, status);
  return nullptr;
}

template <Status (*kExecute)(const Binding&, const XLA_FFI_CallFrame&)>
XLA_FFI_Error* HandleWith(const Binding& binding, XLA_FFI_CallFrame* frame) {
  return Guarded(binding, frame, [&] { return kExecute(binding, *frame); });
}

}  // namespace

XLA_FFI_Error* AnswerMetadataQuery(XLA_FFI_Handler_Traits traits, const std::string& name,
                                   XLA_FFI_CallFrame* frame) {
  auto* extension = reinterpret_cast<XLA_FFI_Metadata_Extension*>(frame->extension_start);
  // Only the fields written below need to fit: newer headers may add fields after them that an
  // older XLA's struct lacks.
  constexpr size_t kTraitsEnd = offsetof(XLA_FFI_Metadata, traits) + sizeof(XLA_FFI_Handler_Traits);
  if (extension->metadata == nullptr || extension->metadata->struct_size < kTraitsEnd) {
    // XLAs before API 0.2 send no API with the query: nothing to build an error with.
    if (frame->api == nullptr) return nullptr;
    return MakeXlaError(frame->api, name,
                        Status::InvalidArgument("malformed metadata query from XLA"));
  }
  const ApiVersion version = ReportedApiVersion(frame->api);
  extension->metadata->api_version =
      XLA_FFI_Api_Version{XLA_FFI_Api_Version_STRUCT_SIZE, nullptr, version.major, version.minor};
  extension->metadata->traits = traits;
  return nullptr;
}

// The checking mode around the call, when the target asks for it.
XLA_FFI_Error* HandleCheckedOrNot(const Binding& binding, XLA_FFI_CallFrame* frame) {
  auto* execute = binding.options.last_result_is_workspace ? &HandleWith<ExecuteWorkspaceMode>
                                                           : &HandleWith<Execute>;
  if (binding.options.check != 0) return HandleCheckedCall(binding, frame, execute);
  return execute(binding, frame);
}

// A call of a Python-backed, checked or workspace target: out of line, so that plain calls pay
// one test for all three. The Python guard is outermost: a call refused at exit runs nothing,
// not even the checks.
[[gnu::noinline]] XLA_FFI_Error* HandleWrappedCall(const Binding& binding,
                                                   XLA_FFI_CallFrame* frame) {
  if (binding.options.python_backed) return HandleGuardedCall(binding, frame, &HandleCheckedOrNot);
  return HandleCheckedOrNot(binding, frame);
}

// The frame fields the handler reads, which every XLA since API 0.1 passes.
constexpr size_t kFrameFieldsEnd = offsetof(XLA_FFI_CallFrame, attrs) + sizeof(XLA_FFI_Attrs);

[[gnu::noinline, gnu::cold]] XLA_FFI_Error* RefuseShortFrame(const Binding& binding,
                                                             const XLA_FFI_CallFrame* frame) {
  // The API pointer is the one field every frame has; without it there is nobody to tell.
  if (frame->api == nullptr) return nullptr;
  return MakeXlaError(frame->api, binding.name,
                      Status::InvalidArgument("malformed call frame from XLA: struct_size " +
                                              std::to_string(frame->struct_size) + ", at least " +
                                              std::to_string(kFrameFieldsEnd) + " expected"));
}

XLA_FFI_Error* HandleCall(const Binding& binding, XLA_FFI_CallFrame* frame) {
  if (JAX_TVM_FFI_UNLIKELY(frame->extension_start != nullptr &&
                           frame->extension_start->type == XLA_FFI_Extension_Metadata)) {
    return AnswerMetadataQuery(binding.traits, binding.name, frame);
  }
  // Checked after the metadata query, whose frame older XLAs fill only in part.
  if (JAX_TVM_FFI_UNLIKELY(frame->struct_size < kFrameFieldsEnd)) {
    return RefuseShortFrame(binding, frame);
  }
  // Only the execute stage is registered; other stages have nothing to do.
  if (JAX_TVM_FFI_UNLIKELY(frame->stage != XLA_FFI_ExecutionStage_EXECUTE)) return nullptr;
  return HandleExecution(binding, frame);
}

bool HandlePlannedCall(const Binding& binding, const CallSitePlan& plan, XLA_FFI_CallFrame* frame,
                       XLA_FFI_Error** error) {
  bool planned = true;
  *error = Guarded(binding, frame, [&] {
    Placement placement;
    Status status = GetPlacement(binding, *frame, &placement);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
    PlannedCall call;
    if (JAX_TVM_FFI_UNLIKELY(!plan.Pack(*frame, placement.device_id,
                                        reinterpret_cast<int64_t>(placement.stream), &call))) {
      planned = false;
      return Status();
    }
    return Invoke(binding, *frame, placement, call.packed, plan.num_packed(), nullptr, nullptr);
  });
  return planned;
}

XLA_FFI_Error* HandleExecution(const Binding& binding, XLA_FFI_CallFrame* frame) {
  if (JAX_TVM_FFI_UNLIKELY(binding.wrapped)) return HandleWrappedCall(binding, frame);
  return HandleWith<Execute>(binding, frame);
}

}  // namespace jax_tvm_ffi

/*!
 * \file handler.cc
 * \brief The call path of a target.
 */
#include "handler.h"

#include <tvm/ffi/any.h>
#include <tvm/ffi/c_api.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>

#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "api_version.h"
#include "attr_decoder.h"
#include "buffer_decoder.h"
#include "checked_call.h"
#include "error.h"
#include "fast_path.h"
#include "jax_tvm_ffi/dtype.h"
#include "owned_tensor.h"
#include "packed_args.h"
#include "predict.h"
#include "scratch_allocator.h"
#include "scratch_workspace.h"
#include "status.h"

namespace jax_tvm_ffi {
namespace {

// Arrays sized for typical calls live on the stack, uninitialized (T is trivial); larger calls
// fall back to the heap.
template <typename T, size_t kInline>
class SmallArray {
  static_assert(std::is_trivially_default_constructible_v<T>, "storage is left uninitialized");

 public:
  T* Get(size_t size) {
    if (JAX_TVM_FFI_UNLIKELY(size > kInline)) {
      heap_.reset(new T[size]);
      return heap_.get();
    }
    return inline_;
  }

 private:
  T inline_[kInline];
  std::unique_ptr<T[]> heap_;
};

// The stream and device ordinal of a call; on CPU the stream is null and the ordinal 0.
struct Placement {
  void* stream = nullptr;
  int32_t device_id = 0;
};

Status GetPlacement(const Binding& binding, const XLA_FFI_CallFrame& frame, Placement* out) {
  if (!binding.uses_stream) return Status();
  const XLA_FFI_Api* api = frame.api;
  XLA_FFI_Stream_Get_Args stream{XLA_FFI_Stream_Get_Args_STRUCT_SIZE, nullptr, frame.ctx, nullptr};
  if (XLA_FFI_Error* error = api->XLA_FFI_Stream_Get(&stream)) {
    return TakeXlaError(api, error, "provide the stream");
  }
  XLA_FFI_DeviceOrdinal_Get_Args ordinal{XLA_FFI_DeviceOrdinal_Get_Args_STRUCT_SIZE, nullptr,
                                         frame.ctx, 0};
  if (XLA_FFI_Error* error = api->XLA_FFI_DeviceOrdinal_Get(&ordinal)) {
    return TakeXlaError(api, error, "provide the device ordinal");
  }
  out->stream = stream.stream;
  out->device_id = ordinal.device_ordinal;
  return Status();
}

// Installs XLA's stream as the TVM FFI environment stream for the scope of one call and puts
// the previous stream back when the scope ends, however it ends.
class StreamScope {
 public:
  StreamScope() = default;
  StreamScope(const StreamScope&) = delete;
  StreamScope& operator=(const StreamScope&) = delete;

  Status Enter(int32_t device_type, int32_t device_id, void* stream) {
    if (TVMFFIEnvSetStream(device_type, device_id, stream, &previous_) != 0) {
      return TakeRaisedTvmError();
    }
    device_type_ = device_type;
    device_id_ = device_id;
    active_ = true;
    return Status();
  }
  ~StreamScope() {
    if (active_) TVMFFIEnvSetStream(device_type_, device_id_, previous_, nullptr);
  }

 private:
  bool active_ = false;
  int32_t device_type_ = 0;
  int32_t device_id_ = 0;
  TVMFFIStreamHandle previous_ = nullptr;
};

XLA_FFI_Error* AnswerMetadata(const Binding& binding, XLA_FFI_CallFrame* frame) {
  auto* extension = reinterpret_cast<XLA_FFI_Metadata_Extension*>(frame->extension_start);
  // Only the fields written below need to fit: newer headers may add fields after them that an
  // older XLA's struct lacks.
  constexpr size_t kTraitsEnd = offsetof(XLA_FFI_Metadata, traits) + sizeof(XLA_FFI_Handler_Traits);
  if (extension->metadata == nullptr || extension->metadata->struct_size < kTraitsEnd) {
    // XLAs before API 0.2 send no API with the query: nothing to build an error with.
    if (frame->api == nullptr) return nullptr;
    return MakeXlaError(frame->api, binding.name,
                        Status::InvalidArgument("malformed metadata query from XLA"));
  }
  const ApiVersion version = ReportedApiVersion(frame->api);
  extension->metadata->api_version =
      XLA_FFI_Api_Version{XLA_FFI_Api_Version_STRUCT_SIZE, nullptr, version.major, version.minor};
  extension->metadata->traits = binding.traits;
  return nullptr;
}

// Attribute values that own a TVM FFI object (long strings, arrays, maps) for one call.
class OwnedValues {
 public:
  OwnedValues() = default;
  OwnedValues(const OwnedValues&) = delete;
  OwnedValues& operator=(const OwnedValues&) = delete;
  ~OwnedValues() {
    for (size_t i = 0; i < size_; ++i) Release(values_[i]);
    for (TVMFFIAny& value : overflow_) Release(value);
  }

  // Takes ownership of `value`; returns the slot the function receives.
  TVMFFIAny Keep(tvm::ffi::Any value) {
    TVMFFIAny raw = tvm::ffi::details::AnyUnsafe::MoveAnyToTVMFFIAny(std::move(value));
    if (raw.type_index >= kTVMFFIStaticObjectBegin) {
      if (size_ < kInline) {
        values_[size_++] = raw;
      } else {
        overflow_.push_back(raw);
      }
    }
    return raw;
  }

 private:
  static void Release(const TVMFFIAny& value) { TVMFFIObjectDecRef(value.v_obj); }

  static constexpr size_t kInline = 8;
  TVMFFIAny values_[kInline];
  size_t size_ = 0;
  std::vector<TVMFFIAny> overflow_;
};

// Decodes the spec's attributes straight into their packed argument slots.
Status DecodeAttrs(const Binding& binding, const XLA_FFI_Attrs& attrs, size_t num_args,
                   size_t num_rets, TVMFFIAny* packed, OwnedValues* owned) {
  const ArgSpec& spec = binding.spec;
  const size_t num_attrs = spec.sorted_attr_names().size();
  if (num_attrs == 0 && attrs.size == 0) return Status();
  SmallArray<size_t, 8> index_storage;
  size_t* frame_index = nullptr;
  if (JAX_TVM_FFI_UNLIKELY(!AttrsMatchInOrder(spec, attrs))) {
    frame_index = index_storage.Get(num_attrs);
    Status status = MatchAttrs(spec, attrs, frame_index);
    if (!status.ok()) return status;
  }
  for (size_t w = 0; w < num_attrs; ++w) {
    const size_t i = frame_index == nullptr ? w : frame_index[w];
    TVMFFIAny* slot = packed + binding.attr_offsets[w].At(num_args, num_rets);
    if (attrs.types[i] == XLA_FFI_AttrType_SCALAR &&
        DecodeScalarFast(*static_cast<const XLA_FFI_Scalar*>(attrs.attrs[i]), slot)) {
      continue;
    }
    tvm::ffi::Any value;
    Status status = DecodeAttr(spec.sorted_attr_names()[w], attrs.types[i], attrs.attrs[i], &value);
    if (!status.ok()) return status;
    *slot = owned->Keep(std::move(value));
  }
  return Status();
}

// Calls the function with packed arguments, the platform stream installed, and checks the result.
Status Invoke(const Binding& binding, const XLA_FFI_CallFrame& frame, const Placement& placement,
              TVMFFIAny* packed, size_t num_packed, OwnedTensors* owned_tensors,
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
  const tvm::ffi::FunctionObj* function = binding.function.get();
  int rc =
      function->safe_call(const_cast<tvm::ffi::FunctionObj*>(function), packed,
                          static_cast<int32_t>(num_packed), reinterpret_cast<TVMFFIAny*>(&result));
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

// The general path: every buffer, attribute kind and option, and every error message.
[[gnu::noinline]] Status ExecuteGeneral(const Binding& binding, const XLA_FFI_CallFrame& frame,
                                        const Placement& placement, Workspace* workspace) {
  const DLDevice device{binding.device_type, placement.device_id};
  BufferDecoder buffers;
  Status status = buffers.Decode(frame.args, frame.rets, device);
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;

  const size_t num_args = buffers.num_args();
  const size_t num_rets = buffers.num_rets();
  const size_t num_packed = binding.end_offset.At(num_args, num_rets);
  SmallArray<TVMFFIAny, 32> packed_storage;
  TVMFFIAny* packed = packed_storage.Get(num_packed);

  OwnedValues owned_values;
  status = DecodeAttrs(binding, frame.attrs, num_args, num_rets, packed, &owned_values);
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;

  const bool pass_owned = binding.options.pass_owned_tensor;
  OwnedTensors owned_tensors;
  if (pass_owned) {
    status = owned_tensors.Create(buffers.tensors(), num_args, num_args + num_rets);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  }
  const std::vector<ArgSpecItem>& items = binding.spec.items();
  for (size_t item_index = 0; item_index < items.size(); ++item_index) {
    TVMFFIAny* slot = packed + binding.item_offsets[item_index].At(num_args, num_rets);
    size_t first = 0;
    size_t count = 0;
    switch (items[item_index].kind) {
      case ArgKind::kArgs:
        count = num_args;
        break;
      case ArgKind::kRets:
        first = num_args, count = num_rets;
        break;
      case ArgKind::kAttr:
        continue;  // Already decoded into place.
      case ArgKind::kStream:
        *slot = IntSlot(reinterpret_cast<int64_t>(placement.stream));
        continue;
      case ArgKind::kDeviceId:
        *slot = IntSlot(placement.device_id);
        continue;
    }
    if (pass_owned) {
      for (size_t i = 0; i < count; ++i) slot[i] = ObjectSlot(owned_tensors.tensor(first + i));
    } else {
      for (size_t i = 0; i < count; ++i) slot[i] = ViewSlot(buffers.tensors() + first + i);
    }
  }
  return Invoke(binding, frame, placement, packed, num_packed,
                pass_owned ? &owned_tensors : nullptr, workspace);
}

// The straight path when the call can take it, else the general one.
Status Dispatch(const Binding& binding, const XLA_FFI_CallFrame& frame, const Placement& placement,
                Workspace* workspace) {
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

// Runs `kExecute` so that nothing unwinds into XLA: allocation failures and errors thrown by TVM
// FFI containers while decoding become call errors. The try block costs nothing on the success
// path.
template <Status (*kExecute)(const Binding&, const XLA_FFI_CallFrame&)>
XLA_FFI_Error* HandleWith(const Binding& binding, XLA_FFI_CallFrame* frame) {
  Status status;
  try {
    status = kExecute(binding, *frame);
  } catch (const tvm::ffi::Error& error) {
    status = Status::Error(XLA_FFI_Error_Code_INTERNAL, error.kind() + ": " + error.message());
  } catch (const std::exception& error) {
    status = Status::Error(XLA_FFI_Error_Code_INTERNAL, error.what());
  }
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return MakeXlaError(frame->api, binding.name, status);
  return nullptr;
}

std::atomic<bool> python_calls_blocked{false};
std::atomic<size_t> python_calls_in_flight{0};

// Counts a call of a Python-backed target for its duration; refuses it once calls are blocked.
// Sequentially consistent: either BlockPythonCalls sees this call in flight, or the call sees the
// block.
class PythonCallScope {
 public:
  PythonCallScope() { python_calls_in_flight.fetch_add(1); }
  ~PythonCallScope() { python_calls_in_flight.fetch_sub(1); }
  PythonCallScope(const PythonCallScope&) = delete;
  PythonCallScope& operator=(const PythonCallScope&) = delete;
  bool refused() const { return python_calls_blocked.load(); }
};

}  // namespace

void BlockPythonCalls() { python_calls_blocked.store(true); }

size_t PythonCallsInFlight() { return python_calls_in_flight.load(); }

void ReleaseOffPythonThread(tvm::ffi::Function function) {
  PythonCallScope python_call;  // so that the exit handler waits for the release
  // Dropped before the scope ends (the caller destroys the parameter only after the return).
  tvm::ffi::Function released = std::move(function);
  if (!python_call.refused()) return;
  // Once the interpreter exits, dropping a Python callable would enter it: keep the function
  // for the rest of the process (reachable, never destroyed).
  static std::mutex kept_mutex;
  static auto* kept = new std::vector<tvm::ffi::Function>();
  std::lock_guard<std::mutex> lock(kept_mutex);
  kept->push_back(std::move(released));
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
  if (!binding.options.python_backed) return HandleCheckedOrNot(binding, frame);
  PythonCallScope python_call;
  if (python_call.refused()) {
    return MakeXlaError(
        frame->api, binding.name,
        Status::Error(XLA_FFI_Error_Code_CANCELLED,
                      "the Python interpreter is shutting down; the function was not called"));
  }
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
    return AnswerMetadata(binding, frame);
  }
  // Checked after the metadata query, whose frame older XLAs fill only in part.
  if (JAX_TVM_FFI_UNLIKELY(frame->struct_size < kFrameFieldsEnd)) {
    return RefuseShortFrame(binding, frame);
  }
  // Only the execute stage is registered; other stages have nothing to do.
  if (JAX_TVM_FFI_UNLIKELY(frame->stage != XLA_FFI_ExecutionStage_EXECUTE)) return nullptr;
  if (JAX_TVM_FFI_UNLIKELY(binding.wrapped)) return HandleWrappedCall(binding, frame);
  return HandleWith<Execute>(binding, frame);
}

}  // namespace jax_tvm_ffi

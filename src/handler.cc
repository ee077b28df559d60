/*!
 * \file handler.cc
 * \brief The call path of a target.
 */
#include "handler.h"

#include <tvm/ffi/any.h>
#include <tvm/ffi/c_api.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>

#include <exception>
#include <string>
#include <vector>

#include "attr_decoder.h"
#include "buffer_decoder.h"
#include "error.h"
#include "owned_tensor.h"
#include "status.h"

#if defined(__GNUC__)
#define JAX_TVM_FFI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define JAX_TVM_FFI_UNLIKELY(x) (x)
#endif

namespace jax_tvm_ffi {
namespace {

// Arrays sized for typical calls live on the stack; larger calls fall back to the heap.
template <typename T, size_t kInline>
class SmallArray {
 public:
  T* Get(size_t size) {
    if (size <= kInline) return inline_;
    heap_.resize(size);
    return heap_.data();
  }

 private:
  T inline_[kInline];
  std::vector<T> heap_;
};

// Takes an error returned by the XLA API, keeping its message.
Status TakeXlaError(const XLA_FFI_Api* api, XLA_FFI_Error* error, const char* what) {
  XLA_FFI_Error_GetMessage_Args get{XLA_FFI_Error_GetMessage_Args_STRUCT_SIZE, nullptr, error,
                                    nullptr};
  api->XLA_FFI_Error_GetMessage(&get);
  std::string message = std::string("XLA could not provide the ") + what + ": " +
                        (get.message != nullptr ? get.message : "(no message)");
  XLA_FFI_Error_Destroy_Args destroy{XLA_FFI_Error_Destroy_Args_STRUCT_SIZE, nullptr, error};
  api->XLA_FFI_Error_Destroy(&destroy);
  return Status::Error(XLA_FFI_Error_Code_INTERNAL, std::move(message));
}

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
    return TakeXlaError(api, error, "stream");
  }
  XLA_FFI_DeviceOrdinal_Get_Args ordinal{XLA_FFI_DeviceOrdinal_Get_Args_STRUCT_SIZE, nullptr,
                                         frame.ctx, 0};
  if (XLA_FFI_Error* error = api->XLA_FFI_DeviceOrdinal_Get(&ordinal)) {
    return TakeXlaError(api, error, "device ordinal");
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
  if (extension->metadata == nullptr ||
      extension->metadata->struct_size < XLA_FFI_Metadata_STRUCT_SIZE) {
    return MakeXlaError(frame->api, binding.name,
                        Status::InvalidArgument("malformed metadata query from XLA"));
  }
  extension->metadata->api_version = XLA_FFI_Api_Version{XLA_FFI_Api_Version_STRUCT_SIZE, nullptr,
                                                         XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR};
  extension->metadata->traits = binding.traits;
  return nullptr;
}

Status Execute(const Binding& binding, const XLA_FFI_CallFrame& frame) {
  Placement placement;
  Status status = GetPlacement(binding, frame, &placement);
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  const DLDevice device{binding.device_type, placement.device_id};

  BufferDecoder buffers;
  status = buffers.Decode(frame.args, frame.rets, device);
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;

  const ArgSpec& spec = binding.spec;
  const size_t num_attrs = spec.sorted_attr_names().size();
  SmallArray<size_t, 8> attr_index_storage;
  SmallArray<tvm::ffi::Any, 8> attr_value_storage;
  size_t* attr_index = attr_index_storage.Get(num_attrs);
  tvm::ffi::Any* attr_values = attr_value_storage.Get(num_attrs);
  status = MatchAttrs(spec, frame.attrs, attr_index);
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  for (size_t w = 0; w < num_attrs; ++w) {
    const size_t i = attr_index[w];
    status = DecodeAttr(spec.sorted_attr_names()[w], frame.attrs.types[i], frame.attrs.attrs[i],
                        &attr_values[w]);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  }

  OwnedTensors owned;
  if (binding.options.pass_owned_tensor) {
    status = owned.Create(buffers.tensors(), buffers.num_args(),
                          buffers.num_args() + buffers.num_rets());
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  }
  auto tensor_arg = [&](size_t i) -> tvm::ffi::AnyView {
    if (binding.options.pass_owned_tensor) return tvm::ffi::AnyView(owned.tensor(i));
    return tvm::ffi::AnyView(buffers.tensors() + i);
  };

  const std::vector<ArgSpecItem>& items = spec.items();
  size_t num_packed = 0;
  for (const ArgSpecItem& item : items) {
    num_packed += item.kind == ArgKind::kArgs   ? buffers.num_args()
                  : item.kind == ArgKind::kRets ? buffers.num_rets()
                                                : 1;
  }
  SmallArray<tvm::ffi::AnyView, 32> packed_storage;
  tvm::ffi::AnyView* packed = packed_storage.Get(num_packed);
  size_t next = 0;
  for (size_t item_index = 0; item_index < items.size(); ++item_index) {
    switch (items[item_index].kind) {
      case ArgKind::kArgs:
        for (size_t i = 0; i < buffers.num_args(); ++i) packed[next++] = tensor_arg(i);
        break;
      case ArgKind::kRets:
        for (size_t i = 0; i < buffers.num_rets(); ++i) {
          packed[next++] = tensor_arg(buffers.num_args() + i);
        }
        break;
      case ArgKind::kAttr:
        packed[next++] = attr_values[binding.attr_slot_of_item[item_index]];
        break;
      case ArgKind::kStream:
        packed[next++] = reinterpret_cast<int64_t>(placement.stream);
        break;
      case ArgKind::kDeviceId:
        packed[next++] = int64_t{placement.device_id};
        break;
    }
  }

  StreamScope stream_scope;
  if (binding.uses_stream) {
    status = stream_scope.Enter(binding.device_type, placement.device_id, placement.stream);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  }

  tvm::ffi::Any result;
  const tvm::ffi::FunctionObj* function = binding.function.get();
  int rc = function->safe_call(
      const_cast<tvm::ffi::FunctionObj*>(function), reinterpret_cast<const TVMFFIAny*>(packed),
      static_cast<int32_t>(num_packed), reinterpret_cast<TVMFFIAny*>(&result));
  if (JAX_TVM_FFI_UNLIKELY(rc != 0)) {
    status = TakeRaisedTvmError();
    if (binding.options.pass_owned_tensor) owned.Finish(/*copy_results=*/false);
    return status;
  }
  if (binding.options.pass_owned_tensor) {
    status = owned.Finish(/*copy_results=*/true);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  }
  if (JAX_TVM_FFI_UNLIKELY(result.type_index() != TVMFFITypeIndex::kTVMFFINone)) {
    return Status::InvalidArgument(
        "the function returned a value of type " + result.GetTypeKey() +
        "; a bridged function must write its outputs into the result tensors and return None");
  }
  return Status();
}

}  // namespace

XLA_FFI_Error* HandleCall(const Binding& binding, XLA_FFI_CallFrame* frame) {
  if (JAX_TVM_FFI_UNLIKELY(frame->extension_start != nullptr &&
                           frame->extension_start->type == XLA_FFI_Extension_Metadata)) {
    return AnswerMetadata(binding, frame);
  }
  // Only the execute stage is registered; other stages have nothing to do.
  if (JAX_TVM_FFI_UNLIKELY(frame->stage != XLA_FFI_ExecutionStage_EXECUTE)) return nullptr;
  Status status;
  // Nothing may unwind into XLA: allocation failures and errors thrown by TVM FFI containers
  // while decoding become call errors. The try block costs nothing on the success path.
  try {
    status = Execute(binding, *frame);
  } catch (const tvm::ffi::Error& error) {
    status = Status::Error(XLA_FFI_Error_Code_INTERNAL, error.kind() + ": " + error.message());
  } catch (const std::exception& error) {
    status = Status::Error(XLA_FFI_Error_Code_INTERNAL, error.what());
  }
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return MakeXlaError(frame->api, binding.name, status);
  return nullptr;
}

}  // namespace jax_tvm_ffi

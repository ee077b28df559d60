/*!
 * \file stream_scope.h
 * \brief Where a call runs (XLA's stream and device ordinal) and the scope that installs that
 *        stream as TVM FFI's environment stream for the call.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_STREAM_SCOPE_H_
#define JAX_TVM_FFI_SRC_CALL_STREAM_SCOPE_H_

#include <tvm/ffi/extra/c_env_api.h>
#include <xla/ffi/api/c_api.h>

#include <cstdint>

#include "base/error.h"
#include "base/status.h"
#include "registration/binding.h"

namespace jax_tvm_ffi {

// The stream and device ordinal of a call; on CPU the stream is null and the ordinal 0.
struct Placement {
  void* stream = nullptr;
  int32_t device_id = 0;
};

inline Status GetPlacement(const Binding& binding, const XLA_FFI_CallFrame& frame, Placement* out) {
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

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_STREAM_SCOPE_H_

/*!
 * \file error.cc
 * \brief Error translation between TVM FFI and XLA FFI.
 */
#include "base/error.h"

#include <tvm/ffi/c_api.h>

#include <string>
#include <utility>

namespace jax_tvm_ffi {

namespace {

// The XLA status code closest to a TVM FFI error kind, so callers can tell bad input from a
// failed kernel.
XLA_FFI_Error_Code CodeForKind(const std::string& kind) {
  if (kind == "ValueError" || kind == "TypeError" || kind == "AttributeError") {
    return XLA_FFI_Error_Code_INVALID_ARGUMENT;
  }
  if (kind == "IndexError" || kind == "KeyError") return XLA_FFI_Error_Code_OUT_OF_RANGE;
  if (kind == "NotImplementedError") return XLA_FFI_Error_Code_UNIMPLEMENTED;
  if (kind == "MemoryError") return XLA_FFI_Error_Code_RESOURCE_EXHAUSTED;
  if (kind == "InternalError") return XLA_FFI_Error_Code_INTERNAL;
  return XLA_FFI_Error_Code_UNKNOWN;
}

// XLA takes an error message as a C string, so a NUL would cut it; other control bytes (ESC
// above all) would reach the user's terminal. Each becomes a visible \xNN escape; line breaks and
// tabs stay, as multi-line messages such as tracebacks need them, and so do UTF-8 bytes.
void AppendEscaped(std::string* out, const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : text) {
    unsigned char byte = static_cast<unsigned char>(c);
    if ((byte >= 0x20 && byte != 0x7f) || c == '\n' || c == '\t') {
      out->push_back(c);
    } else {
      out->append({'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]});
    }
  }
}

}  // namespace

Status TakeRaisedTvmError() {
  TVMFFIObjectHandle error = nullptr;
  TVMFFIErrorMoveFromRaised(&error);
  if (error == nullptr) {
    return Status::Error(XLA_FFI_Error_Code_UNKNOWN,
                         "the function reported a failure but raised no error object");
  }
  const TVMFFIErrorCell* cell = TVMFFIErrorGetCellPtr(error);
  std::string kind(cell->kind.data, cell->kind.size);
  std::string message = kind + ": ";
  message.append(cell->message.data, cell->message.size);
  TVMFFIObjectDecRef(error);
  return Status::Error(CodeForKind(kind), std::move(message));
}

Status TakeXlaError(const XLA_FFI_Api* api, XLA_FFI_Error* error, const char* what) {
  // API 0.4 renamed XLA_FFI_Error_GetMessage to XLA_FFI_Error_GetDetails, in the same slot of the
  // API table, and added an `errc` output after `message`. An XLA older than these headers reads
  // only the fields it knows (our struct_size is at least its own), so either spelling works at
  // run time against every XLA of the major version.
#if XLA_FFI_API_MAJOR == 0 && XLA_FFI_API_MINOR < 4
  XLA_FFI_Error_GetMessage_Args get{XLA_FFI_Error_GetMessage_Args_STRUCT_SIZE, nullptr, error,
                                    nullptr};
  api->XLA_FFI_Error_GetMessage(&get);
#else
  XLA_FFI_Error_GetDetails_Args get{XLA_FFI_Error_GetDetails_Args_STRUCT_SIZE, nullptr, error,
                                    nullptr, XLA_FFI_Error_Code_UNKNOWN};
  api->XLA_FFI_Error_GetDetails(&get);
#endif
  std::string message = std::string("XLA could not ") + what + ": " +
                        (get.message != nullptr ? get.message : "(no message)");
  XLA_FFI_Error_Destroy_Args destroy{XLA_FFI_Error_Destroy_Args_STRUCT_SIZE, nullptr, error};
  api->XLA_FFI_Error_Destroy(&destroy);
  return Status::Error(XLA_FFI_Error_Code_INTERNAL, std::move(message));
}

XLA_FFI_Error* MakeXlaError(const XLA_FFI_Api* api, const std::string& target_name,
                            const Status& status) {
  std::string message = "jax_tvm_ffi target '";
  AppendEscaped(&message, target_name);
  message += "': ";
  AppendEscaped(&message, status.message());
  XLA_FFI_Error_Create_Args args;
  args.struct_size = XLA_FFI_Error_Create_Args_STRUCT_SIZE;
  args.extension_start = nullptr;
  args.message = message.c_str();  // XLA copies the message.
  args.errc = status.code();
  return api->XLA_FFI_Error_Create(&args);
}

}  // namespace jax_tvm_ffi

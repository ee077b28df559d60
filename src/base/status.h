/*!
 * \file status.h
 * \brief The outcome of one step of a call: success, or an XLA error code and a message.
 */
#ifndef JAX_TVM_FFI_SRC_BASE_STATUS_H_
#define JAX_TVM_FFI_SRC_BASE_STATUS_H_

#include <xla/ffi/api/c_api.h>

#include <memory>
#include <string>
#include <utility>

namespace jax_tvm_ffi {

/*!
 * \brief Success or failure of a step on the call path.
 *
 * Success is a null pointer: making, moving and testing one costs nothing and allocates nothing,
 * so only the failure path pays for its message. No exception crosses the C boundary.
 */
class Status {
 public:
  Status() = default;

  static Status Error(XLA_FFI_Error_Code code, std::string message) {
    Status status;
    status.rep_ = std::make_unique<Rep>(Rep{code, std::move(message)});
    return status;
  }
  static Status InvalidArgument(std::string message) {
    return Error(XLA_FFI_Error_Code_INVALID_ARGUMENT, std::move(message));
  }

  bool ok() const { return rep_ == nullptr; }
  XLA_FFI_Error_Code code() const { return rep_->code; }
  const std::string& message() const { return rep_->message; }

 private:
  struct Rep {
    XLA_FFI_Error_Code code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_BASE_STATUS_H_

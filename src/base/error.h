/*!
 * \file error.h
 * \brief Translation of errors between the two ABIs: a TVM FFI error raised by the called
 *        function becomes a Status, and a Status becomes an XLA_FFI_Error naming the target.
 */
#ifndef JAX_TVM_FFI_SRC_BASE_ERROR_H_
#define JAX_TVM_FFI_SRC_BASE_ERROR_H_

#include <xla/ffi/api/c_api.h>

#include <string>

#include "base/status.h"

namespace jax_tvm_ffi {

/*!
 * \brief Takes the error a TVM FFI call left in thread-local storage (after a non-zero return).
 * \return A failure whose message is "<kind>: <message>", e.g. "ValueError: x must be 1-D", and
 *         whose code follows the kind (ValueError and TypeError: INVALID_ARGUMENT, ...).
 */
Status TakeRaisedTvmError();

/*!
 * \brief Takes an error returned by an XLA API function (destroying it), keeping its message.
 * \param what What XLA failed to do, e.g. "provide the stream".
 * \return An INTERNAL failure reading "XLA could not <what>: <XLA's message>".
 */
Status TakeXlaError(const XLA_FFI_Api* api, XLA_FFI_Error* error, const char* what);

/*!
 * \brief Builds the XLA error for a failed call of a target.
 * \param api The XLA FFI API of the call frame.
 * \param target_name The target, named in the message so the user knows which call failed.
 * \param status A failure.
 * \return An error XLA owns; its message reads "jax_tvm_ffi target '<name>': <message>", with
 *         every control byte of name and message other than line feed and tab written as \xNN
 *         (XLA takes the message as a C string, which a NUL would cut short).
 */
XLA_FFI_Error* MakeXlaError(const XLA_FFI_Api* api, const std::string& target_name,
                            const Status& status);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_BASE_ERROR_H_

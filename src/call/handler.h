/*!
 * \file handler.h
 * \brief One call of a target: answering XLA's metadata query, or decoding the call frame,
 *        calling the function with the platform stream installed, and translating errors.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_HANDLER_H_
#define JAX_TVM_FFI_SRC_CALL_HANDLER_H_

#include <xla/ffi/api/c_api.h>

#include <string>

#include "call/call_site_plan.h"
#include "registration/binding.h"

namespace jax_tvm_ffi {

/*!
 * \brief Handles one XLA FFI call frame for a binding.
 * \return nullptr on success, else an error whose message names the target.
 */
XLA_FFI_Error* HandleCall(const Binding& binding, XLA_FFI_CallFrame* frame);

/*!
 * \brief The execute stage of HandleCall, for a caller that has answered the metadata query and
 *        checked the frame's size and stage itself (the embedded targets).
 */
XLA_FFI_Error* HandleExecution(const Binding& binding, XLA_FFI_CallFrame* frame);

/*!
 * \brief An execution of a call site with a plan (see CallSitePlan), for a caller that has
 *        answered the metadata query and checked the frame's size and stage itself.
 * \param error Out: nullptr on success, else an error whose message names the target.
 * \return false when the frame does not fit the plan and nothing ran: the caller then calls
 *         HandleExecution.
 */
bool HandlePlannedCall(const Binding& binding, const CallSitePlan& plan, XLA_FFI_CallFrame* frame,
                       XLA_FFI_Error** error);

/*!
 * \brief Answers XLA's metadata query (a frame whose extension is XLA_FFI_Extension_Metadata):
 *        the API version the handler speaks and its traits.
 * \param name The target, named by an error about a malformed query.
 */
XLA_FFI_Error* AnswerMetadataQuery(XLA_FFI_Handler_Traits traits, const std::string& name,
                                   XLA_FFI_CallFrame* frame);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_HANDLER_H_

/*!
 * \file frame_case.h
 * \brief One case of the call-frame fuzzer, shared by the libFuzzer driver (fuzz_call_frame.cc)
 *        and the C++ unit tests that replay cases (tests/cpp/test_fuzz_cases.cc).
 *
 * A case is decoded from bytes into a fuzzed arg_spec (every item of the grammar: "args", "rets",
 * "args.<i>" / "rets.<i>" with and without "?", "none", attributes, context; indices within, at
 * and past the call's counts; specs with and without the "args" / "rets" catch-alls), target
 * options (platform, owned tensors, CUDA-graph trait), what the function does when called (write
 * its results, throw an error of some kind, return a value, keep an owned tensor), and an XLA call
 * frame: buffers of random element types (valid, TOKEN and undefined codes), ranks and dimensions;
 * attributes of every kind (scalars, strings, arrays, nested dictionaries of random element types)
 * whose names come from a small pool so that they often match the spec's, missing or extra ones
 * included; the stage and XLA's metadata query; failing stream and device-ordinal lookups.
 *
 * The frame goes through the handler that RegisterTarget returns, exactly as XLA calls it, with
 * the fake XLA API. An independent model of the bridge then checks the outcome: success exactly
 * when every buffer is mappable, the spec's indices fit the call (no index past its list's count;
 * where a list is named by index with no catch-all, every buffer of it named), the call passes
 * every attribute the spec names and no other, every attribute value is decodable and the
 * function succeeds; a counts error names an offending item; the function is called at most once
 * and only then; it receives the spec's items in order (each buffer by its index among the
 * list's non-token buffers, "args" / "rets" the rest in order, None for "none" and for an
 * optional item's buffer with zero elements) with the right tensors (type, shape,
 * compact strides, data or private copy, device), attribute values and stream; results reach
 * XLA's buffers; the GPU stream is installed for the call and restored after it; a kept tensor
 * fails the call and stays safe to read (CPU) or is emptied (GPU); every error names the target
 * and no XLA error object leaks. A call of borrowed views is then also run through each path on
 * its own: the general path (ExecuteGeneral) is judged like the handler, and what the straight
 * path (FastPath::Pack) packs, when it takes the call, must be a call the model accepts, with
 * the slots the model predicts.
 *
 * Parts: frame_input.h decodes the bytes and builds the frame, frame_probe.h is the function the
 * targets are registered with, frame_model.h the model of types and attribute values; this file
 * runs a case and judges it.
 */
#ifndef JAX_TVM_FFI_FUZZ_FRAME_CASE_H_
#define JAX_TVM_FFI_FUZZ_FRAME_CASE_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace jax_tvm_ffi {
namespace fuzz {

/*! \brief What a case came to, so that tests can check that generated cases reach each. */
enum class FrameOutcome {
  kSpecRefused,      //!< The fuzzed arg_spec did not parse; nothing ran.
  kMetadata,         //!< XLA's metadata query.
  kOtherStage,       //!< Instantiate, prepare or initialize: nothing to do.
  kPlacementFailed,  //!< The stream or device ordinal lookup failed (GPU).
  kFrameRefused,     //!< A buffer or attribute was refused before the call.
  kFunctionThrew,    //!< The function raised an error.
  kTensorKept,       //!< The function kept an owned tensor.
  kValueReturned,    //!< The function returned a value.
  kSucceeded,        //!< The call succeeded.
};

/*! \brief What a case exercised, so that tests can check that generated cases reach each. */
struct FrameCoverage {
  bool straight = false;         //!< The straight path packed the call.
  bool optional_none = false;    //!< An optional item passed None for an empty buffer.
  bool optional_tensor = false;  //!< An optional item passed its (non-empty) buffer.
  bool none_item = false;        //!< A "none" item.
  bool index_at_last = false;    //!< An item named the last buffer of its list.
  bool index_past = false;       //!< Refused: an index past its list's count.
  bool unpassed = false;         //!< Refused: a buffer no item passes.
  bool index_only = false;       //!< Called with buffers named by index and no catch-all.
  bool index_and_rest = false;   //!< Called with buffers named by index and a catch-all.
};

/*!
 * \brief Decodes, runs and checks one case. Any input is valid: missing bytes read as zeros.
 * \param data The case's bytes.
 * \param size Their number.
 * \param outcome If not null, receives what the case came to.
 * \param coverage If not null, receives what the case exercised (the slots, when the function
 *        ran through the handler).
 * \return "" when every invariant held, else a description of the first one that did not.
 */
std::string RunFrameCase(const uint8_t* data, size_t size, FrameOutcome* outcome = nullptr,
                         FrameCoverage* coverage = nullptr);

}  // namespace fuzz
}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_FUZZ_FRAME_CASE_H_

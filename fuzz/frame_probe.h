/*!
 * \file frame_probe.h
 * \brief The function every fuzzed target is registered with. Called, it checks what it
 *        received against the running case's expectations (count, order, tensors, attribute
 *        values, stream), allocates and fills scratch tensors through TVM FFI's environment
 *        allocator, then does what the case says: write a pattern into its results, throw,
 *        return a value or keep an owned tensor.
 */
#ifndef JAX_TVM_FFI_FUZZ_FRAME_PROBE_H_
#define JAX_TVM_FFI_FUZZ_FRAME_PROBE_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/any.h>
#include <tvm/ffi/function.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "frame_input.h"
#include "frame_model.h"

namespace jax_tvm_ffi {
namespace fuzz {

/*! \brief One argument the function must receive. */
struct Expected {
  /*! \brief kNone: None ("none", or an optional item's buffer with zero elements). */
  enum Kind { kTensor, kValue, kInteger, kNone } kind = kInteger;
  Buffer* buffer = nullptr;
  bool is_result = false;
  ModelValue value;
  int64_t integer = 0;
};

/*! \brief The running case as the function sees it, and what the function saw. */
struct Call {
  std::vector<Expected> args;
  bool owned = false;
  bool host = true;
  DLDevice device{kDLCPU, 0};
  void* stream = nullptr;
  Action action = Action::kWrite;
  std::string throw_kind;
  /*! \brief Host scratch tensors to allocate (TVMFFIEnvTensorAlloc), held until the call ends. */
  size_t scratch_tensors = 0;
  /*! \brief Bytes of the first scratch tensor; each next one is 37 bytes larger. */
  size_t scratch_bytes = 0;
  /*! \brief Then these, each checked against the model: served with its bytes, or refused. */
  const std::vector<ScratchRequest>* scratch_requests = nullptr;
  int calls = 0;
  std::string violation;
  tvm::ffi::Any kept;
  size_t kept_index = 0;
};

/*! \brief The function to register; it checks and acts on the call set by SetCurrentCall. */
const tvm::ffi::Function& Probe();

/*! \brief Sets the call the probe works on (null when no case runs). Single-threaded. */
void SetCurrentCall(Call* call);

/*!
 * \brief Checks arguments packed for a call against its expectations (count, order, tensors,
 *        attribute values, integers, None), without calling anything: the probe's own check,
 *        also applied to what the straight path packs.
 * \return "" when they match, else the first difference.
 */
std::string CheckArguments(const Call& call, tvm::ffi::PackedArgs args);

/*! \brief Records the first violated invariant of a call. */
void Violation(Call& call, const std::string& what);

/*! \brief Byte `i` of what the function writes into its `result`-th result tensor. */
uint8_t ResultPattern(size_t result, size_t i);

}  // namespace fuzz
}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_FUZZ_FRAME_PROBE_H_

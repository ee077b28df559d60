/*!
 * \file frame_input.h
 * \brief A call-frame fuzz case as decoded from bytes: the registration (a fuzzed arg_spec and
 *        options), what the function does when called, and the frame (buffers, attributes,
 *        stage, execution context); and the XLA call frame built from it.
 */
#ifndef JAX_TVM_FFI_FUZZ_FRAME_INPUT_H_
#define JAX_TVM_FFI_FUZZ_FRAME_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fake_xla_api.h"
#include "frame_model.h"
#include "jax_tvm_ffi/arg_spec.h"
#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {
namespace fuzz {

/*! \brief One argument or result of the frame, with the model's view of it. */
struct Buffer {
  bool raw = false;  //!< A value that is not a buffer (arguments only).
  int32_t raw_type = 0;
  bool raw_null = false;  //!< The raw value's pointer is null.
  int32_t code = 0;
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
  // The model's view of it.
  ModelType type;
  bool has_view = false;
  std::vector<int64_t> shape;
  size_t bytes = 0;
};

/*! \brief One attribute of the frame; dictionaries nest. */
struct Attr {
  enum Kind { kScalar, kString, kArray, kDictionary } kind = kScalar;
  std::string name;
  int64_t code = 0;
  std::vector<uint8_t> bytes;
  size_t size = 0;
  std::string string;
  std::vector<Attr> dictionary;
};

/*! \brief A scratch tensor the function asks for, with the model's verdict on it. */
struct ScratchRequest {
  DLDataType dtype{0, 0, 0};
  std::vector<int64_t> shape;
  ModelScratch model;
};

/*!
 * \brief The most bytes a fuzzed scratch request may be served: the probe fills every served
 *        byte. Requests the model would serve above it (whether the host has the memory is not
 *        the model's to say) are not made.
 */
constexpr uint64_t kMaxFuzzScratchBytes = uint64_t{1} << 20;

/*! \brief What the function does when called. */
enum class Action { kWrite, kThrow, kReturnValue, kKeep, kKeepAndReturn };

/*! \brief One decoded case. */
struct FrameInput {
  std::vector<std::string> items;
  bool spec_valid = false;  //!< Whether items parse; nothing below is read otherwise.
  ArgSpec spec;
  TargetOptions options;
  Action action = Action::kWrite;
  std::string throw_kind;  //!< The error kind for Action::kThrow.
  std::vector<Buffer> args;
  std::vector<Buffer> rets;
  std::vector<Attr> attrs;
  bool sorted_attrs = true;  //!< Sorted by name, as XLA passes them.
  int stage = 4;             //!< 0: metadata query, 1-3: other stages, 4 and up: execute.
  /*! \brief Scratch tensors of any dtype and shape (near-overflow sizes included) the function
   *         asks for, after the fixed-size ones derived from the frame (see frame_case.cc). */
  std::vector<ScratchRequest> scratch;
  testing::FakeExecutionContext context;
};

/*! \brief Decodes a case. Any bytes are a case: missing ones read as zeros. */
FrameInput ReadFrameInput(const uint8_t* data, size_t size);

/*! \brief Builds the case's frame (not its stage) into `builder`; `input` must outlive it. */
void BuildFrame(FrameInput& input, testing::CallFrameBuilder* builder);

/*!
 * \brief The model's decoding of an attribute value.
 * \return False when some element has no decoding.
 */
bool ModelDecodeAttr(const Attr& attr, ModelValue* out);

}  // namespace fuzz
}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_FUZZ_FRAME_INPUT_H_

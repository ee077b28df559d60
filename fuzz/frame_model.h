/*!
 * \file frame_model.h
 * \brief An independent model of what the bridge does with XLA values, written from docs/design.md
 * and the README rather than from the core's code: which element types map to which DLPack type,
 * how many bytes a buffer holds, and which attribute values decode to what. The call-frame fuzzer
 * checks the core against it.
 */
#ifndef JAX_TVM_FFI_FUZZ_FRAME_MODEL_H_
#define JAX_TVM_FFI_FUZZ_FRAME_MODEL_H_

#include <dlpack/dlpack.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace jax_tvm_ffi {
namespace fuzz {

/*! \brief How a buffer element type must reach the function. */
struct ModelType {
  bool valid = false;  //!< False for TOKEN, INVALID and undefined codes.
  bool token = false;  //!< TOKEN: valid in a frame, but passed to nobody.
  DLDataType dtype{0, 0, 0};
  bool halve_last_dim = false;  //!< F4E2M1FN: 2-lane bytes, last dimension halved.
};

/*! \brief The model of an XLA element type code. */
ModelType ModelBufferType(int64_t code);

/*!
 * \brief The shape the function sees (the last dimension halved for F4E2M1FN), and whether the
 *        buffer has a view at all (no F4E2M1FN buffer with several rows of odd length).
 */
bool ModelShape(const ModelType& type, const std::vector<int64_t>& dims,
                std::vector<int64_t>* shape);

/*! \brief Bytes of a dense buffer of `type` and (viewed) `shape`. */
size_t ModelByteSize(const ModelType& type, const std::vector<int64_t>& shape);

/*! \brief The model's verdict on a scratch tensor a function asks for (TVMFFIEnvTensorAlloc). */
struct ModelScratch {
  /*! \brief Served, or refused as a ValueError for a zero-bit dtype, a negative dimension or too
   *         large a size. */
  enum Verdict { kServed, kZeroBits, kNegativeDim, kTooLarge } verdict = kServed;
  /*! \brief The size when served: ceil(elements * bits * lanes / 8), 0 with a zero dimension. */
  uint64_t bytes = 0;
  /*! \brief When refused, a part the error message must contain. */
  std::string message;
  /*! \brief The true size in bytes, saturated at 2^100 (too large to mean anything past that). */
  unsigned __int128 true_bytes = 0;
};

/*! \brief The largest scratch tensor the README promises to serve: 2^48 bytes. */
constexpr uint64_t kModelMaxScratchBytes = uint64_t{1} << 48;

/*! \brief The model of a scratch request for a tensor of `dtype` and `shape`. */
ModelScratch ModelScratchRequest(DLDataType dtype, const std::vector<int64_t>& shape);

/*! \brief Bytes one element of a scalar or array attribute of this code occupies in XLA. */
size_t AttrElementSize(int64_t code);

/*! \brief A decoded attribute value as the function must receive it. */
struct ModelValue {
  enum Kind { kBool, kInt, kFloat, kString, kArray, kMap } kind = kInt;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string string;
  std::vector<ModelValue> elements;
  std::vector<std::pair<std::string, ModelValue>> entries;
};

/*!
 * \brief Decodes one scalar or array element the way the README promises: bool, integers of
 *        every width (U64 only up to INT64_MAX), F16, BF16, F32 and F64; nothing else.
 * \return False when the element has no decoding.
 */
bool ModelDecodeElement(int64_t code, const uint8_t* element, ModelValue* out);

}  // namespace fuzz
}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_FUZZ_FRAME_MODEL_H_

/*!
 * \file payload.h
 * \brief What an embedded kernel's custom call carries: the library's bytes and digest, the
 *        function's name, the arg spec and the registration options, as attributes whose names
 *        start with kPayloadPrefix (XLA sorts attributes by name, so they come first, before the
 *        kernel's own).
 *
 * Attributes (format version kPayloadVersion):
 *   "!jax_tvm_ffi.version"   int64 scalar   the format version
 *   "!jax_tvm_ffi.name"      string         the function's name, for error messages
 *   "!jax_tvm_ffi.function"  string         the name the library exports it under
 *   "!jax_tvm_ffi.library"   uint8 array    the shared library's bytes
 *   "!jax_tvm_ffi.digest"    string         lowercase hex SHA-256 of those bytes
 *   "!jax_tvm_ffi.arg_spec"  string         the arg spec's items, one per line
 *   "!jax_tvm_ffi.options"   string         "key=value" lines: platform, allow_cuda_graph,
 *                                           pass_owned_tensor, python_backed,
 *                                           last_result_is_workspace, check, input_layouts,
 *                                           output_layouts (operands ";"-separated, dimensions
 *                                           ","-separated)
 */
#ifndef JAX_TVM_FFI_SRC_EMBEDDED_PAYLOAD_H_
#define JAX_TVM_FFI_SRC_EMBEDDED_PAYLOAD_H_

#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {

/*! \brief The prefix of every payload attribute's name. */
constexpr std::string_view kPayloadPrefix = "!jax_tvm_ffi.";

/*! \brief The newest payload format this build reads. */
constexpr int64_t kPayloadVersion = 1;

/*! \brief A decoded payload. Points into the frame's attributes, which outlive it. */
struct EmbeddedPayload {
  std::string name;
  std::string function;
  const uint8_t* library = nullptr;
  size_t library_size = 0;
  std::string digest;
  std::vector<std::string> arg_spec;
  TargetOptions options;
  /*! \brief How many attributes, at the front of the frame's, belong to the payload. */
  size_t num_attrs = 0;
};

/*!
 * \brief Decodes the payload from a call frame's attributes.
 * \return InvalidArgument naming what is missing or malformed: a payload attribute of the wrong
 *         type, a newer format version, an unknown option, payload attributes that are not all at
 *         the front.
 */
Status DecodePayload(const XLA_FFI_Attrs& attrs, EmbeddedPayload* out);

/*! \brief Parses the "key=value" lines of "!jax_tvm_ffi.options". */
Status ParsePayloadOptions(std::string_view text, TargetOptions* out);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_EMBEDDED_PAYLOAD_H_

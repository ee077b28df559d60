/*!
 * \file payload_case.h
 * \brief One case of the payload fuzzer (fuzz_payload.cc; replayed by
 * tests/cpp/test_fuzz_cases.cc): the attributes of an embedded kernel's custom call, built from the
 * input bytes, decoded with DecodePayload and checked against what the attributes say.
 *
 * The bytes are read as records: a name byte (one of the payload's names, a misspelled one, a
 * kernel attribute, or raw bytes), a type byte (scalar of a dtype, string, uint8 or other array),
 * a length byte and that many value bytes. A last flag byte decides whether the attributes are
 * sorted by name, as XLA sorts them, or left in input order. Invariants: decoding never crashes
 * or reads outside the attributes; when it succeeds, every required attribute was present with
 * its type, the version is 1, no unknown payload name appeared, the payload's attributes are
 * exactly the leading ones and the decoded fields equal their values; when it fails, the message
 * is non-empty and names the jax_tvm_ffi attribute or option concerned.
 */
#ifndef JAX_TVM_FFI_FUZZ_PAYLOAD_CASE_H_
#define JAX_TVM_FFI_FUZZ_PAYLOAD_CASE_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace jax_tvm_ffi {
namespace fuzz {

/*!
 * \brief Builds, decodes and checks one case.
 * \param accepted Out, optional: whether DecodePayload accepted the attributes.
 * \return "" when every invariant held, else a description of the first one that did not.
 */
std::string RunPayloadCase(const uint8_t* data, size_t size, bool* accepted = nullptr);

}  // namespace fuzz
}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_FUZZ_PAYLOAD_CASE_H_

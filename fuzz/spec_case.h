/*!
 * \file spec_case.h
 * \brief One case of the arg-spec fuzzer, shared by the libFuzzer driver (fuzz_arg_spec.cc) and
 *        the C++ unit tests that replay cases (tests/cpp/test_fuzz_cases.cc).
 *
 * The bytes are split at newlines into arg_spec items, parsed with ArgSpec::Parse and checked
 * against a model of the grammar ("args", "rets", "ctx.stream", "ctx.device_id", "attrs.<name>"
 * with a non-empty name; no item twice): a valid list parses into the same items, in order, with
 * the attribute names sorted bytewise and each pointing back at its item, and prints back as
 * written; an invalid one throws a ValueError that quotes the first offending item, lists the
 * valid items and never suggests the offending item itself. Each item is also tried as a
 * platform name.
 */
#ifndef JAX_TVM_FFI_FUZZ_SPEC_CASE_H_
#define JAX_TVM_FFI_FUZZ_SPEC_CASE_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace jax_tvm_ffi {
namespace fuzz {

/*!
 * \brief Parses and checks one case.
 * \return "" when every invariant held, else a description of the first one that did not.
 */
std::string RunSpecCase(const uint8_t* data, size_t size);

}  // namespace fuzz
}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_FUZZ_SPEC_CASE_H_

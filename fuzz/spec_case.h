/*!
 * \file spec_case.h
 * \brief One case of the arg-spec fuzzer, shared by the libFuzzer driver (fuzz_arg_spec.cc) and
 *        the C++ unit tests that replay cases (tests/cpp/test_fuzz_cases.cc); and the independent
 *        model of the grammar that both fuzzers check the core against.
 *
 * The bytes are split at newlines into arg_spec items, parsed with ArgSpec::Parse and checked
 * against the model of the grammar ("args", "rets", "none", "ctx.stream", "ctx.device_id",
 * "attrs.<name>" with a non-empty name, "args.<i>", "rets.<i>", "args.<i>?", "rets.<i>?" with i
 * in decimal, no leading zero, at most 2^20; no item twice but "none", no buffer named twice): a
 * valid list
 * parses into the same items, in order, with the attribute names sorted bytewise and each
 * pointing back at its item, prints back as written and parses again from its printing into the
 * same items; the model's verdict on the buffer counts of calls around the named indices (an
 * index past the count, a buffer no item passes) agrees with ArgSpec::CheckBufferCounts and
 * BufferCountsOk, the message naming an offending item. An invalid list throws a ValueError that
 * quotes an offending item, lists the valid items and never suggests the quoted item itself.
 * Each item is also tried as a platform name.
 */
#ifndef JAX_TVM_FFI_FUZZ_SPEC_CASE_H_
#define JAX_TVM_FFI_FUZZ_SPEC_CASE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace jax_tvm_ffi {
namespace fuzz {

/*!
 * \brief Parses and checks one case.
 * \return "" when every invariant held, else a description of the first one that did not.
 */
std::string RunSpecCase(const uint8_t* data, size_t size);

/*! \brief The model's reading of one arg_spec item (written from the README's table). */
struct ModelItem {
  enum Kind {
    kInvalid,
    kArgs,
    kRets,
    kArg,
    kRet,
    kNone,
    kAttr,
    kStream,
    kDeviceId
  } kind = kInvalid;
  size_t index = 0;       //!< kArg / kRet: the buffer's index in its list.
  bool optional = false;  //!< kArg / kRet written with "?".
  std::string attr_name;  //!< kAttr: the name.
};

/*! \brief The model of one item on its own (a repeat is the list's business). */
ModelItem ModelParseItem(const std::string& text);

/*!
 * \brief The model of the counts check of a call: nothing when a valid spec of `items` passes
 *        every buffer of a call with `num_args` inputs and `num_rets` outputs (token buffers
 *        excluded) exactly once; else the item names of which the error must quote one: an
 *        item whose index is past its list's count, as written ("args.3?"), or the "args.<m>" /
 *        "rets.<m>" that would pass a buffer no item passes. A list no item names by index is
 *        not checked.
 */
std::vector<std::string> ModelCountProblems(const std::vector<std::string>& items, size_t num_args,
                                            size_t num_rets);

}  // namespace fuzz
}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_FUZZ_SPEC_CASE_H_

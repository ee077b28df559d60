/*!
 * \file fuzz_arg_spec.cc
 * \brief libFuzzer target: the arg-spec parser (and platform names), checked against a model of
 *        the grammar (see spec_case.h).
 */
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "spec_case.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string violation = jax_tvm_ffi::fuzz::RunSpecCase(data, size);
  if (!violation.empty()) {
    std::fprintf(stderr, "arg-spec invariant violated: %s\n", violation.c_str());
    std::abort();
  }
  return 0;
}

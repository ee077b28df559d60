/*!
 * \file fuzz_payload.cc
 * \brief libFuzzer target: the embedded-kernel payload decoder, checked against the attributes it
 *        was given (see payload_case.h).
 */
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "payload_case.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string violation = jax_tvm_ffi::fuzz::RunPayloadCase(data, size);
  if (!violation.empty()) {
    std::fprintf(stderr, "payload invariant violated: %s\n", violation.c_str());
    std::abort();
  }
  return 0;
}

/*!
 * \file fuzz_call_frame.cc
 * \brief libFuzzer target: call-frame decoding through a registered handler, checked against an
 *        independent model (see frame_case.h for what a case contains and what is checked).
 */
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "frame_case.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string violation = jax_tvm_ffi::fuzz::RunFrameCase(data, size);
  if (!violation.empty()) {
    std::fprintf(stderr, "call-frame invariant violated: %s\n", violation.c_str());
    std::abort();
  }
  return 0;
}

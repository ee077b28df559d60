/*!
 * \file platform.cc
 * \brief Platform names, XLA's names for them, and their DLPack device types.
 */
#include "base/platform.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace jax_tvm_ffi {

Platform ParsePlatform(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "cpu") return Platform::kCpu;
  if (lower == "gpu" || lower == "cuda") return Platform::kCuda;
  if (lower == "rocm") return Platform::kRocm;
  TVM_FFI_THROW(ValueError) << "Unknown platform \"" << name
                            << "\"; choose one of \"cpu\", \"gpu\", \"cuda\", \"rocm\"";
}

const char* XlaPlatformName(Platform platform) {
  switch (platform) {
    case Platform::kCuda:
      return "CUDA";
    case Platform::kRocm:
      return "ROCM";
    case Platform::kCpu:
      break;
  }
  return "Host";
}

DLDeviceType DeviceTypeOf(Platform platform) {
  switch (platform) {
    case Platform::kCuda:
      return kDLCUDA;
    case Platform::kRocm:
      return kDLROCM;
    case Platform::kCpu:
      break;
  }
  return kDLCPU;
}

}  // namespace jax_tvm_ffi

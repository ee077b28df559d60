/*!
 * \file api_version.cc
 * \brief The XLA FFI API version a handler reports to the XLA that runs it.
 */
#include "base/api_version.h"

#include <atomic>
#include <cstddef>

namespace jax_tvm_ffi {

namespace {

// Packed as major << 32 | minor so that it is read and written as one value.
constexpr uint64_t kUnknown = ~uint64_t{0};
std::atomic<uint64_t> runtime_version{kUnknown};

uint64_t Pack(ApiVersion version) {
  return static_cast<uint64_t>(static_cast<uint32_t>(version.major)) << 32 |
         static_cast<uint32_t>(version.minor);
}

ApiVersion Unpack(uint64_t packed) {
  return {static_cast<int32_t>(packed >> 32), static_cast<int32_t>(packed & 0xffffffffu)};
}

}  // namespace

void SetRuntimeApiVersion(ApiVersion version) {
  runtime_version.store(Pack(version), std::memory_order_relaxed);
}

ApiVersion RuntimeApiVersion(const XLA_FFI_Api* runtime_api) {
  constexpr size_t kVersionEnd = offsetof(XLA_FFI_Api, api_version) + sizeof(XLA_FFI_Api_Version);
  if (runtime_api != nullptr && runtime_api->struct_size >= kVersionEnd) {
    return {runtime_api->api_version.major_version, runtime_api->api_version.minor_version};
  }
  if (uint64_t recorded = runtime_version.load(std::memory_order_relaxed); recorded != kUnknown) {
    return Unpack(recorded);
  }
  return kCompiledApiVersion;
}

ApiVersion ReportedApiVersion(const XLA_FFI_Api* runtime_api) {
  const ApiVersion runtime = RuntimeApiVersion(runtime_api);
  // A newer XLA accepts older minor versions; an older one knows nothing newer than its own.
  if (runtime.major == kCompiledApiVersion.major && runtime.minor < kCompiledApiVersion.minor) {
    return runtime;
  }
  return kCompiledApiVersion;
}

}  // namespace jax_tvm_ffi

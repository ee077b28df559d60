/*!
 * \file python_module.cc
 * \brief The functions the Python package calls, exported with the TVM FFI ABI so that Python
 *        reaches the core through tvm_ffi.load_module with no other binding layer.
 */
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/string.h>

#include <cstdint>
#include <string>
#include <vector>

#include "api_version.h"
#include "jax_tvm_ffi/scratch.h"
#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {
namespace {

/*!
 * \brief Registers a target; returns its handler's address for jax.ffi.register_ffi_target.
 * \param arg_spec The items; an empty array means the default spec.
 */
int64_t PyRegisterTarget(const tvm::ffi::String& name, tvm::ffi::Function function,
                         const tvm::ffi::Array<tvm::ffi::String>& arg_spec,
                         const tvm::ffi::String& platform, bool allow_cuda_graph,
                         bool pass_owned_tensor, bool use_default_spec, bool python_backed) {
  std::vector<std::string> items;
  for (const tvm::ffi::String& item : arg_spec) items.emplace_back(item);
  TargetOptions options;
  options.platform = ParsePlatform(std::string(platform));
  options.allow_cuda_graph = allow_cuda_graph;
  options.pass_owned_tensor = pass_owned_tensor;
  options.python_backed = python_backed;
  ArgSpec spec = use_default_spec ? ArgSpec::Default() : ArgSpec::Parse(items);
  XLA_FFI_Handler* handler =
      RegisterTarget(std::string(name), std::move(function), std::move(spec), options);
  return static_cast<int64_t>(reinterpret_cast<intptr_t>(handler));
}

/*!
 * \brief A target's scratch usage as [last_call_allocations, last_call_peak_bytes,
 *        total_allocations, peak_bytes, outstanding_allocations].
 */
tvm::ffi::Array<int64_t> PyScratchUsage(const tvm::ffi::String& name,
                                        const tvm::ffi::String& platform) {
  ScratchUsage usage = GetScratchUsage(std::string(name), ParsePlatform(std::string(platform)));
  return tvm::ffi::Array<int64_t>{static_cast<int64_t>(usage.last_call_allocations),
                                  static_cast<int64_t>(usage.last_call_peak_bytes),
                                  static_cast<int64_t>(usage.total_allocations),
                                  static_cast<int64_t>(usage.peak_bytes),
                                  static_cast<int64_t>(usage.outstanding_allocations)};
}

int64_t PyRegisteredCount() { return static_cast<int64_t>(RegisteredTargetCount()); }

void PyBlockPythonCalls() { BlockPythonCalls(); }

int64_t PyPythonCallsInFlight() { return static_cast<int64_t>(PythonCallsInFlight()); }

tvm::ffi::String PyXlaPlatformName(const tvm::ffi::String& platform) {
  return XlaPlatformName(ParsePlatform(std::string(platform)));
}

/*!
 * \brief Whether `function` wraps a callback of the same C entry point as `probe`.
 *
 * tvm_ffi makes a Function from a Python callable with TVMFFIFunctionCreate, which stores the
 * callback's (self, safe_call, deleter) right after the FunctionObj and installs one shared
 * trampoline as the object's safe_call. Given a probe made from a Python callable, a function
 * with the same trampoline and the same stored safe_call is Python-backed too. Such functions
 * must get owned tensors: a borrowed DLTensor view reaching Python crashes on DLPack export.
 * The stored fields are read only after the trampoline check proves both objects are of the
 * class that stores them.
 */
bool PySameCallbackOrigin(const tvm::ffi::Function& function, const tvm::ffi::Function& probe) {
  const tvm::ffi::FunctionObj* a = function.get();
  const tvm::ffi::FunctionObj* b = probe.get();
  if (a == nullptr || b == nullptr || a->safe_call != b->safe_call) return false;
  struct StoredCallback {
    void* self;
    TVMFFISafeCallType safe_call;
    void (*deleter)(void*);
  };
  auto stored = [](const tvm::ffi::FunctionObj* obj) {
    return reinterpret_cast<const StoredCallback*>(reinterpret_cast<const char*>(obj) +
                                                   sizeof(tvm::ffi::FunctionObj));
  };
  return stored(a)->safe_call == stored(b)->safe_call;
}

/*!
 * \brief What the core was built against: [jaxlib version, apache-tvm-ffi version, XLA FFI API
 *        major, XLA FFI API minor].
 */
tvm::ffi::Array<tvm::ffi::String> PyBuildInfo() {
  return {JAX_TVM_FFI_BUILT_WITH_JAXLIB, JAX_TVM_FFI_BUILT_WITH_TVM_FFI,
          std::to_string(kCompiledApiVersion.major), std::to_string(kCompiledApiVersion.minor)};
}

/*! \brief Records the API version of the jaxlib in this process (see api_version.h). */
void PySetRuntimeApiVersion(int64_t major, int64_t minor) {
  SetRuntimeApiVersion({static_cast<int32_t>(major), static_cast<int32_t>(minor)});
}

}  // namespace
}  // namespace jax_tvm_ffi

TVM_FFI_DLL_EXPORT_TYPED_FUNC(register_target, jax_tvm_ffi::PyRegisterTarget);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(registered_count, jax_tvm_ffi::PyRegisteredCount);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(scratch_usage, jax_tvm_ffi::PyScratchUsage);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(block_python_calls, jax_tvm_ffi::PyBlockPythonCalls);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(python_calls_in_flight, jax_tvm_ffi::PyPythonCallsInFlight);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(xla_platform_name, jax_tvm_ffi::PyXlaPlatformName);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(same_callback_origin, jax_tvm_ffi::PySameCallbackOrigin);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(build_info, jax_tvm_ffi::PyBuildInfo);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(set_runtime_api_version, jax_tvm_ffi::PySetRuntimeApiVersion);

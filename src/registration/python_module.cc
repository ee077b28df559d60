/*!
 * \file python_module.cc
 * \brief The functions the Python package calls, exported with the TVM FFI ABI so that Python
 *        reaches the core through tvm_ffi.load_module with no other binding layer.
 */
#include <dlfcn.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/optional.h>
#include <tvm/ffi/string.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/api_version.h"
#include "jax_tvm_ffi/scratch.h"
#include "jax_tvm_ffi/target.h"
#include "registration/library_function.h"
#include "scratch/scratch_workspace.h"

namespace jax_tvm_ffi {
namespace {

// A Function made from a Python callable, given once by the package (see SetPythonProbe).
tvm::ffi::Function& PythonProbe() {
  static auto* probe = new tvm::ffi::Function();  // Never destroyed: it is a Python object.
  return *probe;
}

// The callback a FunctionObj made by TVMFFIFunctionCreate stores right after itself: tvm_ffi
// makes Python callables and library-module functions that way (see SameCallbackOrigin).
struct StoredCallback {
  void* self;
  TVMFFISafeCallType safe_call;
  void (*deleter)(void*);
};

const StoredCallback* StoredCallbackOf(const tvm::ffi::FunctionObj* obj) {
  return reinterpret_cast<const StoredCallback*>(reinterpret_cast<const char*>(obj) +
                                                 sizeof(tvm::ffi::FunctionObj));
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
bool SameCallbackOrigin(const tvm::ffi::Function& function, const tvm::ffi::Function& probe) {
  const tvm::ffi::FunctionObj* a = function.get();
  const tvm::ffi::FunctionObj* b = probe.get();
  if (a == nullptr || b == nullptr || a->safe_call != b->safe_call) return false;
  return StoredCallbackOf(a)->safe_call == StoredCallbackOf(b)->safe_call;
}

/*!
 * \brief The name a compiled module exports `function` under, or "" when it has none.
 *
 * A module function calls the symbol its module exports, `__tvm_ffi_<name>`
 * (TVM_FFI_DLL_EXPORT_TYPED_FUNC); the dynamic loader names it. Functions made in C++ or Python
 * have no such symbol and get "".
 * \param function The function.
 * \param info Out: what the loader says of the symbol (its library), when the name is not "".
 */
std::string ExportedName(const tvm::ffi::Function& function, Dl_info* info) {
  constexpr std::string_view kPrefix = "__tvm_ffi_";
  const tvm::ffi::FunctionObj* obj = function.get();
  if (obj == nullptr) return "";
  TVMFFISafeCallType entry = LibrarySymbolOf(obj);
  if (entry == nullptr) entry = obj->safe_call;
  void* address = reinterpret_cast<void*>(entry);
  if (dladdr(address, info) == 0 || info->dli_sname == nullptr || info->dli_saddr != address) {
    return "";
  }
  const std::string_view symbol(info->dli_sname);
  if (symbol.substr(0, kPrefix.size()) != kPrefix) return "";
  return std::string(symbol.substr(kPrefix.size()));
}

tvm::ffi::String PyFunctionSymbolName(const tvm::ffi::Function& function) {
  Dl_info info{};
  return tvm::ffi::String(ExportedName(function, &info));
}

/*!
 * \brief The library a compiled module's function lives in and the name it exports it under,
 *        [path, name], or None for a function no library exports (made in C++ or Python).
 *        ffi_function(embed=True) embeds that library.
 */
tvm::ffi::Optional<tvm::ffi::Array<tvm::ffi::String>> PyFunctionLibrary(
    const tvm::ffi::Function& function) {
  Dl_info info{};
  const std::string name = ExportedName(function, &info);
  if (name.empty() || info.dli_fname == nullptr) return std::nullopt;
  return tvm::ffi::Array<tvm::ffi::String>{tvm::ffi::String(info.dli_fname),
                                           tvm::ffi::String(name)};
}

/*!
 * \brief The metadata JSON a compiled module exports beside `function`, or "" when it has none.
 *
 * A module built with -DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1 exports
 * `__tvm_ffi__metadata_<name>` beside `__tvm_ffi_<name>` (tvm/ffi/function.h), answering
 * `{"type_schema": ...}`. A Function does not know its module, so the symbol is looked up in the
 * library the function's own symbol lives in, and only there.
 */
tvm::ffi::String PyFunctionMetadata(const tvm::ffi::Function& function) {
  Dl_info info{};
  const std::string name = ExportedName(function, &info);
  if (name.empty() || info.dli_fname == nullptr) return "";
  void* library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  if (library == nullptr) return "";
  void* symbol = dlsym(library, ("__tvm_ffi__metadata_" + name).c_str());
  dlclose(library);  // The function itself keeps the library loaded.
  Dl_info symbol_info{};
  // dlsym also searches the library's dependencies: a symbol found in another one is not ours.
  if (symbol == nullptr || dladdr(symbol, &symbol_info) == 0 ||
      symbol_info.dli_fbase != info.dli_fbase) {
    return "";
  }
  tvm::ffi::Any result;
  TVM_FFI_CHECK_SAFE_CALL(reinterpret_cast<TVMFFISafeCallType>(symbol)(
      nullptr, nullptr, 0, reinterpret_cast<TVMFFIAny*>(&result)));
  return result.cast<tvm::ffi::String>();
}

}  // namespace
}  // namespace jax_tvm_ffi

// The probe of library functions (registration/library_function.h): answers the `self` it is
// called with. Exported by hand, not with TVM_FFI_DLL_EXPORT_TYPED_FUNC, whose functions ignore it.
extern "C" TVM_FFI_DLL_EXPORT int __tvm_ffi_call_probe(void* self, const TVMFFIAny*, int32_t,
                                                       TVMFFIAny* result) {
  result->type_index = kTVMFFIOpaquePtr;
  result->zero_padding = 0;
  result->v_ptr = self;
  return 0;
}

namespace jax_tvm_ffi {
namespace {

/*!
 * \brief Records the package's probes: a Function made from a Python callable, and this module's
 *        own `call_probe` as tvm_ffi.load_module returns it.
 */
void PySetProbes(tvm::ffi::Function python_probe, const tvm::ffi::Function& module_probe) {
  PythonProbe() = std::move(python_probe);
  LearnLibraryFunctionLayout(module_probe, &__tvm_ffi_call_probe);
}

// Reads the named options of register_target; an unknown name is refused so that Python and C++
// cannot drift apart silently.
TargetOptions ParseOptions(const tvm::ffi::Map<tvm::ffi::String, tvm::ffi::Any>& named) {
  TargetOptions options;
  // Layouts arrive as one list of ints per operand (minor-to-major; empty: row-major).
  auto layouts = [](const tvm::ffi::Any& value) {
    std::vector<std::vector<int64_t>> out;
    for (const auto& layout : value.cast<tvm::ffi::Array<tvm::ffi::Array<int64_t>>>()) {
      out.emplace_back(layout.begin(), layout.end());
    }
    return out;
  };
  for (const auto& [key, value] : named) {
    const std::string name(key);
    if (name == "platform") {
      options.platform = ParsePlatform(std::string(value.cast<tvm::ffi::String>()));
    } else if (name == "allow_cuda_graph") {
      options.allow_cuda_graph = value.cast<bool>();
    } else if (name == "pass_owned_tensor") {
      options.pass_owned_tensor = value.cast<bool>();
    } else if (name == "python_backed") {
      options.python_backed = value.cast<bool>();
    } else if (name == "last_result_is_workspace") {
      options.last_result_is_workspace = value.cast<bool>();
    } else if (name == "check") {
      options.check = static_cast<uint32_t>(value.cast<int64_t>());
    } else if (name == "input_layouts") {
      options.input_layouts = layouts(value);
    } else if (name == "output_layouts") {
      options.output_layouts = layouts(value);
    } else {
      TVM_FFI_THROW(ValueError) << "unknown registration option '" << name << "'";
    }
  }
  return options;
}

/*!
 * \brief Registers a target: everything Python needs from the core in one call.
 * \param arg_spec The items, or None for the default spec.
 * \param named_options Options by name (see ParseOptions); a function that runs Python code
 *        (python_backed set by the caller, or made like the probe) always gets owned tensors.
 * \return {"handler": the handler's address, "xla_platform": the platform name XLA registers it
 *         under, "python_backed": whether the function runs Python code}.
 */
tvm::ffi::Map<tvm::ffi::String, tvm::ffi::Any> PyRegisterTarget(
    const tvm::ffi::String& name, tvm::ffi::Function function,
    const tvm::ffi::Optional<tvm::ffi::Array<tvm::ffi::String>>& arg_spec,
    const tvm::ffi::Map<tvm::ffi::String, tvm::ffi::Any>& named_options) {
  TargetOptions options = ParseOptions(named_options);
  options.python_backed = options.python_backed || SameCallbackOrigin(function, PythonProbe());
  // Python code cannot use a borrowed DLTensor view (DLPack export of one crashes in tvm_ffi).
  if (options.python_backed) options.pass_owned_tensor = true;
  ArgSpec spec = ArgSpec::Default();
  if (arg_spec.has_value()) {
    std::vector<std::string> items;
    for (const tvm::ffi::String& item : arg_spec.value()) items.emplace_back(item);
    spec = ArgSpec::Parse(items);
  }
  const Platform platform = options.platform;
  const bool python_backed = options.python_backed;
  XLA_FFI_Handler* handler =
      RegisterTarget(std::string(name), std::move(function), std::move(spec), options);
  return {{"handler", static_cast<int64_t>(reinterpret_cast<intptr_t>(handler))},
          {"xla_platform", tvm::ffi::String(XlaPlatformName(platform))},
          {"python_backed", python_backed}};
}

/*! \brief A target's scratch usage, by the names of ScratchUsage's fields. */
tvm::ffi::Map<tvm::ffi::String, int64_t> PyScratchUsage(const tvm::ffi::String& name,
                                                        const tvm::ffi::String& platform) {
  ScratchUsage usage = GetScratchUsage(std::string(name), ParsePlatform(std::string(platform)));
  return {{"last_call_allocations", static_cast<int64_t>(usage.last_call_allocations)},
          {"last_call_peak_bytes", static_cast<int64_t>(usage.last_call_peak_bytes)},
          {"total_allocations", static_cast<int64_t>(usage.total_allocations)},
          {"peak_bytes", static_cast<int64_t>(usage.peak_bytes)},
          {"outstanding_allocations", static_cast<int64_t>(usage.outstanding_allocations)}};
}

/*! \brief The workspace peak of the last call with a workspace on this thread (0 if none). */
int64_t PyLastWorkspacePeak() { return static_cast<int64_t>(LastWorkspacePeak()); }

int64_t PyRegisteredCount() { return static_cast<int64_t>(RegisteredTargetCount()); }

void PyBlockPythonCalls() { BlockPythonCalls(); }

int64_t PyPythonCallsInFlight() { return static_cast<int64_t>(PythonCallsInFlight()); }

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
TVM_FFI_DLL_EXPORT_TYPED_FUNC(last_workspace_peak, jax_tvm_ffi::PyLastWorkspacePeak);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(block_python_calls, jax_tvm_ffi::PyBlockPythonCalls);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(python_calls_in_flight, jax_tvm_ffi::PyPythonCallsInFlight);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(set_probes, jax_tvm_ffi::PySetProbes);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(function_symbol_name, jax_tvm_ffi::PyFunctionSymbolName);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(function_library, jax_tvm_ffi::PyFunctionLibrary);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(function_metadata, jax_tvm_ffi::PyFunctionMetadata);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(build_info, jax_tvm_ffi::PyBuildInfo);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(set_runtime_api_version, jax_tvm_ffi::PySetRuntimeApiVersion);

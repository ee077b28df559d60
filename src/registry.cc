/*!
 * \file registry.cc
 * \brief The process-wide registry of targets: one entry point per (name, platform).
 */
#include <tvm/ffi/error.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "binding.h"
#include "entry_points.h"
#include "handler.h"
#include "jax_tvm_ffi/scratch.h"
#include "jax_tvm_ffi/target.h"
#include "scratch_stats.h"

namespace jax_tvm_ffi {
namespace {

// A registered target. Its entry point never changes; its binding is swapped on re-registration.
struct Target {
  std::atomic<const Binding*> binding{nullptr};
  XLA_FFI_Handler* handler = nullptr;
  ScratchStats scratch_stats;
};

XLA_FFI_Error* DispatchToTarget(XLA_FFI_CallFrame* frame, void* context) {
  const Binding* binding = static_cast<Target*>(context)->binding.load(std::memory_order_acquire);
  return HandleCall(*binding, frame);
}

class Registry {
 public:
  static Registry& Global() {
    // Never destroyed: XLA keeps our entry points until the process ends, and functions backed
    // by Python must not be released after the interpreter is gone.
    static Registry* registry = new Registry();
    return *registry;
  }

  XLA_FFI_Handler* Register(const std::string& name, tvm::ffi::Function function, ArgSpec spec,
                            TargetOptions options) {
    auto binding = std::make_unique<Binding>(name, std::move(function), std::move(spec), options);
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(options.platform, name);
    auto found = targets_.find(key);
    if (found == targets_.end()) {
      auto target = std::make_unique<Target>();
      target->handler = entry_points_.Create(target.get());
      binding->scratch_stats = &target->scratch_stats;
      target->binding.store(binding.get(), std::memory_order_release);
      bindings_.push_back(std::move(binding));
      found = targets_.emplace(key, std::move(target)).first;
      return found->second->handler;
    }
    Target& target = *found->second;
    const Binding* old = target.binding.load(std::memory_order_relaxed);
    if (old->options.allow_cuda_graph != options.allow_cuda_graph) {
      TVM_FFI_THROW(ValueError)
          << "target '" << name << "' is already registered for platform "
          << XlaPlatformName(options.platform)
          << " with allow_cuda_graph=" << (old->options.allow_cuda_graph ? "True" : "False")
          << "; XLA cannot change a registered handler's traits, so re-register it with the "
             "same allow_cuda_graph or use a new name";
    }
    binding->scratch_stats = &target.scratch_stats;
    target.binding.store(binding.get(), std::memory_order_release);
    // The old binding stays alive: calls that loaded it may still be running, and re-registering
    // (a notebook cell run again) is rare enough that keeping it costs little.
    bindings_.push_back(std::move(binding));
    return target.handler;
  }

  ScratchUsage Usage(const std::string& name, Platform platform) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = targets_.find(std::make_pair(platform, name));
    if (found == targets_.end()) {
      TVM_FFI_THROW(ValueError) << "no target '" << name << "' is registered for platform "
                                << XlaPlatformName(platform);
    }
    return found->second->scratch_stats.Read();
  }

  size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return targets_.size();
  }

 private:
  Registry() : entry_points_(&DispatchToTarget) {}

  std::mutex mutex_;
  EntryPointPool entry_points_;
  std::map<std::pair<Platform, std::string>, std::unique_ptr<Target>> targets_;
  std::vector<std::unique_ptr<Binding>> bindings_;
};

}  // namespace

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

XLA_FFI_Handler* RegisterTarget(const std::string& name, tvm::ffi::Function function, ArgSpec spec,
                                TargetOptions options) {
  if (name.empty()) TVM_FFI_THROW(ValueError) << "The target name must not be empty";
  if (function == nullptr) {
    TVM_FFI_THROW(ValueError) << "target '" << name << "': the function is null";
  }
  return Registry::Global().Register(name, std::move(function), std::move(spec), options);
}

ScratchUsage GetScratchUsage(const std::string& name, Platform platform) {
  return Registry::Global().Usage(name, platform);
}

size_t RegisteredTargetCount() { return Registry::Global().size(); }

}  // namespace jax_tvm_ffi

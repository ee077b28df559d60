/*!
 * \file binding.cc
 * \brief Precomputation of a target's call plan.
 */
#include "binding.h"

#include <utility>

#include "platform.h"

namespace jax_tvm_ffi {
namespace {

// Where bindings made outside the registry (unit tests, benchmarks) count their scratch memory.
ScratchStats unregistered_scratch_stats;

}  // namespace

Binding::Binding(std::string name, tvm::ffi::Function function, ArgSpec spec, TargetOptions options,
                 ScratchStats* scratch_stats)
    : name(std::move(name)),
      function(std::move(function)),
      spec(std::move(spec)),
      options(options),
      device_type(DeviceTypeOf(options.platform)),
      uses_stream(options.platform != Platform::kCpu),
      wrapped(options.python_backed || options.check != 0 || options.last_result_is_workspace),
      traits(options.allow_cuda_graph ? XLA_FFI_HANDLER_TRAITS_COMMAND_BUFFER_COMPATIBLE : 0),
      scratch_stats(scratch_stats != nullptr ? scratch_stats : &unregistered_scratch_stats) {
  pack_steps = MakePackSteps(this->spec);
  size_t args_items = 0;
  size_t rets_items = 0;
  for (const PackStep& step : pack_steps) {
    if (step.kind == ArgKind::kArgs) {
      ++end_offset.per_arg, ++args_items;
    } else if (step.kind == ArgKind::kRets) {
      ++end_offset.per_ret, ++rets_items;
    } else {
      ++end_offset.fixed;
    }
  }
  straight = !options.pass_owned_tensor && args_items <= 1 && rets_items <= 1;
}

}  // namespace jax_tvm_ffi

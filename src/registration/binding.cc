/*!
 * \file binding.cc
 * \brief Precomputation of a target's call plan.
 */
#include "registration/binding.h"

#include <utility>

#include "base/platform.h"
#include "call/buffer_decoder.h"
#include "registration/library_function.h"

namespace jax_tvm_ffi {
namespace {

// Where bindings made outside the registry (unit tests, benchmarks) count their scratch memory.
ScratchStats unregistered_scratch_stats;

}  // namespace

Binding::Binding(std::string name, tvm::ffi::Function function, ArgSpec spec, TargetOptions options,
                 ScratchStats* scratch_stats)
    : name(std::move(name)),
      function(std::move(function)),
      direct_entry(DirectEntryOf(this->function.get())),
      spec(std::move(spec)),
      options(options),
      device_type(DeviceTypeOf(options.platform)),
      uses_stream(options.platform != Platform::kCpu),
      wrapped(options.python_backed || options.check != 0 || options.last_result_is_workspace),
      traits(options.allow_cuda_graph ? XLA_FFI_HANDLER_TRAITS_COMMAND_BUFFER_COMPATIBLE : 0),
      scratch_stats(scratch_stats != nullptr ? scratch_stats : &unregistered_scratch_stats) {
  pack_plan = MakePackPlan(this->spec);
  bool has_args = false;
  bool has_rets = false;
  for (const PackStep& step : pack_plan.steps) {
    if (step.kind == ArgKind::kArgs) {
      ++end_offset.per_arg, has_args = true;
    } else if (step.kind == ArgKind::kRets) {
      ++end_offset.per_ret, has_rets = true;
    } else {
      ++end_offset.fixed;
    }
  }
  // "args" and "rets" skip the buffers named by index, each of which has its own item.
  if (has_args) end_offset.fixed -= pack_plan.named_args.size();
  if (has_rets) end_offset.fixed -= pack_plan.named_rets.size();
  has_layouts = HasNonDefaultLayouts(this->options);
  straight = !this->options.pass_owned_tensor && !has_layouts;
  passes_all_args = has_args || !pack_plan.named_args.empty();
  passes_all_rets = has_rets || !pack_plan.named_rets.empty();
  names_buffers = !pack_plan.named_args.empty() || !pack_plan.named_rets.empty();
  passes_every_buffer = has_args && has_rets && !names_buffers;
}

}  // namespace jax_tvm_ffi

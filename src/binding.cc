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
  const std::vector<size_t>& sorted_items = this->spec.sorted_attr_items();
  PackedOffset next;
  for (const ArgSpecItem& item : this->spec.items()) {
    item_offsets.push_back(next);
    if (item.kind == ArgKind::kArgs) {
      ++next.per_arg;
    } else if (item.kind == ArgKind::kRets) {
      ++next.per_ret;
    } else {
      ++next.fixed;
    }
  }
  end_offset = next;
  attr_index_of_item.assign(this->spec.items().size(), 0);
  for (size_t w = 0; w < sorted_items.size(); ++w) {
    attr_offsets.push_back(item_offsets[sorted_items[w]]);
    attr_index_of_item[sorted_items[w]] = w;
  }
}

}  // namespace jax_tvm_ffi

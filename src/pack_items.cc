/*!
 * \file pack_items.cc
 * \brief The packing steps of a spec (see pack_items.h).
 */
#include "pack_items.h"

namespace jax_tvm_ffi {

std::vector<PackStep> MakePackSteps(const ArgSpec& spec) {
  std::vector<PackStep> steps;
  for (const ArgSpecItem& item : spec.items()) steps.push_back(PackStep{item.kind, 0});
  const std::vector<size_t>& sorted_items = spec.sorted_attr_items();
  for (size_t w = 0; w < sorted_items.size(); ++w) {
    steps[sorted_items[w]].attr_index = static_cast<uint32_t>(w);
  }
  return steps;
}

}  // namespace jax_tvm_ffi

/*!
 * \file pack_items.cc
 * \brief The packing steps of a spec (see pack_items.h).
 */
#include "call/pack_items.h"

namespace jax_tvm_ffi {

PackPlan MakePackPlan(const ArgSpec& spec) {
  PackPlan plan;
  for (const ArgSpecItem& item : spec.items()) {
    plan.steps.push_back(PackStep{item.kind, static_cast<uint32_t>(item.index), item.optional});
  }
  const std::vector<size_t>& sorted_items = spec.sorted_attr_items();
  for (size_t w = 0; w < sorted_items.size(); ++w) {
    plan.steps[sorted_items[w]].index = static_cast<uint32_t>(w);
  }
  plan.named_args = spec.named_args();
  plan.named_rets = spec.named_rets();
  return plan;
}

}  // namespace jax_tvm_ffi

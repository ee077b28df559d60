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
  plan.attr_names = AttrNames(spec.sorted_attr_names());
  plan.named_args = spec.named_args();
  plan.named_rets = spec.named_rets();
  plan.buffers_first = plan.steps.size() >= 2 && plan.steps[0].kind == ArgKind::kArgs &&
                       plan.steps[1].kind == ArgKind::kRets && plan.named_args.empty() &&
                       plan.named_rets.empty();
  return plan;
}

}  // namespace jax_tvm_ffi

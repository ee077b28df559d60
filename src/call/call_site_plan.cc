/*!
 * \file call_site_plan.cc
 * \brief The packing of one call site (see call_site_plan.h).
 */
#include "call/call_site_plan.h"

#include <cstring>

#include "base/predict.h"
#include "call/pack_items.h"

namespace jax_tvm_ffi {

std::unique_ptr<CallSitePlan> CallSitePlan::Make(const Binding& binding,
                                                 const XLA_FFI_CallFrame& frame) {
  if (binding.wrapped || !binding.straight) return nullptr;
  for (const PackStep& step : binding.pack_plan.steps) {
    if (step.optional) return nullptr;
  }
  const auto num_args = static_cast<size_t>(frame.args.size);
  const auto num_rets = static_cast<size_t>(frame.rets.size);
  // About 6.6 KB, once per call site: off the stack.
  auto fast = std::make_unique<FastPath>();
  if (!fast->Pack(binding, frame, DLDevice{binding.device_type, 0}, /*stream=*/0)) return nullptr;
  std::unique_ptr<CallSitePlan> plan(new CallSitePlan());
  plan->num_args_ = num_args;
  plan->num_rets_ = num_rets;
  plan->slots_.assign(fast->packed(), fast->packed() + fast->num_packed());

  // The slots the call fills itself: the stream's and the ordinal's, found by walking the steps
  // as PackItems packs them.
  const PackPlan& steps = binding.pack_plan;
  size_t slot = 0;
  for (const PackStep& step : steps.steps) {
    switch (step.kind) {
      case ArgKind::kArgs:
        slot += num_args - steps.named_args.size();
        break;
      case ArgKind::kRets:
        slot += num_rets - steps.named_rets.size();
        break;
      case ArgKind::kStream:
        plan->stream_slots_.push_back(static_cast<uint32_t>(slot++));
        break;
      case ArgKind::kDeviceId:
        plan->device_id_slots_.push_back(static_cast<uint32_t>(slot++));
        break;
      default:
        ++slot;
        break;
    }
  }
  if (slot != plan->slots_.size()) return nullptr;  // Not as PackItems packs: leave it general.

  // The views: every buffer once (the straight path's premise), in slot order.
  const DLTensor* const tensors = fast->tensors();
  size_t total_rank = 0;
  for (const TVMFFIAny& packed : plan->slots_) {
    if (packed.type_index != kTVMFFIDLTensorPtr) continue;
    const auto* view = static_cast<const DLTensor*>(packed.v_ptr);
    if (view < tensors || view >= tensors + num_args + num_rets) return nullptr;
    total_rank += static_cast<size_t>(view->ndim);
  }
  // At least one entry: a rank-0 view gets non-null shape and strides, as on the straight path.
  plan->shapes_.resize(total_rank + 1);
  plan->strides_.resize(total_rank + 1);
  size_t offset = 0;
  for (size_t s = 0; s < plan->slots_.size(); ++s) {
    TVMFFIAny& packed = plan->slots_[s];
    if (packed.type_index != kTVMFFIDLTensorPtr) continue;
    const auto* view = static_cast<const DLTensor*>(packed.v_ptr);
    const auto buffer = static_cast<size_t>(view - tensors);
    const void* value =
        buffer < num_args ? frame.args.args[buffer] : frame.rets.rets[buffer - num_args];
    View planned;
    planned.buffer = static_cast<uint32_t>(buffer);
    planned.slot = static_cast<uint32_t>(s);
    planned.dtype = static_cast<const XLA_FFI_Buffer*>(value)->dtype;
    planned.prototype = *view;
    planned.prototype.data = nullptr;
    const auto rank = static_cast<size_t>(view->ndim);
    std::copy(view->shape, view->shape + rank, plan->shapes_.begin() + offset);
    std::copy(view->strides, view->strides + rank, plan->strides_.begin() + offset);
    planned.prototype.shape = plan->shapes_.data() + offset;
    planned.prototype.strides = plan->strides_.data() + offset;
    offset += rank;
    plan->views_.push_back(planned);
    packed.v_ptr = nullptr;  // Each call points it at its own view.
  }
  return plan;
}

bool CallSitePlan::Pack(const XLA_FFI_CallFrame& frame, int32_t device_id, int64_t stream,
                        PlannedCall* call) const {
  if (JAX_TVM_FFI_UNLIKELY(static_cast<size_t>(frame.args.size) != num_args_ ||
                           static_cast<size_t>(frame.rets.size) != num_rets_)) {
    return false;
  }
  // A function of no arguments has no slots (and memcpy must not see their null data).
  if (!slots_.empty()) std::memcpy(call->packed, slots_.data(), slots_.size() * sizeof(TVMFFIAny));
  DLTensor* tensor = call->tensors;
  for (const View& view : views_) {
    const size_t i = view.buffer;
    const bool is_arg = i < num_args_;
    const int32_t type = is_arg ? static_cast<int32_t>(frame.args.types[i])
                                : static_cast<int32_t>(frame.rets.types[i - num_args_]);
    const void* value = is_arg ? frame.args.args[i] : frame.rets.rets[i - num_args_];
    if (JAX_TVM_FFI_UNLIKELY(type != XLA_FFI_ArgType_BUFFER || value == nullptr)) return false;
    const auto& buffer = *static_cast<const XLA_FFI_Buffer*>(value);
    const int32_t rank = view.prototype.ndim;
    if (JAX_TVM_FFI_UNLIKELY(buffer.dtype != view.dtype || buffer.rank != rank)) return false;
    for (int32_t d = 0; d < rank; ++d) {
      if (JAX_TVM_FFI_UNLIKELY(buffer.dims[d] != view.prototype.shape[d])) return false;
    }
    *tensor = view.prototype;
    tensor->data = buffer.data;
    tensor->device.device_id = device_id;
    call->packed[view.slot].v_ptr = tensor;
    ++tensor;
  }
  for (uint32_t slot : stream_slots_) call->packed[slot].v_int64 = stream;
  for (uint32_t slot : device_id_slots_) call->packed[slot].v_int64 = device_id;
  return true;
}

}  // namespace jax_tvm_ffi

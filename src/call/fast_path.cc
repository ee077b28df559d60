/*!
 * \file fast_path.cc
 * \brief The straight path for the common call (see fast_path.h).
 */
#include "call/fast_path.h"

#include "base/predict.h"
#include "call/attr_decoder.h"
#include "call/pack_items.h"
#include "call/packed_args.h"
#include "call/row_major_view.h"

namespace jax_tvm_ffi {

namespace {

// Whether the spec passes every buffer of this call exactly once (the straight path's premise),
// for specs that do not always: buffers named by index, or "args" / "rets" left out.
[[gnu::noinline]] bool PassesEveryBuffer(const Binding& binding, size_t num_args, size_t num_rets) {
  return (num_args == 0 || binding.passes_all_args) && (num_rets == 0 || binding.passes_all_rets) &&
         (!binding.names_buffers || binding.spec.BufferCountsOk(num_args, num_rets));
}

}  // namespace

// Inlined into the handler's Dispatch, whose straight line it is, though a call-site plan calls it
// too.
[[gnu::always_inline]] bool FastPath::Pack(const Binding& binding, const XLA_FFI_CallFrame& frame,
                                           DLDevice device, int64_t stream) {
  const auto num_args = static_cast<size_t>(frame.args.size);
  const auto num_rets = static_cast<size_t>(frame.rets.size);
  if (JAX_TVM_FFI_UNLIKELY(!binding.straight || num_args + num_rets > kMaxTensors) ||
      (!binding.passes_every_buffer && !PassesEveryBuffer(binding, num_args, num_rets))) {
    return false;
  }
  num_packed_ = binding.end_offset.At(num_args, num_rets);
  if (JAX_TVM_FFI_UNLIKELY(num_packed_ > kMaxPacked) ||
      !(binding.attrs_checked_at_instantiate
            ? static_cast<size_t>(frame.attrs.size) == binding.pack_plan.attr_names.size()
            : binding.pack_plan.attr_names.MatchInOrder(frame.attrs))) {
    return false;
  }
  // Every buffer is packed exactly once (checked above), so each view is filled where it is
  // packed: one pass over the buffers.
  int64_t* strides = strides_;
  const int64_t* const strides_end = strides_ + kMaxDims;
  auto tensor_slot = [&](size_t i, bool optional, TVMFFIAny* slot) {
    const bool is_arg = i < num_args;
    const int32_t type = is_arg ? static_cast<int32_t>(frame.args.types[i])
                                : static_cast<int32_t>(frame.rets.types[i - num_args]);
    const void* value = is_arg ? frame.args.args[i] : frame.rets.rets[i - num_args];
    DLTensor* view = &tensors_[i];
    strides = FillOrdinaryView(type, value, device, view, strides, strides_end);
    if (JAX_TVM_FFI_UNLIKELY(strides == nullptr)) return false;  // `view` may be unfilled.
    *slot = JAX_TVM_FFI_UNLIKELY(optional) && HasNoElements(*view) ? NoneSlot() : ViewSlot(view);
    return true;
  };
  // In sorted order, the frame's attribute w is the spec's attribute w.
  auto attr_slot = [&frame](size_t w, TVMFFIAny* slot) {
    const void* value = frame.attrs.attrs[w];
    switch (frame.attrs.types[w]) {
      case XLA_FFI_AttrType_SCALAR:
        return DecodeScalarFast(*static_cast<const XLA_FFI_Scalar*>(value), slot);
      case XLA_FFI_AttrType_STRING:
        return DecodeSmallStringFast(*static_cast<const XLA_FFI_ByteSpan*>(value), slot);
      default:
        return false;
    }
  };
  return PackItems(binding.pack_plan, num_args, num_rets, tensor_slot, attr_slot, stream,
                   device.device_id, packed_);
}

}  // namespace jax_tvm_ffi

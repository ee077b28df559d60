/*!
 * \file general_path.cc
 * \brief The general path of a call (see general_path.h).
 */
#include "call/general_path.h"

#include <tvm/ffi/any.h>
#include <tvm/ffi/c_api.h>

#include <string>
#include <utility>
#include <vector>

#include "base/predict.h"
#include "base/small_array.h"
#include "call/attr_decoder.h"
#include "call/buffer_decoder.h"
#include "call/invoke.h"
#include "call/owned_tensor.h"
#include "call/pack_items.h"
#include "call/packed_args.h"
#include "call/row_major_view.h"

namespace jax_tvm_ffi {
namespace {

// Attribute values that own a TVM FFI object (long strings, arrays, maps) for one call.
class OwnedValues {
 public:
  OwnedValues() = default;
  OwnedValues(const OwnedValues&) = delete;
  OwnedValues& operator=(const OwnedValues&) = delete;
  ~OwnedValues() {
    for (size_t i = 0; i < size_; ++i) Release(values_[i]);
    for (TVMFFIAny& value : overflow_) Release(value);
  }

  // Takes ownership of `value`; returns the slot the function receives.
  TVMFFIAny Keep(tvm::ffi::Any value) {
    TVMFFIAny raw = tvm::ffi::details::AnyUnsafe::MoveAnyToTVMFFIAny(std::move(value));
    if (raw.type_index >= kTVMFFIStaticObjectBegin) {
      if (size_ < kInline) {
        values_[size_++] = raw;
      } else {
        overflow_.push_back(raw);
      }
    }
    return raw;
  }

 private:
  static void Release(const TVMFFIAny& value) { TVMFFIObjectDecRef(value.v_obj); }

  static constexpr size_t kInline = 8;
  TVMFFIAny values_[kInline];
  size_t size_ = 0;
  std::vector<TVMFFIAny> overflow_;
};

// Decodes the spec's attributes into `values`, indexed like spec.sorted_attr_names().
Status DecodeAttrs(const ArgSpec& spec, const AttrNames& names, const XLA_FFI_Attrs& attrs,
                   TVMFFIAny* values, OwnedValues* owned) {
  const size_t num_attrs = spec.sorted_attr_names().size();
  if (num_attrs == 0 && attrs.size == 0) return Status();
  SmallArray<size_t, 8> index_storage;
  size_t* frame_index = nullptr;
  if (JAX_TVM_FFI_UNLIKELY(!names.MatchInOrder(attrs))) {
    frame_index = index_storage.Get(num_attrs);
    Status status = MatchAttrs(spec, attrs, frame_index);
    if (!status.ok()) return status;
  }
  for (size_t w = 0; w < num_attrs; ++w) {
    const size_t i = frame_index == nullptr ? w : frame_index[w];
    if (attrs.types[i] == XLA_FFI_AttrType_SCALAR &&
        DecodeScalarFast(*static_cast<const XLA_FFI_Scalar*>(attrs.attrs[i]), &values[w])) {
      continue;
    }
    tvm::ffi::Any value;
    Status status = DecodeAttr(spec.sorted_attr_names()[w], attrs.types[i], attrs.attrs[i], &value);
    if (!status.ok()) return status;
    values[w] = owned->Keep(std::move(value));
  }
  return Status();
}

}  // namespace

// Out of line: the straight path's callers stay small.
[[gnu::noinline]] Status ExecuteGeneral(const Binding& binding, const XLA_FFI_CallFrame& frame,
                                        const Placement& placement, Workspace* workspace) {
  const DLDevice device{binding.device_type, placement.device_id};
  BufferDecoder buffers;
  const BufferLayouts layouts{&binding.options.input_layouts, &binding.options.output_layouts};
  Status status =
      buffers.Decode(frame.args, frame.rets, device, binding.has_layouts ? &layouts : nullptr);
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;

  const size_t num_args = buffers.num_args();
  const size_t num_rets = buffers.num_rets();
  if (binding.names_buffers) {
    std::string problem = binding.spec.CheckBufferCounts(num_args, num_rets);
    if (!problem.empty()) return Status::InvalidArgument(std::move(problem));
  }
  const size_t num_packed = binding.end_offset.At(num_args, num_rets);
  SmallArray<TVMFFIAny, 32> packed_storage;
  TVMFFIAny* packed = packed_storage.Get(num_packed);

  OwnedValues owned_values;
  SmallArray<TVMFFIAny, 8> attr_storage;
  TVMFFIAny* attr_values = attr_storage.Get(binding.spec.sorted_attr_names().size());
  status = DecodeAttrs(binding.spec, binding.pack_plan.attr_names, frame.attrs, attr_values,
                       &owned_values);
  if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;

  const bool pass_owned = binding.options.pass_owned_tensor;
  OwnedTensors owned_tensors;
  if (pass_owned) {
    status = owned_tensors.Create(buffers.tensors(), num_args, num_args + num_rets);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
  }
  auto tensor_slot = [&](size_t i, bool optional, TVMFFIAny* slot) {
    if (optional && HasNoElements(buffers.tensors()[i])) {
      *slot = NoneSlot();
    } else {
      *slot = pass_owned ? ObjectSlot(owned_tensors.tensor(i)) : ViewSlot(buffers.tensors() + i);
    }
    return true;
  };
  auto attr_slot = [&](size_t w, TVMFFIAny* slot) {
    *slot = attr_values[w];
    return true;
  };
  PackItems(binding.pack_plan, num_args, num_rets, tensor_slot, attr_slot,
            reinterpret_cast<int64_t>(placement.stream), placement.device_id, packed);
  return Invoke(binding, frame, placement, packed, num_packed,
                pass_owned ? &owned_tensors : nullptr, workspace);
}

}  // namespace jax_tvm_ffi

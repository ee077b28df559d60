/*!
 * \file fast_path.cc
 * \brief The straight path for the common call (see fast_path.h).
 */
#include "fast_path.h"

#include "attr_decoder.h"
#include "jax_tvm_ffi/dtype.h"
#include "packed_args.h"
#include "predict.h"
#include "row_major_view.h"

namespace jax_tvm_ffi {
namespace {

// Fills a view of an ordinary buffer (mappable, one lane, strides fitting before strides_end);
// returns the next free stride slot, or nullptr for a buffer the straight path does not take.
inline int64_t* FillView(int32_t type, const void* value, DLDevice device, DLTensor* out,
                         int64_t* strides, const int64_t* strides_end) {
  if (JAX_TVM_FFI_UNLIKELY(type != XLA_FFI_ArgType_BUFFER || value == nullptr)) return nullptr;
  const auto& buffer = *static_cast<const XLA_FFI_Buffer*>(value);
  const DLDataType dtype = detail::LookupDLDataType(buffer.dtype);
  const int64_t rank = buffer.rank;
  if (JAX_TVM_FFI_UNLIKELY(dtype.bits == 0 || dtype.lanes != 1 || rank < 0 ||
                           rank > strides_end - strides || (rank > 0 && buffer.dims == nullptr))) {
    return nullptr;
  }
  // A negative dimension or an element count past int64 is malformed: the general path says so.
  if (!FillRowMajorView(buffer.data, dtype, device, buffer.dims, rank, strides, out)) {
    return nullptr;
  }
  return strides + rank;
}

}  // namespace

bool FastPath::Pack(const Binding& binding, const XLA_FFI_CallFrame& frame, DLDevice device,
                    int64_t stream) {
  const auto num_args = static_cast<size_t>(frame.args.size);
  const auto num_rets = static_cast<size_t>(frame.rets.size);
  if (binding.options.pass_owned_tensor || num_args + num_rets > kMaxTensors) return false;
  num_packed_ = binding.end_offset.At(num_args, num_rets);
  if (num_packed_ > kMaxPacked || !AttrsMatchInOrder(binding.spec, frame.attrs)) return false;

  int64_t* strides = strides_;
  const int64_t* strides_end = strides_ + kMaxDims;
  for (size_t i = 0; i < num_args; ++i) {
    strides = FillView(frame.args.types[i], frame.args.args[i], device, &tensors_[i], strides,
                       strides_end);
    if (strides == nullptr) return false;
  }
  for (size_t i = 0; i < num_rets; ++i) {
    strides = FillView(frame.rets.types[i], frame.rets.rets[i], device, &tensors_[num_args + i],
                       strides, strides_end);
    if (strides == nullptr) return false;
  }

  const std::vector<ArgSpecItem>& items = binding.spec.items();
  for (size_t k = 0; k < items.size(); ++k) {
    TVMFFIAny* slot = packed_ + binding.item_offsets[k].At(num_args, num_rets);
    switch (items[k].kind) {
      case ArgKind::kArgs:
        for (size_t i = 0; i < num_args; ++i) slot[i] = ViewSlot(&tensors_[i]);
        break;
      case ArgKind::kRets:
        for (size_t i = 0; i < num_rets; ++i) slot[i] = ViewSlot(&tensors_[num_args + i]);
        break;
      case ArgKind::kAttr: {
        // In sorted order, the frame's attribute w is the spec's attribute w.
        const size_t w = binding.attr_index_of_item[k];
        const void* value = frame.attrs.attrs[w];
        const bool decoded =
            frame.attrs.types[w] == XLA_FFI_AttrType_SCALAR
                ? DecodeScalarFast(*static_cast<const XLA_FFI_Scalar*>(value), slot)
                : frame.attrs.types[w] == XLA_FFI_AttrType_STRING &&
                      DecodeSmallStringFast(*static_cast<const XLA_FFI_ByteSpan*>(value), slot);
        if (!decoded) return false;
        break;
      }
      case ArgKind::kStream:
        *slot = IntSlot(stream);
        break;
      case ArgKind::kDeviceId:
        *slot = IntSlot(device.device_id);
        break;
    }
  }
  return true;
}

}  // namespace jax_tvm_ffi

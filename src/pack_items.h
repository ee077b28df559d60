/*!
 * \file pack_items.h
 * \brief Packing the arg spec's items into the TVMFFIAny slots of one call, in spec order: the
 *        one packing routine of both the straight and the general path, following steps made
 *        once at registration.
 */
#ifndef JAX_TVM_FFI_SRC_PACK_ITEMS_H_
#define JAX_TVM_FFI_SRC_PACK_ITEMS_H_

#include <tvm/ffi/c_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "jax_tvm_ffi/arg_spec.h"
#include "packed_args.h"

namespace jax_tvm_ffi {

/*!
 * \brief One item of the spec as the call path packs it: its kind and, for an attribute, its
 *        index in the spec's sorted attribute names (the order XLA passes them in).
 */
struct PackStep {
  ArgKind kind;
  uint32_t attr_index;
};

/*! \brief The steps of a spec, in spec order (made at registration). */
std::vector<PackStep> MakePackSteps(const ArgSpec& spec);

/*!
 * \brief Packs every item of `steps` into consecutive slots starting at `out`.
 * \param tensor_slot bool(size_t buffer, TVMFFIAny* slot): writes the slot of buffer `buffer`
 *        (arguments first, then results); false stops the packing.
 * \param attr_slot bool(size_t attr_index, TVMFFIAny* slot): writes the slot of an attribute;
 *        false stops the packing.
 * \param stream, device_id The values of "ctx.stream" and "ctx.device_id".
 * \return false when a callback returned false.
 */
template <typename TensorSlot, typename AttrSlot>
inline bool PackItems(const std::vector<PackStep>& steps, size_t num_args, size_t num_rets,
                      TensorSlot&& tensor_slot, AttrSlot&& attr_slot, int64_t stream,
                      int32_t device_id, TVMFFIAny* out) {
  for (const PackStep& step : steps) {
    switch (step.kind) {
      case ArgKind::kArgs:
        for (size_t i = 0; i < num_args; ++i) {
          if (!tensor_slot(i, out++)) return false;
        }
        break;
      case ArgKind::kRets:
        for (size_t i = 0; i < num_rets; ++i) {
          if (!tensor_slot(num_args + i, out++)) return false;
        }
        break;
      case ArgKind::kAttr:
        if (!attr_slot(step.attr_index, out++)) return false;
        break;
      case ArgKind::kStream:
        *out++ = IntSlot(stream);
        break;
      case ArgKind::kDeviceId:
        *out++ = IntSlot(device_id);
        break;
    }
  }
  return true;
}

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_PACK_ITEMS_H_

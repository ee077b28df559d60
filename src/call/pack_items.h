/*!
 * \file pack_items.h
 * \brief Packing the arg spec's items into the TVMFFIAny slots of one call, in spec order: the
 *        one packing routine of both the straight and the general path, following steps made
 *        once at registration.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_PACK_ITEMS_H_
#define JAX_TVM_FFI_SRC_CALL_PACK_ITEMS_H_

#include <tvm/ffi/c_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/predict.h"
#include "call/attr_names.h"
#include "call/packed_args.h"
#include "jax_tvm_ffi/arg_spec.h"

namespace jax_tvm_ffi {

/*!
 * \brief One item of the spec as the call path packs it: its kind and, for an attribute, its
 *        index in the spec's sorted attribute names (the order XLA passes them in), for a buffer
 *        named by index, that index.
 */
struct PackStep {
  ArgKind kind;
  uint32_t index;
  /*! \brief "args.<i>?" / "rets.<i>?": None for a buffer with zero elements. */
  bool optional;
};

/*! \brief How a target's calls are packed: made once, at registration. */
struct PackPlan {
  /*! \brief The spec's items, in spec order. */
  std::vector<PackStep> steps;
  /*! \brief Inputs and outputs named by index, ascending: "args" and "rets" skip them. */
  std::vector<size_t> named_args;
  std::vector<size_t> named_rets;
  /*!
   * \brief The spec starts with "args", "rets" and names no buffer by index (the common spec):
   *        every buffer is packed in frame order first, in one loop, then steps[2...].
   */
  bool buffers_first = false;
  /*! \brief The spec's attribute names, in XLA's sorted order (steps' attribute indices). */
  AttrNames attr_names;
};

/*! \brief The plan of a spec. */
PackPlan MakePackPlan(const ArgSpec& spec);

/*! \brief A None slot. */
inline TVMFFIAny NoneSlot() {
  TVMFFIAny slot;
  slot.type_index = kTVMFFINone;
  slot.zero_padding = 0;
  slot.v_int64 = 0;
  return slot;
}

namespace detail {

// Packs buffers first..first+count-1 of one list, skipping those named by index.
template <typename TensorSlot>
inline bool PackRest(const std::vector<size_t>& named, size_t first, size_t count,
                     TensorSlot& tensor_slot, TVMFFIAny** out) {
  // One compare per buffer: `skip` is the next index named elsewhere (none: past every index).
  size_t next_named = 0;
  size_t skip = named.empty() ? SIZE_MAX : named[0];
  for (size_t i = 0; i < count; ++i) {
    if (JAX_TVM_FFI_UNLIKELY(i == skip)) {
      ++next_named;
      skip = next_named < named.size() ? named[next_named] : SIZE_MAX;
      continue;
    }
    if (!tensor_slot(first + i, /*optional=*/false, (*out)++)) return false;
  }
  return true;
}

}  // namespace detail

/*!
 * \brief Packs every item of the plan into consecutive slots starting at `out`. The buffer
 *        counts must have passed ArgSpec::CheckBufferCounts.
 * \param tensor_slot bool(size_t buffer, bool optional, TVMFFIAny* slot): writes the slot of
 *        buffer `buffer` (arguments first, then results), None for an optional one with zero
 *        elements; false stops the packing.
 * \param attr_slot bool(size_t attr_index, TVMFFIAny* slot): writes the slot of an attribute;
 *        false stops the packing.
 * \param stream, device_id The values of "ctx.stream" and "ctx.device_id".
 * \return false when a callback returned false.
 */
template <typename TensorSlot, typename AttrSlot>
inline bool PackItems(const PackPlan& plan, size_t num_args, size_t num_rets,
                      TensorSlot&& tensor_slot, AttrSlot&& attr_slot, int64_t stream,
                      int32_t device_id, TVMFFIAny* out) {
  auto step = plan.steps.begin();
  if (plan.buffers_first) {
    const size_t num_buffers = num_args + num_rets;
    for (size_t i = 0; i < num_buffers; ++i) {
      if (!tensor_slot(i, /*optional=*/false, out++)) return false;
    }
    step += 2;
  }
  for (; step != plan.steps.end(); ++step) {
    switch (step->kind) {
      case ArgKind::kArgs:
        if (!detail::PackRest(plan.named_args, 0, num_args, tensor_slot, &out)) return false;
        break;
      case ArgKind::kRets:
        if (!detail::PackRest(plan.named_rets, num_args, num_rets, tensor_slot, &out)) {
          return false;
        }
        break;
      case ArgKind::kArg:
        if (!tensor_slot(step->index, step->optional, out++)) return false;
        break;
      case ArgKind::kRet:
        if (!tensor_slot(num_args + step->index, step->optional, out++)) return false;
        break;
      case ArgKind::kNone:
        *out++ = NoneSlot();
        break;
      case ArgKind::kAttr:
        if (!attr_slot(step->index, out++)) return false;
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

#endif  // JAX_TVM_FFI_SRC_CALL_PACK_ITEMS_H_

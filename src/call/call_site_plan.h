/*!
 * \file call_site_plan.h
 * \brief The packing of one call site, made once from its first call: XLA keeps a call site's
 *        buffer counts, element types, shapes and attributes fixed, so all of the straight
 *        path's packing but the buffers' data pointers (and the device ordinal and stream) is
 *        done once and kept. For call sites with state of their own (embedded kernels, whose
 *        state XLA keeps per call site); registered targets serve many call sites and pack as
 *        before.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_CALL_SITE_PLAN_H_
#define JAX_TVM_FFI_SRC_CALL_CALL_SITE_PLAN_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/c_api.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "call/fast_path.h"
#include "registration/binding.h"

namespace jax_tvm_ffi {

/*! \brief The packed arguments of one planned call; lives on the caller's stack. */
struct PlannedCall {
  DLTensor tensors[FastPath::kMaxTensors];
  TVMFFIAny packed[FastPath::kMaxPacked];
};

/*!
 * \brief What is fixed in the calls of one call site, packed. Read-only once made, so calls on any
 *        thread share it.
 */
class CallSitePlan {
 public:
  /*!
   * \brief The plan of the call site `frame` is a call of; nullptr when the straight path does
   *        not take that call, or the binding is wrapped (checking, workspace, Python exit guard)
   *        or has optional buffer items (whose None depends on the shape: kept general).
   */
  static std::unique_ptr<CallSitePlan> Make(const Binding& binding, const XLA_FFI_CallFrame& frame);

  /*!
   * \brief Packs a call of the site into `call`: the plan's slots, each view with this call's
   *        data pointer and device ordinal, and this call's stream and ordinal where the spec
   *        passes them.
   * \return false when the frame's buffers are not those the plan was made from (counts, types,
   *         element types, shapes): the call then takes the usual path.
   */
  bool Pack(const XLA_FFI_CallFrame& frame, int32_t device_id, int64_t stream,
            PlannedCall* call) const;

  size_t num_packed() const { return slots_.size(); }

 private:
  /*! \brief One buffer's view: which buffer, which slot, and the view less data and ordinal. */
  struct View {
    uint32_t buffer;
    uint32_t slot;
    XLA_FFI_DataType dtype;
    DLTensor prototype;  // shape and strides point into shapes_ and strides_.
  };

  CallSitePlan() = default;

  size_t num_args_ = 0;
  size_t num_rets_ = 0;
  std::vector<View> views_;
  std::vector<TVMFFIAny> slots_;
  std::vector<uint32_t> stream_slots_;
  std::vector<uint32_t> device_id_slots_;
  // Sized once, before any prototype points into them.
  std::vector<int64_t> shapes_;
  std::vector<int64_t> strides_;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_CALL_SITE_PLAN_H_

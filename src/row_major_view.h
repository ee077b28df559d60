/*!
 * \file row_major_view.h
 * \brief A DLTensor view of a dense row-major buffer, the layout XLA gives custom calls; shared by
 *        the straight path and the general buffer decoder.
 */
#ifndef JAX_TVM_FFI_SRC_ROW_MAJOR_VIEW_H_
#define JAX_TVM_FFI_SRC_ROW_MAJOR_VIEW_H_

#include <dlpack/dlpack.h>

#include <cstdint>

#include "predict.h"

namespace jax_tvm_ffi {

/*!
 * \brief Fills `out` as a compact row-major view and writes its strides.
 * \param data The buffer.
 * \param dtype The element type.
 * \param device The device.
 * \param shape The view's shape, `rank` entries; must outlive the view.
 * \param rank The number of dimensions.
 * \param strides Receives `rank` strides; must outlive the view.
 * \param out The view.
 * \return false when a dimension is negative or the element count overflows int64.
 */
inline bool FillRowMajorView(void* data, DLDataType dtype, DLDevice device, int64_t* shape,
                             int64_t rank, int64_t* strides, DLTensor* out) {
  int64_t stride = 1;
  for (int64_t i = rank - 1; i >= 0; --i) {
    strides[i] = stride;
    if (JAX_TVM_FFI_UNLIKELY(shape[i] < 0 || __builtin_mul_overflow(stride, shape[i], &stride))) {
      return false;
    }
  }
  out->data = data;
  out->device = device;
  out->ndim = static_cast<int32_t>(rank);
  out->dtype = dtype;
  out->shape = shape;
  out->strides = strides;
  out->byte_offset = 0;
  return true;
}

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_ROW_MAJOR_VIEW_H_

/*!
 * \file row_major_view.h
 * \brief A DLTensor view of a dense row-major buffer, the layout XLA gives custom calls, written
 *        once for the straight path and the general buffer decoder.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_ROW_MAJOR_VIEW_H_
#define JAX_TVM_FFI_SRC_CALL_ROW_MAJOR_VIEW_H_

#include <dlpack/dlpack.h>
#include <xla/ffi/api/c_api.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/predict.h"
#include "jax_tvm_ffi/dtype.h"

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
  if (rank > 0) {
    // The last dimension's stride is 1, and multiplying by it cannot overflow: start after it.
    int64_t stride = shape[rank - 1];
    strides[rank - 1] = 1;
    if (JAX_TVM_FFI_UNLIKELY(stride < 0)) return false;
    for (int64_t i = rank - 2; i >= 0; --i) {
      strides[i] = stride;
      if (JAX_TVM_FFI_UNLIKELY(shape[i] < 0 || __builtin_mul_overflow(stride, shape[i], &stride))) {
        return false;
      }
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

namespace detail {

// The element types the straight path takes (a DLPack type of one lane: not packed 4-bit floats),
// and zero lanes for the others: one load and one test per buffer.
inline constexpr std::array<DLDataType, kDTypeTableSize> kOrdinaryDTypes = [] {
  std::array<DLDataType, kDTypeTableSize> dtypes{};
  for (size_t i = 0; i < kDTypeTableSize; ++i) {
    const DLDataType dtype = kDTypeTable[i].dtype;
    if (dtype.bits != 0 && dtype.lanes == 1) dtypes[i] = dtype;
  }
  return dtypes;
}();

/*! \brief The DLPack type of an element type the straight path takes; zero lanes for others. */
inline DLDataType LookupOrdinaryDType(XLA_FFI_DataType type) {
  const auto index = static_cast<uint32_t>(type);
  return index < kDTypeTableSize ? kOrdinaryDTypes[index] : DLDataType{0, 0, 0};
}

}  // namespace detail

/*!
 * \brief Whether a view has zero elements (a zero dimension), as an absent optional buffer
 *        ("args.<i>?") has. Reads the shape only: the view's strides may be partly written.
 */
inline bool HasNoElements(const DLTensor& view) {
  for (int32_t i = 0; i < view.ndim; ++i) {
    if (view.shape[i] == 0) return true;
  }
  return false;
}

/*!
 * \brief Fills `out` as the view of an ordinary buffer: a buffer (not a token) of a mappable,
 *        one-lane element type (not packed 4-bit floats) with well-formed dimensions whose
 *        strides fit before `strides_end`. Both paths call it first; the general path diagnoses
 *        what it refuses.
 * \param type, value The frame's type tag and value of the buffer.
 * \param strides Where the view's strides go.
 * \return The next free stride slot, or nullptr for a buffer this does not take (`out` and the
 *         strides may be partly written).
 */
inline int64_t* FillOrdinaryView(int32_t type, const void* value, DLDevice device, DLTensor* out,
                                 int64_t* strides, const int64_t* strides_end) {
  if (JAX_TVM_FFI_UNLIKELY(type != XLA_FFI_ArgType_BUFFER || value == nullptr)) return nullptr;
  // Read into locals before anything is written: `out` and `strides` may alias the buffer as far
  // as the compiler knows, and every write would make it read the buffer again.
  const auto& buffer = *static_cast<const XLA_FFI_Buffer*>(value);
  void* const data = buffer.data;
  int64_t* const shape = buffer.dims;
  const int64_t rank = buffer.rank;
  const DLDataType dtype = detail::LookupOrdinaryDType(buffer.dtype);
  // One unsigned compare refuses both a negative rank and one whose strides do not fit.
  const bool rank_fits =
      static_cast<uint64_t>(rank) <= static_cast<uint64_t>(strides_end - strides);
  if (JAX_TVM_FFI_UNLIKELY(dtype.lanes == 0 || !rank_fits || (rank > 0 && shape == nullptr))) {
    return nullptr;
  }
  if (JAX_TVM_FFI_UNLIKELY(!FillRowMajorView(data, dtype, device, shape, rank, strides, out))) {
    return nullptr;
  }
  return strides + rank;
}

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_ROW_MAJOR_VIEW_H_

/*!
 * \file reductions.cc
 * \brief Row reductions of the library: a matrix in, one value per row out.
 *
 * Exported: row_sum_max(x, sum, max) (two outputs), row_argmax(x, index) (an int32 output).
 */
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

#include <cstdint>

#include "checks.h"

namespace aot_kernels {
namespace {

using tvm::ffi::TensorView;

// The sum and the maximum of each row of a float32 matrix with at least one column.
void RowSumMax(TensorView x, TensorView sum, TensorView max) {
  CheckTensor("row_sum_max", "x", x, kFloat32, 2);
  CheckTensor("row_sum_max", "sum", sum, kFloat32, 1);
  CheckTensor("row_sum_max", "max", max, kFloat32, 1);
  const int64_t rows = x.size(0), cols = x.size(1);
  if (cols == 0) TVM_FFI_THROW(ValueError) << "row_sum_max: x must have at least one column";
  CheckShape("row_sum_max", "sum", sum, {rows});
  CheckShape("row_sum_max", "max", max, {rows});
  const float* in = static_cast<const float*>(x.data_ptr());
  float* sums = static_cast<float*>(sum.data_ptr());
  float* maxes = static_cast<float*>(max.data_ptr());
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = in + i * cols;
    float s = 0.0f, m = row[0];
    for (int64_t j = 0; j < cols; ++j) {
      s += row[j];
      m = row[j] > m ? row[j] : m;
    }
    sums[i] = s;
    maxes[i] = m;
  }
}

// The column of the first maximum of each row of a float32 matrix, as int32.
void RowArgmax(TensorView x, TensorView index) {
  CheckTensor("row_argmax", "x", x, kFloat32, 2);
  CheckTensor("row_argmax", "index", index, kInt32, 1);
  const int64_t rows = x.size(0), cols = x.size(1);
  if (cols == 0) TVM_FFI_THROW(ValueError) << "row_argmax: x must have at least one column";
  if (cols > INT32_MAX) TVM_FFI_THROW(ValueError) << "row_argmax: x has too many columns for int32";
  CheckShape("row_argmax", "index", index, {rows});
  const float* in = static_cast<const float*>(x.data_ptr());
  int32_t* out = static_cast<int32_t*>(index.data_ptr());
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = in + i * cols;
    int64_t best = 0;
    for (int64_t j = 1; j < cols; ++j) {
      if (row[j] > row[best]) best = j;
    }
    out[i] = static_cast<int32_t>(best);
  }
}

}  // namespace
}  // namespace aot_kernels

TVM_FFI_DLL_EXPORT_TYPED_FUNC(row_sum_max, aot_kernels::RowSumMax);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(row_argmax, aot_kernels::RowArgmax);

// C++ kernels for the ffi_function, transformation, sharding, multi-process and export tests.
// Compiled with tvm_ffi.cpp.load_inline (see tests/ffi_function_support.py); every kernel takes
// float32 or float64 tensors.
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>

#include <cmath>
#include <cstdint>
#include <vector>

using tvm::ffi::TensorView;

namespace {

bool IsFloat(const TensorView& x, int bits) {
  return x.dtype().code == kDLFloat && x.dtype().bits == bits && x.dtype().lanes == 1;
}

// Calls body.template operator()<T>() with T = float or double, the dtype of x.
template <typename Body>
void DispatchFloat(const TensorView& x, Body body) {
  if (IsFloat(x, 32)) {
    body(float{});
  } else if (IsFloat(x, 64)) {
    body(double{});
  } else {
    TVM_FFI_THROW(TypeError) << "expected a float32 or float64 tensor";
  }
}

void CheckSameShape(const TensorView& a, const TensorView& b) {
  TVM_FFI_ICHECK_EQ(a.ndim(), b.ndim());
  for (int i = 0; i < a.ndim(); ++i) TVM_FFI_ICHECK_EQ(a.size(i), b.size(i));
}

// Offset of the batch index `flat` of `out_batch` (row-major) in a tensor whose leading
// `rank` dims are broadcast (NumPy rules, right-aligned) against out_batch.
int64_t BroadcastBatchIndex(int64_t flat, const std::vector<int64_t>& out_batch,
                            const TensorView& t, int rank) {
  int64_t index = 0;
  int64_t stride = 1;
  const int offset = static_cast<int>(out_batch.size()) - rank;
  for (int d = static_cast<int>(out_batch.size()) - 1; d >= 0; --d) {
    const int64_t coordinate = flat % out_batch[d];
    flat /= out_batch[d];
    const int td = d - offset;
    if (td < 0) continue;
    const int64_t extent = t.size(td);
    TVM_FFI_ICHECK(extent == 1 || extent == out_batch[d]) << "batch dims do not broadcast";
    if (extent != 1) index += coordinate * stride;
    stride *= extent;
  }
  return index;
}

}  // namespace

// y = x / sqrt(mean(x^2, last axis) + eps); inv_rms = the per-row 1 / sqrt(mean + eps).
void rms_norm_fwd(TensorView x, TensorView y, TensorView inv_rms, double eps) {
  CheckSameShape(x, y);
  TVM_FFI_ICHECK_GE(x.ndim(), 1);
  const int64_t n = x.size(x.ndim() - 1);
  const int64_t rows = n == 0 ? 0 : x.numel() / n;
  TVM_FFI_ICHECK_EQ(inv_rms.numel(), rows) << "inv_rms needs one entry per row";
  DispatchFloat(x, [&](auto zero) {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(x.data_ptr());
    T* out = static_cast<T*>(y.data_ptr());
    T* r = static_cast<T*>(inv_rms.data_ptr());
    for (int64_t row = 0; row < rows; ++row) {
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += double(in[row * n + j]) * double(in[row * n + j]);
      const double scale = 1.0 / std::sqrt(sum / double(n) + eps);
      r[row] = static_cast<T>(scale);
      for (int64_t j = 0; j < n; ++j) out[row * n + j] = static_cast<T>(in[row * n + j] * scale);
    }
  });
}

// The VJP of rms_norm_fwd: dx = r * (g - y * mean(g * y)), with y = x * r per row.
void rms_norm_bwd(TensorView x, TensorView inv_rms, TensorView g, TensorView dx) {
  CheckSameShape(x, g);
  CheckSameShape(x, dx);
  const int64_t n = x.size(x.ndim() - 1);
  const int64_t rows = n == 0 ? 0 : x.numel() / n;
  TVM_FFI_ICHECK_EQ(inv_rms.numel(), rows);
  DispatchFloat(x, [&](auto zero) {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(x.data_ptr());
    const T* r = static_cast<const T*>(inv_rms.data_ptr());
    const T* grad = static_cast<const T*>(g.data_ptr());
    T* out = static_cast<T*>(dx.data_ptr());
    for (int64_t row = 0; row < rows; ++row) {
      const double scale = r[row];
      double dot = 0;
      for (int64_t j = 0; j < n; ++j) dot += double(grad[row * n + j]) * in[row * n + j] * scale;
      const double mean = dot / double(n);
      for (int64_t j = 0; j < n; ++j) {
        const double yj = in[row * n + j] * scale;
        out[row * n + j] = static_cast<T>(scale * (grad[row * n + j] - yj * mean));
      }
    }
  });
}

// out[..., i] = sum_j x[..., i, j] * v[..., j]; the leading (batch) dims of x and v broadcast
// against those of out, so the kernel serves every vmap_method.
void matvec(TensorView x, TensorView v, TensorView out) {
  TVM_FFI_ICHECK_GE(x.ndim(), 2);
  TVM_FFI_ICHECK_GE(v.ndim(), 1);
  TVM_FFI_ICHECK_GE(out.ndim(), 1);
  const int64_t m = x.size(x.ndim() - 2);
  const int64_t n = x.size(x.ndim() - 1);
  TVM_FFI_ICHECK_EQ(v.size(v.ndim() - 1), n);
  TVM_FFI_ICHECK_EQ(out.size(out.ndim() - 1), m);
  std::vector<int64_t> batch(out.ndim() - 1);
  int64_t batch_size = 1;
  for (int d = 0; d < out.ndim() - 1; ++d) batch_size *= (batch[d] = out.size(d));
  DispatchFloat(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pv = static_cast<const T*>(v.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    for (int64_t b = 0; b < batch_size; ++b) {
      const T* xb = px + BroadcastBatchIndex(b, batch, x, x.ndim() - 2) * m * n;
      const T* vb = pv + BroadcastBatchIndex(b, batch, v, v.ndim() - 1) * n;
      for (int64_t i = 0; i < m; ++i) {
        T sum = 0;
        for (int64_t j = 0; j < n; ++j) sum += xb[i * n + j] * vb[j];
        po[b * m + i] = sum;
      }
    }
  });
}

// out = acc + update, meant to run with out aliased to acc; aliased[0] = 1 if out and acc
// share one buffer (the in-place update happened), else 0. aliased is int32.
void add_into(TensorView acc, TensorView update, TensorView out, TensorView aliased) {
  CheckSameShape(acc, update);
  CheckSameShape(acc, out);
  TVM_FFI_ICHECK(aliased.dtype().code == kDLInt && aliased.dtype().bits == 32);
  *static_cast<int32_t*>(aliased.data_ptr()) = acc.data_ptr() == out.data_ptr() ? 1 : 0;
  DispatchFloat(acc, [&](auto zero) {
    using T = decltype(zero);
    const T* a = static_cast<const T*>(acc.data_ptr());
    const T* u = static_cast<const T*>(update.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    for (int64_t i = 0; i < acc.numel(); ++i) o[i] = a[i] + u[i];
  });
}

/*!
 * \file kernel_bodies.h
 * \brief The kernel bodies every benchmark runs, shared by the native XLA FFI handlers and the
 *        TVM FFI functions behind the bridge, so that both sides do exactly the same work.
 */
#ifndef JAX_TVM_FFI_BENCHMARKS_CPP_KERNEL_BODIES_H_
#define JAX_TVM_FFI_BENCHMARKS_CPP_KERNEL_BODIES_H_

#include <cstddef>
#include <cstdint>

namespace jax_tvm_ffi_bench {

/*! \brief y = x + attr over n float32 elements. */
inline void AddScalar(const float* x, float* y, int64_t n, float attr) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] + attr;
}

/*! \brief y = a + b + c + d over n float32 elements. */
inline void Add4(const float* a, const float* b, const float* c, const float* d, float* y,
                 int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i] + c[i] + d[i];
}

/*! \brief The number of argument (and of result) tensors of the mixed-attribute kernel. */
constexpr size_t kMixedPairs = 4;

/*!
 * \brief The mixed-attribute kernel: y[i] = x[i] + bias for each of kMixedPairs pairs, where the
 *        bias combines one attribute of each scalar kind (and, optionally, a string's length).
 */
inline void AddMixed(const float* const* xs, float* const* ys, int64_t n, float alpha,
                     int64_t count, bool flag, int32_t offset, size_t mode_length) {
  const float bias =
      alpha + static_cast<float>(mode_length) + (flag ? static_cast<float>(count + offset) : 0.0f);
  for (size_t pair = 0; pair < kMixedPairs; ++pair) AddScalar(xs[pair], ys[pair], n, bias);
}

}  // namespace jax_tvm_ffi_bench

#endif  // JAX_TVM_FFI_BENCHMARKS_CPP_KERNEL_BODIES_H_

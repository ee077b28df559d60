/*!
 * \file bench_support.h
 * \brief What every handler benchmark shares: a synthetic XLA call frame with its buffers, and
 *        the timed loop that calls a handler on it and reports heap allocations per call.
 */
#ifndef JAX_TVM_FFI_BENCHMARKS_CPP_BENCH_SUPPORT_H_
#define JAX_TVM_FFI_BENCHMARKS_CPP_BENCH_SUPPORT_H_

#include <benchmark/benchmark.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fake_xla_api.h"

namespace jax_tvm_ffi_bench {

/*!
 * \brief A CPU call frame whose buffers are all float32 of one shape, as XLA would pass them,
 *        built with the fake XLA API of the C++ unit tests (its error functions are only
 *        reached on failure).
 */
class Frame {
 public:
  /*!
   * \param num_args The number of argument buffers.
   * \param num_rets The number of result buffers.
   * \param dims The shape of every buffer; empty for rank 0.
   */
  Frame(size_t num_args, size_t num_rets, const std::vector<int64_t>& dims);

  /*! \brief The attributes; add them before Build. */
  jax_tvm_ffi::testing::AttrsBuilder& attrs() { return builder_.attrs(); }

  /*! \brief Builds the execute-stage frame; valid while this object lives. */
  XLA_FFI_CallFrame* Build() { return builder_.Build(context_.get()); }

 private:
  jax_tvm_ffi::testing::FakeExecutionContext context_;
  jax_tvm_ffi::testing::CallFrameBuilder builder_;
  std::vector<std::vector<float>> storage_;
};

/*!
 * \brief The body of a handler benchmark: calls `handler` on `frame` once per iteration, through
 *        the function pointer as XLA does, and sets the counters allocs_per_call (every heap
 *        allocation), news_per_call and mallocs_per_call. A handler that fails on the frame
 *        fails the benchmark instead of being timed.
 */
void RunHandler(benchmark::State& state, XLA_FFI_Handler* handler, XLA_FFI_CallFrame* frame);

}  // namespace jax_tvm_ffi_bench

#endif  // JAX_TVM_FFI_BENCHMARKS_CPP_BENCH_SUPPORT_H_

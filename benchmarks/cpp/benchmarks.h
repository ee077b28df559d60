/*!
 * \file benchmarks.h
 * \brief The benchmark groups of the handler benchmark program, registered by main.
 */
#ifndef JAX_TVM_FFI_BENCHMARKS_CPP_BENCHMARKS_H_
#define JAX_TVM_FFI_BENCHMARKS_CPP_BENCHMARKS_H_

namespace jax_tvm_ffi_bench {

/*! \brief Registers handler/<case>/<side> (handler_benchmarks.cc). */
void RegisterHandlerBenchmarks();

/*! \brief Registers scaling/<side>/tensors:T/rank:R (scaling_benchmarks.cc). */
void RegisterScalingBenchmarks();

}  // namespace jax_tvm_ffi_bench

#endif  // JAX_TVM_FFI_BENCHMARKS_CPP_BENCHMARKS_H_

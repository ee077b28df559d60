/*!
 * \file alloc_counter.h
 * \brief Counts the heap allocations of the calling thread, so a benchmark can report how many
 *        allocations one handler call makes.
 *
 * alloc_counter.cc replaces the global operator new (every form) and, on glibc, interposes malloc,
 * calloc, realloc, aligned_alloc and posix_memalign for the whole process, counting each call in
 * thread-local counters. An allocation through operator new is counted once, as a `new`; C
 * allocations (from TVM FFI's C API, libc, ...) are counted as `malloc`.
 */
#ifndef JAX_TVM_FFI_BENCHMARKS_CPP_ALLOC_COUNTER_H_
#define JAX_TVM_FFI_BENCHMARKS_CPP_ALLOC_COUNTER_H_

#include <cstdint>

namespace jax_tvm_ffi_bench {

/*! \brief Allocations made by one thread so far. */
struct AllocCounts {
  /*! \brief Calls of any form of operator new / new[]. */
  uint64_t news = 0;
  /*! \brief Calls of the malloc family made outside operator new. */
  uint64_t mallocs = 0;

  uint64_t total() const { return news + mallocs; }
};

/*! \brief The calling thread's counts. */
AllocCounts ThreadAllocCounts();

/*!
 * \brief Whether malloc interposition is in effect (it is on glibc): checks that a malloc call
 *        is counted. operator new is always counted.
 */
bool MallocCountingWorks();

}  // namespace jax_tvm_ffi_bench

#endif  // JAX_TVM_FFI_BENCHMARKS_CPP_ALLOC_COUNTER_H_

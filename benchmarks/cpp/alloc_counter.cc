/*!
 * \file alloc_counter.cc
 * \brief Process-wide replacements of operator new and (on glibc) the malloc family that count
 *        calls per thread (see alloc_counter.h).
 *
 * Both forward to glibc's own allocator (__libc_malloc and friends), so memory from any source
 * can be released by any deallocation function, as without the replacements.
 */
#include "alloc_counter.h"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__GLIBC__)
#define JAX_TVM_FFI_BENCH_COUNT_MALLOC 1
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* pointer, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* pointer);
}
#endif

namespace jax_tvm_ffi_bench {
namespace {

// Constant-initialized, so reading it never allocates (no TLS constructor runs).
thread_local AllocCounts thread_counts;

void* RawAllocate(size_t size, size_t alignment) {
  if (size == 0) size = 1;
#if defined(JAX_TVM_FFI_BENCH_COUNT_MALLOC)
  return alignment <= alignof(std::max_align_t) ? __libc_malloc(size)
                                                : __libc_memalign(alignment, size);
#else
  if (alignment <= alignof(std::max_align_t)) return std::malloc(size);
  return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
#endif
}

void RawFree(void* pointer) {
#if defined(JAX_TVM_FFI_BENCH_COUNT_MALLOC)
  __libc_free(pointer);
#else
  std::free(pointer);
#endif
}

void* CountedNew(size_t size, size_t alignment = alignof(std::max_align_t)) {
  ++thread_counts.news;
  void* pointer = RawAllocate(size, alignment);
  if (pointer == nullptr) throw std::bad_alloc();
  return pointer;
}

void* CountedNewNoThrow(size_t size, size_t alignment = alignof(std::max_align_t)) noexcept {
  ++thread_counts.news;
  return RawAllocate(size, alignment);
}

}  // namespace

AllocCounts ThreadAllocCounts() { return thread_counts; }

bool MallocCountingWorks() {
  const uint64_t before = thread_counts.mallocs;
  // strdup allocates inside libc, so this checks the interposition other libraries see too; the
  // volatile pointer keeps the compiler from eliding the call.
  char* (*volatile duplicate)(const char*) = &strdup;
  char* copy = duplicate("probe");
  std::free(copy);
  return thread_counts.mallocs > before;
}

}  // namespace jax_tvm_ffi_bench

using jax_tvm_ffi_bench::CountedNew;
using jax_tvm_ffi_bench::CountedNewNoThrow;
using jax_tvm_ffi_bench::RawFree;

void* operator new(size_t size) { return CountedNew(size); }
void* operator new[](size_t size) { return CountedNew(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept { return CountedNewNoThrow(size); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return CountedNewNoThrow(size);
}
void* operator new(size_t size, std::align_val_t alignment) {
  return CountedNew(size, static_cast<size_t>(alignment));
}
void* operator new[](size_t size, std::align_val_t alignment) {
  return CountedNew(size, static_cast<size_t>(alignment));
}
void* operator new(size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return CountedNewNoThrow(size, static_cast<size_t>(alignment));
}
void* operator new[](size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return CountedNewNoThrow(size, static_cast<size_t>(alignment));
}

void operator delete(void* pointer) noexcept { RawFree(pointer); }
void operator delete[](void* pointer) noexcept { RawFree(pointer); }
void operator delete(void* pointer, size_t) noexcept { RawFree(pointer); }
void operator delete[](void* pointer, size_t) noexcept { RawFree(pointer); }
void operator delete(void* pointer, const std::nothrow_t&) noexcept { RawFree(pointer); }
void operator delete[](void* pointer, const std::nothrow_t&) noexcept { RawFree(pointer); }
void operator delete(void* pointer, std::align_val_t) noexcept { RawFree(pointer); }
void operator delete[](void* pointer, std::align_val_t) noexcept { RawFree(pointer); }
void operator delete(void* pointer, size_t, std::align_val_t) noexcept { RawFree(pointer); }
void operator delete[](void* pointer, size_t, std::align_val_t) noexcept { RawFree(pointer); }
void operator delete(void* pointer, std::align_val_t, const std::nothrow_t&) noexcept {
  RawFree(pointer);
}
void operator delete[](void* pointer, std::align_val_t, const std::nothrow_t&) noexcept {
  RawFree(pointer);
}

#if defined(JAX_TVM_FFI_BENCH_COUNT_MALLOC)
// Defined in the executable, these take precedence over libc's for every shared library
// (ELF symbol interposition, which glibc supports for its allocator).
extern "C" {
void* malloc(size_t size) noexcept {
  ++jax_tvm_ffi_bench::thread_counts.mallocs;
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) noexcept {
  ++jax_tvm_ffi_bench::thread_counts.mallocs;
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, size_t size) noexcept {
  ++jax_tvm_ffi_bench::thread_counts.mallocs;
  return __libc_realloc(pointer, size);
}
void* aligned_alloc(size_t alignment, size_t size) noexcept {
  ++jax_tvm_ffi_bench::thread_counts.mallocs;
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  ++jax_tvm_ffi_bench::thread_counts.mallocs;
  void* pointer = __libc_memalign(alignment, size);
  if (pointer == nullptr) return ENOMEM;
  *out = pointer;
  return 0;
}
}
#endif

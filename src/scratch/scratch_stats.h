/*!
 * \file scratch_stats.h
 * \brief The scratch-memory counters of one target, updated by its calls from any thread.
 */
#ifndef JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_STATS_H_
#define JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_STATS_H_

#include <atomic>
#include <cstdint>

#include "jax_tvm_ffi/scratch.h"

namespace jax_tvm_ffi {

/*!
 * \brief Counters behind ScratchUsage. Relaxed atomics: each value is exact, but a snapshot
 *        taken while calls run on other threads may mix calls.
 */
class ScratchStats {
 public:
  /*! \brief Records a finished call that allocated `allocations` times, holding at most
   *         `peak_bytes` at once. */
  void RecordCall(uint64_t allocations, uint64_t peak_bytes) {
    if (allocations == 0) {
      // Most calls allocate nothing: read before writing so they leave the line shared.
      if (last_call_allocations_.load(std::memory_order_relaxed) != 0) {
        last_call_allocations_.store(0, std::memory_order_relaxed);
        last_call_peak_bytes_.store(0, std::memory_order_relaxed);
      }
      return;
    }
    last_call_allocations_.store(allocations, std::memory_order_relaxed);
    last_call_peak_bytes_.store(peak_bytes, std::memory_order_relaxed);
    total_allocations_.fetch_add(allocations, std::memory_order_relaxed);
    uint64_t peak = peak_bytes_.load(std::memory_order_relaxed);
    while (peak < peak_bytes &&
           !peak_bytes_.compare_exchange_weak(peak, peak_bytes, std::memory_order_relaxed)) {
    }
  }
  void AddOutstanding() { outstanding_.fetch_add(1, std::memory_order_relaxed); }
  void RemoveOutstanding() { outstanding_.fetch_sub(1, std::memory_order_relaxed); }

  ScratchUsage Read() const {
    ScratchUsage usage;
    usage.last_call_allocations = last_call_allocations_.load(std::memory_order_relaxed);
    usage.last_call_peak_bytes = last_call_peak_bytes_.load(std::memory_order_relaxed);
    usage.total_allocations = total_allocations_.load(std::memory_order_relaxed);
    usage.peak_bytes = peak_bytes_.load(std::memory_order_relaxed);
    usage.outstanding_allocations = outstanding_.load(std::memory_order_relaxed);
    return usage;
  }

 private:
  std::atomic<uint64_t> last_call_allocations_{0};
  std::atomic<uint64_t> last_call_peak_bytes_{0};
  std::atomic<uint64_t> total_allocations_{0};
  std::atomic<uint64_t> peak_bytes_{0};
  std::atomic<uint64_t> outstanding_{0};
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_STATS_H_

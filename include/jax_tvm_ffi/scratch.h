/*!
 * \file jax_tvm_ffi/scratch.h
 * \brief Scratch memory served to kernels during a call, and how much each target used.
 *
 * While a target's function runs, TVM FFI's environment allocator on the calling thread serves
 * `tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, shape, dtype, device)`:
 * - host tensors (kDLCPU) come from a per-call arena, aligned to kCpuScratchAlignment;
 * - tensors on the call's GPU come from XLA's device allocator for that call
 *   (XLA_FFI_DeviceMemory_Allocate), aligned to kGpuScratchAlignment.
 * Every allocation is given back when the call ends, also when the function fails. On GPU that
 * is safe while kernels the function queued still run: XLA's allocator is stream-ordered, so the
 * memory serves only work queued after them on the call's stream. A scratch
 * tensor the function still holds when it returns fails the call: on CPU its memory stays
 * valid until the tensor is released; GPU memory goes back to XLA, which owns it.
 *
 * Sizes: a tensor takes ceil(elements * bits * lanes / 8) bytes (sub-byte types are packed),
 * computed without overflow; a tensor above 2^48 bytes (more than any address space the bridge
 * runs on), or with a negative dimension or a zero-bit dtype, fails the call with a ValueError
 * naming its dtype, shape, element count and bytes.
 *
 * The allocator: at the start of every call the bridge makes its allocator the one in effect on
 * the calling thread, whatever other code did with TVM FFI's allocator before (set one on the
 * thread, set one globally, or ran the call inside a "set, call, restore" scope of its own). When
 * the thread had an allocator of its own, that one is put back when the call ends, so code
 * around the call and whoever restores it later see exactly what they set. When it had none, the
 * bridge's stays: outside calls it hands every request to the global allocator, as TVM FFI does
 * for a thread with none, and fails like TVM FFI when there is no global one either. A kernel
 * that sets an allocator during a call gets its own allocator for its own requests, and a
 * bridged call nested in it gets the bridge's again. So outside calls every request reaches the
 * allocator TVM FFI alone would use, on the thread or global, whatever code around the calls
 * sets, clears or saves and restores through TVMFFIEnvSetDLPackManagedTensorAllocator. One
 * difference remains visible: on a thread where the bridge's allocator stays, and during calls,
 * TVMFFIEnvGetDLPackManagedTensorAllocator answers the bridge's allocator, not the global one;
 * written back globally, it serves only calls, and requests outside calls fail saying so (the
 * global allocator it replaced is no longer known to TVM FFI).
 */
#ifndef JAX_TVM_FFI_SCRATCH_H_
#define JAX_TVM_FFI_SCRATCH_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {

/*! \brief The alignment of host scratch tensors, in bytes. */
constexpr size_t kCpuScratchAlignment = 64;
/*! \brief The alignment requested from XLA for device scratch tensors, in bytes. */
constexpr size_t kGpuScratchAlignment = 256;

/*! \brief Scratch memory a target's function asked for. Bytes are the tensors' sizes. */
struct ScratchUsage {
  /*! \brief Allocations made by the most recent call that finished. */
  uint64_t last_call_allocations = 0;
  /*! \brief The most bytes held at once during the most recent call that finished. */
  uint64_t last_call_peak_bytes = 0;
  /*! \brief Allocations made by every call so far. */
  uint64_t total_allocations = 0;
  /*! \brief The most bytes held at once during any call so far. */
  uint64_t peak_bytes = 0;
  /*! \brief Scratch tensors not yet released: non-zero only while a call runs, or when a
   *         function kept one past its call. */
  uint64_t outstanding_allocations = 0;
};

/*!
 * \brief The scratch usage of a registered target, over every registration of (name, platform).
 * \throws tvm::ffi::Error (ValueError) when no such target is registered.
 */
ScratchUsage GetScratchUsage(const std::string& name, Platform platform);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SCRATCH_H_

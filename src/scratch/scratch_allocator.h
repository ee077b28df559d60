/*!
 * \file scratch_allocator.h
 * \brief Serving TVMFFIEnvTensorAlloc during a call: host tensors from a per-call arena, tensors
 *        on the call's GPU from XLA's device allocator, all given back when the call ends.
 *        The contract is in jax_tvm_ffi/scratch.h.
 */
#ifndef JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_ALLOCATOR_H_
#define JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_ALLOCATOR_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "base/predict.h"
#include "base/status.h"
#include "base/tensor_bytes.h"
#include "registration/binding.h"
#include "scratch/scratch_arena.h"
#include "scratch/scratch_stats.h"
#include "scratch/scratch_workspace.h"

namespace jax_tvm_ffi {

struct ScratchBlock;
class ScratchScope;

/*! \brief The scratch state of a thread. Trivial, so that reaching it runs no TLS initializer. */
struct ScratchThreadState {
  /*! \brief The scope of the call running on this thread, if any. */
  ScratchScope* current_scope;
};

/*! \brief The largest scratch tensor served, in bytes: all any memory can hold. */
constexpr uint64_t kMaxScratchBytes = kMaxTensorBytes;

/*!
 * \brief The size in bytes of a scratch tensor (see TensorBytes), at most kMaxScratchBytes.
 * \return Whether the tensor can be served; `problem` says why not.
 */
inline bool ScratchTensorBytes(const DLTensor& prototype, uint64_t* bytes, std::string* problem) {
  return TensorBytes(prototype, kMaxScratchBytes, "scratch tensors", bytes, problem);
}

/*! \brief What a call that allocates keeps track of; made on its first allocation. */
struct ScratchAllocations {
  /*! \brief The host memory of the call's blocks (see ScratchArena). */
  ScratchArena* arena = nullptr;
  /*! \brief Identifies this call's blocks (see ScratchBlock::call_id). */
  uint64_t call_id = 0;
  /*! \brief Blocks not released on this thread during the call, newest first. */
  ScratchBlock* blocks = nullptr;
  uint64_t count = 0;
  uint64_t live_bytes = 0;
  uint64_t peak_bytes = 0;
  /*! \brief The first error XLA returned when taking device memory back during the call. */
  Status free_error;
};

/*!
 * \brief The scratch memory of one call. Enter() makes it the current scope of the calling thread;
 *        Finish() (or the destructor) gives back everything allocated in it and makes the
 *        enclosing scope current again, so calls nest.
 *
 * Nothing is allocated until the function asks: a call that uses no scratch pays a few
 * thread-local reads and writes and one look at TVM FFI's allocator in effect.
 */
class ScratchScope {
 public:
  /*! \brief What a failed allocation reports through the allocator's SetError. */
  struct AllocError {
    const char* kind;
    std::string message;
  };

  /*!
   * \param binding The target being called.
   * \param api, ctx The call's XLA API and execution context, for device memory.
   * \param device_id The call's device ordinal (0 on CPU).
   * \param workspace The caller's workspace, which requests on its device are carved from;
   *        nullptr for none. Must outlive the scope.
   */
  ScratchScope(const Binding& binding, const XLA_FFI_Api* api, XLA_FFI_ExecutionContext* ctx,
               int32_t device_id, Workspace* workspace = nullptr)
      : binding_(binding), api_(api), ctx_(ctx), device_id_(device_id), workspace_(workspace) {}
  ~ScratchScope() {
    if (state_ == State::kEntered) Finish();
  }
  ScratchScope(const ScratchScope&) = delete;
  ScratchScope& operator=(const ScratchScope&) = delete;

  /*!
   * \brief Makes this the calling thread's scope and makes the bridge's allocator the one in
   *        effect on the thread, if another one is (Finish() puts that one back).
   */
  Status Enter();

  /*!
   * \brief Ends the scope: gives back every allocation, records the target's usage, puts back
   *        the allocator Enter() replaced and restores the enclosing scope. Idempotent. Inline:
   *        for most calls it is three stores and two tests.
   * \return A failure when the function kept a scratch tensor past the call, or when XLA refused
   *         to take device memory back.
   */
  Status Finish() {
    if (state_ != State::kEntered) return Status();
    state_ = State::kFinished;
    thread_->current_scope = enclosing_;
    if (JAX_TVM_FFI_UNLIKELY(restore_allocator_ != nullptr)) RestoreAllocator();
    if (JAX_TVM_FFI_UNLIKELY(allocations_.has_value())) return FinishAllocations();
    // Most calls allocate nothing: this is all they pay at the end.
    binding_.scratch_stats->RecordCall(0, 0);
    return Status();
  }

 private:
  friend struct ScratchAccess;

  /*! \brief The end of a call that allocated: kept out of line, off the common path. */
  [[gnu::noinline]] Status FinishAllocations();
  /*! \brief Puts back the allocator Enter() replaced: out of line, off the common path. */
  [[gnu::noinline]] void RestoreAllocator();
  /*! \brief Where a request's data comes from. */
  struct Placement {
    bool in_workspace;
    bool on_device;
  };
  /*! \brief The bytes of a request: its data, and its block in the arena. */
  struct Sizes {
    size_t data;
    size_t header;
    size_t region;
  };
  bool Allocate(const DLTensor& prototype, DLManagedTensorVersioned** out, AllocError* error);
  // The steps of Allocate, in order; each fails with the request's error.
  bool CheckDevice(const DLTensor& prototype, Placement* placement, AllocError* error) const;
  static bool SizeRequest(const DLTensor& prototype, Placement placement, Sizes* sizes,
                          AllocError* error);
  bool TakeHeader(const Sizes& sizes, char** region, AllocError* error);
  bool TakeData(const DLTensor& prototype, Placement placement, const Sizes& sizes, char* region,
                void** data, Workspace::Carved* carved, AllocError* error);
  DLManagedTensorVersioned* LinkBlock(const DLTensor& prototype, Placement placement,
                                      const Sizes& sizes, char* region, void* data,
                                      const Workspace::Carved& carved);
  void ReleaseDuringCall(ScratchBlock* block);
  bool AcquireArena();
  bool FreeDeviceMemory(ScratchBlock* block);

  enum class State : uint8_t { kCreated, kEntered, kFinished };

  const Binding& binding_;
  const XLA_FFI_Api* api_;
  XLA_FFI_ExecutionContext* ctx_;
  int32_t device_id_;
  Workspace* workspace_;
  State state_ = State::kCreated;
  // Set by Enter(): the calling thread's state (looked up once: a thread-local access costs a
  // call into the dynamic loader in a shared library) and the scope it had before.
  ScratchThreadState* thread_;
  ScratchScope* enclosing_;
  /*! \brief The thread's allocator that Enter() replaced, put back by Finish(). */
  DLPackManagedTensorAllocator restore_allocator_ = nullptr;
  /*! \brief Made on the first allocation, with the arena. */
  std::optional<ScratchAllocations> allocations_;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_ALLOCATOR_H_

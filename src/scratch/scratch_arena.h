/*!
 * \file scratch_arena.h
 * \brief Host memory for the scratch tensors of a call: a bump allocator over a few chunks that
 *        the next call on the same thread reuses.
 */
#ifndef JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_ARENA_H_
#define JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_ARENA_H_

#include <atomic>
#include <cstddef>
#include <vector>

#include "jax_tvm_ffi/scratch.h"

namespace jax_tvm_ffi {

/*!
 * \brief A bump allocator. Every block is aligned to kCpuScratchAlignment. Releasing the most
 * recent block makes its bytes available again, so a kernel that allocates and frees in a loop does
 * not grow the arena; other releases wait for Reset().
 *
 * The arena is reference counted so that a block handed out during a call can outlive it: the
 * call holds one reference and each live block another, and whoever drops the last one deletes
 * the arena (see scratch_allocator.cc). Allocate, Release and Reset are for the owning thread.
 */
class ScratchArena {
 public:
  /*! \brief The smallest chunk requested from the system. */
  static constexpr size_t kMinChunkBytes = size_t{64} << 10;
  /*! \brief Reset() frees everything rather than keep more than this for the next call. */
  static constexpr size_t kMaxRetainedBytes = size_t{64} << 20;

  ScratchArena() = default;
  ~ScratchArena();
  ScratchArena(const ScratchArena&) = delete;
  ScratchArena& operator=(const ScratchArena&) = delete;

  /*! \brief `size` bytes aligned to kCpuScratchAlignment, or nullptr when the system has no memory.
   */
  void* Allocate(size_t size);
  /*! \brief Makes a block's bytes available again if it is the most recent one. */
  void Release(void* block, size_t size);
  /*!
   * \brief Forgets every block. The chunks are merged into one big enough for everything this
   *        call held, so a call that repeats the same requests never asks the system again.
   */
  void Reset();

  /*! \brief Bytes obtained from the system and held now. */
  size_t capacity() const;
  /*! \brief Bytes handed out since the last Reset, alignment included. */
  size_t used() const;

  /*! \brief The arena starts with one reference. */
  void AddRef() { refs_.fetch_add(1, std::memory_order_relaxed); }
  /*! \brief Drops a reference; true when it was the last one (the caller deletes the arena). */
  bool DropRef() { return refs_.fetch_sub(1, std::memory_order_acq_rel) == 1; }
  /*! \brief Whether only the owner holds the arena: every block was released. */
  bool sole_owner() const { return refs_.load(std::memory_order_acquire) == 1; }

 private:
  struct Chunk {
    char* base;
    size_t size;
    size_t used;
  };
  bool AddChunk(size_t at_least);

  std::vector<Chunk> chunks_;
  /*! \brief The size of the next chunk: grows so that a few chunks cover any call. */
  size_t next_chunk_bytes_ = kMinChunkBytes;
  std::atomic<size_t> refs_{1};
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_ARENA_H_

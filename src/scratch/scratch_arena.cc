/*!
 * \file scratch_arena.cc
 * \brief The per-call host arena behind scratch tensors.
 */
#include "scratch/scratch_arena.h"

#include <cstdlib>
#include <limits>
#include <new>

#include "base/round_up.h"

namespace jax_tvm_ffi {
ScratchArena::~ScratchArena() {
  for (const Chunk& chunk : chunks_) std::free(chunk.base);
}

bool ScratchArena::AddChunk(size_t at_least) {
  size_t size = at_least > next_chunk_bytes_ ? at_least : next_chunk_bytes_;
  if (!RoundUp(size, kCpuScratchAlignment, &size)) return false;
  void* base = std::aligned_alloc(kCpuScratchAlignment, size);
  if (base == nullptr) return false;
  try {
    chunks_.push_back(Chunk{static_cast<char*>(base), size, 0});
  } catch (const std::bad_alloc&) {
    std::free(base);
    return false;
  }
  if (next_chunk_bytes_ <= std::numeric_limits<size_t>::max() / 2) next_chunk_bytes_ *= 2;
  return true;
}

void* ScratchArena::Allocate(size_t size) {
  size_t rounded = 0;
  if (!RoundUp(size == 0 ? 1 : size, kCpuScratchAlignment, &rounded)) return nullptr;
  if (chunks_.empty() || chunks_.back().size - chunks_.back().used < rounded) {
    if (!AddChunk(rounded)) return nullptr;
  }
  Chunk& chunk = chunks_.back();
  char* block = chunk.base + chunk.used;
  chunk.used += rounded;
  return block;
}

void ScratchArena::Release(void* block, size_t size) {
  if (chunks_.empty()) return;
  size_t rounded = 0;
  if (!RoundUp(size == 0 ? 1 : size, kCpuScratchAlignment, &rounded)) return;
  Chunk& chunk = chunks_.back();
  if (chunk.used >= rounded && chunk.base + chunk.used - rounded == static_cast<char*>(block)) {
    chunk.used -= rounded;
  }
}

void ScratchArena::Reset() {
  if (chunks_.size() == 1 && chunks_.front().size <= kMaxRetainedBytes) {
    chunks_.front().used = 0;
    return;
  }
  const size_t total = capacity();
  for (const Chunk& chunk : chunks_) std::free(chunk.base);
  chunks_.clear();
  // The next call's first chunk holds what this call needed, unless that is too much to keep.
  next_chunk_bytes_ = total > kMaxRetainedBytes ? kMinChunkBytes
                      : total > kMinChunkBytes  ? total
                                                : kMinChunkBytes;
}

size_t ScratchArena::capacity() const {
  size_t total = 0;
  for (const Chunk& chunk : chunks_) total += chunk.size;
  return total;
}

size_t ScratchArena::used() const {
  size_t total = 0;
  for (const Chunk& chunk : chunks_) total += chunk.used;
  return total;
}

}  // namespace jax_tvm_ffi

/*!
 * \file test_scratch_arena.cc
 * \brief Tests of the per-call host arena: alignment, reuse of the last block, chunk growth and
 *        merging on reset, the retention cap, and reference counting.
 */
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "scratch/scratch_arena.h"

namespace jax_tvm_ffi {
namespace {

bool Aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kCpuScratchAlignment == 0; }

TEST(ScratchArenaTest, BlocksAreAlignedAndDisjoint) {
  ScratchArena arena;
  char* a = static_cast<char*>(arena.Allocate(1));
  char* b = static_cast<char*>(arena.Allocate(100));
  char* c = static_cast<char*>(arena.Allocate(0));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(Aligned(a));
  EXPECT_TRUE(Aligned(b));
  EXPECT_TRUE(Aligned(c));
  EXPECT_GE(b - a, 1);
  EXPECT_GE(c - b, 100);
  std::memset(b, 0x5a, 100);  // Writable in full (ASan checks the bounds).
  EXPECT_EQ(arena.used(), 64u + 128u + 64u);
}

TEST(ScratchArenaTest, ReleasingTheLastBlockReusesItsBytes) {
  ScratchArena arena;
  void* first = arena.Allocate(256);
  void* second = arena.Allocate(256);
  arena.Release(second, 256);
  EXPECT_EQ(arena.Allocate(200), second);
  // A block that is not the last one waits for Reset().
  arena.Release(first, 256);
  EXPECT_EQ(arena.used(), 512u);
}

TEST(ScratchArenaTest, GrowsByChunksAndMergesThemOnReset) {
  ScratchArena arena;
  std::vector<void*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(arena.Allocate(ScratchArena::kMinChunkBytes / 2));
  for (void* block : blocks) ASSERT_NE(block, nullptr);
  const size_t grown = arena.capacity();
  EXPECT_GE(grown, 10 * ScratchArena::kMinChunkBytes / 2);
  arena.Reset();
  EXPECT_EQ(arena.used(), 0u);
  // The same requests now fit in the first chunk: no growth past what they need.
  for (int i = 0; i < 10; ++i) ASSERT_NE(arena.Allocate(ScratchArena::kMinChunkBytes / 2), nullptr);
  EXPECT_EQ(arena.capacity(), grown);
  arena.Reset();
  for (int i = 0; i < 10; ++i) ASSERT_NE(arena.Allocate(ScratchArena::kMinChunkBytes / 2), nullptr);
  EXPECT_EQ(arena.capacity(), grown) << "a repeated call must not grow the arena";
}

TEST(ScratchArenaTest, ResetKeepsOneChunkAndReusesIt) {
  ScratchArena arena;
  void* first = arena.Allocate(1000);
  arena.Reset();
  EXPECT_EQ(arena.Allocate(1000), first);
}

TEST(ScratchArenaTest, ResetDropsMoreThanTheRetentionCap) {
  ScratchArena arena;
  ASSERT_NE(arena.Allocate(ScratchArena::kMaxRetainedBytes + 1), nullptr);
  EXPECT_GT(arena.capacity(), ScratchArena::kMaxRetainedBytes);
  arena.Reset();
  EXPECT_EQ(arena.capacity(), 0u);
  ASSERT_NE(arena.Allocate(10), nullptr);
  EXPECT_EQ(arena.capacity(), ScratchArena::kMinChunkBytes);
}

TEST(ScratchArenaTest, ImpossibleSizesFailWithoutAllocating) {
  ScratchArena arena;
  EXPECT_EQ(arena.Allocate(SIZE_MAX), nullptr);
  EXPECT_EQ(arena.Allocate(SIZE_MAX - 10), nullptr);
  EXPECT_EQ(arena.capacity(), 0u);
}

TEST(ScratchArenaTest, ReferencesCountTheOwnerAndEachBlock) {
  auto* arena = new ScratchArena();
  EXPECT_TRUE(arena->sole_owner());
  arena->AddRef();
  EXPECT_FALSE(arena->sole_owner());
  EXPECT_FALSE(arena->DropRef());
  EXPECT_TRUE(arena->sole_owner());
  EXPECT_TRUE(arena->DropRef());
  delete arena;
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_entry_points.cc
 * \brief Tests of run-time generated entry points: each is a distinct function pointer that
 *        reaches the shared dispatcher with its own context, without limit.
 */
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "registration/entry_points.h"

namespace jax_tvm_ffi {
namespace {

// What the last dispatcher call received.
struct Seen {
  XLA_FFI_CallFrame* frame = nullptr;
  void* context = nullptr;
  int calls = 0;
};
thread_local Seen seen_by_first;
thread_local Seen seen_by_second;

// Returns a value derived from the context so the test can check the return path too.
XLA_FFI_Error* Result(void* context, uintptr_t tag) {
  return reinterpret_cast<XLA_FFI_Error*>(reinterpret_cast<uintptr_t>(context) ^ tag);
}

XLA_FFI_Error* FirstDispatcher(XLA_FFI_CallFrame* frame, void* context) {
  seen_by_first = {frame, context, seen_by_first.calls + 1};
  return Result(context, 0x1);
}

XLA_FFI_Error* SecondDispatcher(XLA_FFI_CallFrame* frame, void* context) {
  seen_by_second = {frame, context, seen_by_second.calls + 1};
  return Result(context, 0x2);
}

void* Context(size_t i) { return reinterpret_cast<void*>(0x10000 + 16 * i); }

XLA_FFI_CallFrame* Frame(size_t i) {
  return reinterpret_cast<XLA_FFI_CallFrame*>(0x900000 + 8 * i);
}

TEST(EntryPointsTest, EntryPointsAreDistinct) {
  EntryPointPool pool(&FirstDispatcher);
  std::set<XLA_FFI_Handler*> handlers;
  for (size_t i = 0; i < 10; ++i) {
    XLA_FFI_Handler* handler = pool.Create(Context(i));
    ASSERT_NE(handler, nullptr);
    handlers.insert(handler);
  }
  EXPECT_EQ(handlers.size(), 10u);
  EXPECT_EQ(pool.size(), 10u);
}

TEST(EntryPointsTest, CallReachesDispatcherWithItsOwnContext) {
  EntryPointPool pool(&FirstDispatcher);
  XLA_FFI_Handler* a = pool.Create(Context(1));
  XLA_FFI_Handler* b = pool.Create(Context(2));
  seen_by_first = {};

  EXPECT_EQ(b(Frame(7)), Result(Context(2), 0x1));
  EXPECT_EQ(seen_by_first.calls, 1);
  EXPECT_EQ(seen_by_first.context, Context(2));
  EXPECT_EQ(seen_by_first.frame, Frame(7));

  EXPECT_EQ(a(Frame(3)), Result(Context(1), 0x1));
  EXPECT_EQ(seen_by_first.calls, 2);
  EXPECT_EQ(seen_by_first.context, Context(1));
  EXPECT_EQ(seen_by_first.frame, Frame(3));
}

TEST(EntryPointsTest, ThousandEntryPointsSpanningPagesAllWork) {
  constexpr size_t kCount = 1000;
  EntryPointPool pool(&FirstDispatcher);
  std::vector<XLA_FFI_Handler*> handlers;
  for (size_t i = 0; i < kCount; ++i) handlers.push_back(pool.Create(Context(i)));
  EXPECT_EQ(pool.size(), kCount);
  EXPECT_EQ(std::set<XLA_FFI_Handler*>(handlers.begin(), handlers.end()).size(), kCount);
  seen_by_first = {};
  // Call in reverse so that a stale context from the previous call cannot pass for the right one.
  for (size_t i = kCount; i-- > 0;) {
    ASSERT_EQ(handlers[i](Frame(i)), Result(Context(i), 0x1)) << i;
    ASSERT_EQ(seen_by_first.context, Context(i)) << i;
    ASSERT_EQ(seen_by_first.frame, Frame(i)) << i;
  }
  EXPECT_EQ(seen_by_first.calls, static_cast<int>(kCount));
}

TEST(EntryPointsTest, PoolsKeepTheirOwnDispatcher) {
  EntryPointPool first(&FirstDispatcher);
  EntryPointPool second(&SecondDispatcher);
  XLA_FFI_Handler* a = first.Create(Context(1));
  XLA_FFI_Handler* b = second.Create(Context(1));
  EXPECT_NE(a, b);
  seen_by_first = {};
  seen_by_second = {};
  EXPECT_EQ(b(Frame(1)), Result(Context(1), 0x2));
  EXPECT_EQ(seen_by_first.calls, 0);
  EXPECT_EQ(seen_by_second.calls, 1);
  EXPECT_EQ(a(Frame(2)), Result(Context(1), 0x1));
  EXPECT_EQ(seen_by_first.calls, 1);
  EXPECT_EQ(seen_by_second.calls, 1);
}

TEST(EntryPointsTest, CallableFromOtherThreads) {
  EntryPointPool pool(&FirstDispatcher);
  std::vector<XLA_FFI_Handler*> handlers;
  for (size_t i = 0; i < 100; ++i) handlers.push_back(pool.Create(Context(i)));
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (size_t i = 0; i < handlers.size(); ++i) {
          if (handlers[i](Frame(t)) != Result(Context(i), 0x1)) ++failures[t];
          if (seen_by_first.context != Context(i) || seen_by_first.frame != Frame(t)) {
            ++failures[t];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t t = 0; t < failures.size(); ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace jax_tvm_ffi

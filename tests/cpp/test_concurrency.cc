/*!
 * \file test_concurrency.cc
 * \brief Tests of the core driven from many threads at once, as XLA's thread pools drive it:
 *        concurrent calls of one target, re-registration while calls run, new targets while
 *        others run, scratch memory from many threads, and the Python exit guard under
 *        concurrent calls. Every call goes through the handler RegisterTarget returns, with the
 *        fake XLA API.
 *
 * The checks hold in every build; the ThreadSanitizer build (-DJAX_TVM_FFI_TSAN=ON) also fails
 * any of them on a data race in the core, which a test that merely passes could hide.
 * Worker threads never use gtest assertions: they count what went wrong, and the test thread
 * checks the counts after joining them.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_xla_api.h"
#include "jax_tvm_ffi/scratch.h"
#include "jax_tvm_ffi/target.h"
#include "registration/registry.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using testing::ErrorInfo;
using testing::FakeExecutionContext;
using ::testing::HasSubstr;
using testing::TakeError;
using tvm::ffi::Function;
using tvm::ffi::Tensor;
using tvm::ffi::TensorView;

// Enough threads to outnumber the cores of a CI machine, so calls interleave mid-call.
constexpr int kThreads = 8;
// The elements of every buffer: enough that a torn or mixed-up result shows.
constexpr int64_t kElements = 16;

std::string TargetName(const std::string& suffix = "") {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("concurrency.") + info->name() + suffix;
}

// Runs body(thread_index) on `count` threads at once and waits for them all.
template <typename Body>
void OnThreads(int count, Body body) {
  std::vector<std::thread> threads;
  for (int t = 0; t < count; ++t) threads.emplace_back([&body, t] { body(t); });
  for (std::thread& thread : threads) thread.join();
}

// Calls `handler` with x (int64[n]), y (int64[n]) and, if `k` is given, the attribute k (int64)
// on `context`; returns the error message, empty on success, and the error's code in `code`.
std::string CallWith(XLA_FFI_Handler* handler, std::vector<int64_t>& x, std::vector<int64_t>& y,
                     FakeExecutionContext& context, XLA_FFI_Error_Code* code = nullptr,
                     const int64_t* k = nullptr) {
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_S64, x.data(), {static_cast<int64_t>(x.size())});
  builder.AddRet(XLA_FFI_DataType_S64, y.data(), {static_cast<int64_t>(y.size())});
  if (k != nullptr) builder.attrs().Scalar<int64_t>("k", XLA_FFI_DataType_S64, *k);
  XLA_FFI_Error* error = handler(builder.Build(context.get()));
  if (error == nullptr) return "";
  ErrorInfo info = TakeError(error);
  if (code != nullptr) *code = info.code;
  return info.message.empty() ? "(error without a message)" : info.message;
}

const int64_t* In(const TensorView& x) { return static_cast<const int64_t*>(x.data_ptr()); }
int64_t* Out(const TensorView& y) { return static_cast<int64_t*>(y.data_ptr()); }

// ---------------------------------------------------------------------------------------------
// Many threads calling one target

// How a target of the concurrent-calls test is registered: each variant takes another path
// through the core (straight path, attribute decoding, owned tensors, the checking mode).
struct CallVariant {
  const char* name;
  std::vector<std::string> spec;
  bool pass_owned_tensor;
  uint32_t check;
};

class ConcurrentCallsTest : public ::testing::TestWithParam<CallVariant> {};

// y = 3 * x + k, with k the attribute `k` if the function takes it, else 7.
Function ThreeXPlusK(bool takes_k) {
  if (takes_k) {
    return Function::FromTyped([](TensorView x, TensorView y, int64_t k) {
      for (int64_t i = 0; i < x.size(0); ++i) Out(y)[i] = 3 * In(x)[i] + k;
    });
  }
  return Function::FromTyped([](TensorView x, TensorView y) {
    for (int64_t i = 0; i < x.size(0); ++i) Out(y)[i] = 3 * In(x)[i] + 7;
  });
}

TEST_P(ConcurrentCallsTest, ManyThreadsCallOneTargetAndEachGetsItsOwnResult) {
  const CallVariant& variant = GetParam();
  const bool has_k = variant.spec.size() == 3;
  TargetOptions options;
  options.pass_owned_tensor = variant.pass_owned_tensor;
  options.check = variant.check;
  XLA_FFI_Handler* handler =
      RegisterTarget(TargetName(), ThreeXPlusK(has_k), ArgSpec::Parse(variant.spec), options);
  constexpr int kCalls = 200;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::string> first_error(kThreads);
  OnThreads(kThreads, [&](int t) {
    FakeExecutionContext context;
    for (int i = 0; i < kCalls; ++i) {
      const int64_t base = (static_cast<int64_t>(t) << 32) + i * kElements;
      std::vector<int64_t> x(kElements);
      for (int64_t j = 0; j < kElements; ++j) x[j] = base + j;
      std::vector<int64_t> y(kElements, -1);
      const int64_t k = has_k ? t * 1000 + i : 7;
      std::string error = CallWith(handler, x, y, context, nullptr, has_k ? &k : nullptr);
      bool right = error.empty();
      for (int64_t j = 0; j < kElements && right; ++j) right = y[j] == 3 * x[j] + k;
      if (!right) {
        if (wrong[t]++ == 0) first_error[t] = error.empty() ? "wrong result" : error;
      }
    }
  });
  EXPECT_EQ(wrong, std::vector<int>(kThreads, 0)) << ::testing::PrintToString(first_error);
  EXPECT_EQ(testing::LiveErrorCount(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Paths, ConcurrentCallsTest,
    ::testing::Values(CallVariant{"Default", {"args", "rets"}, false, kCheckNone},
                      CallVariant{"Attribute", {"args", "rets", "attrs.k"}, false, kCheckNone},
                      CallVariant{"OwnedTensors", {"args", "rets", "attrs.k"}, true, kCheckNone},
                      CallVariant{"Checked",
                                  {"args", "rets", "attrs.k"},
                                  false,
                                  kCheckGuards | kCheckInputs | kCheckNonFinite}),
    [](const ::testing::TestParamInfo<CallVariant>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Re-registration while calls run

// What each registered function holds (a model, say): its tag, read by every call, and a count
// of how many such objects were destroyed.
struct Model {
  Model(int64_t tag, std::atomic<int>* destroyed) : tag(tag), destroyed(destroyed) {}
  ~Model() { destroyed->fetch_add(1); }
  const int64_t tag;
  std::atomic<int>* const destroyed;
};

// Results encode the function that made them: y = x + tag * kTagScale, with x below kTagScale.
constexpr int64_t kTagScale = int64_t{1} << 40;

Function Tagged(std::shared_ptr<Model> model) {
  return Function::FromTyped([model](TensorView x, TensorView y) {
    for (int64_t i = 0; i < x.size(0); ++i) {
      Out(y)[i] = In(x)[i] + model->tag * kTagScale;
      // Gives another thread the chance to re-register mid-call.
      if (i == x.size(0) / 2) std::this_thread::yield();
    }
  });
}

TEST(ReRegistrationTest, CallsSeeOneWholeRegisteredFunctionAndReplacedOnesAreReleased) {
  constexpr int kCallers = kThreads - 1;  // one thread re-registers
  constexpr int kRegistrations = 2000;
  std::atomic<int> destroyed{0};
  auto options_of = [](int tag) {
    TargetOptions options;
    // Registrations alternate between borrowed and owned tensors, so calls racing a
    // re-registration also race a change of the path the call takes.
    options.pass_owned_tensor = tag % 2 == 1;
    return options;
  };
  XLA_FFI_Handler* handler =
      RegisterTarget(TargetName(), Tagged(std::make_shared<Model>(0, &destroyed)),
                     ArgSpec::Default(), options_of(0));
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::vector<int> failed(kCallers, 0), garbage(kCallers, 0), went_back(kCallers, 0);
  std::vector<int64_t> last_tag(kCallers, 0);
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      FakeExecutionContext context;
      std::vector<int64_t> x(kElements);
      for (int64_t j = 0; j < kElements; ++j) x[j] = t * kElements + j;
      while (!stop.load()) {
        std::vector<int64_t> y(kElements, -1);
        if (!CallWith(handler, x, y, context).empty()) {
          ++failed[t];
        } else {
          const int64_t tag = (y[0] - x[0]) / kTagScale;
          bool whole = tag >= 0 && tag <= kRegistrations;
          for (int64_t j = 0; j < kElements && whole; ++j) whole = y[j] == x[j] + tag * kTagScale;
          if (!whole) {
            ++garbage[t];
          } else {
            // Once a thread has seen a registration, it never sees an older one again.
            if (tag < last_tag[t]) ++went_back[t];
            last_tag[t] = std::max(last_tag[t], tag);
          }
        }
        calls.fetch_add(1);
      }
    });
  }
  // The re-registrations start once every caller is calling.
  while (calls.load() < kCallers * 20) std::this_thread::yield();
  std::weak_ptr<Model> newest;
  for (int tag = 1; tag <= kRegistrations; ++tag) {
    auto model = std::make_shared<Model>(tag, &destroyed);
    newest = model;
    EXPECT_EQ(
        RegisterTarget(TargetName(), Tagged(std::move(model)), ArgSpec::Default(), options_of(tag)),
        handler);
    // Each registration is followed by calls before the next, however the threads are
    // scheduled, so that every registration races calls.
    const int mark = calls.load();
    while (calls.load() < mark + kCallers) std::this_thread::yield();
  }
  stop.store(true);
  for (std::thread& caller : callers) caller.join();

  EXPECT_EQ(failed, std::vector<int>(kCallers, 0));
  EXPECT_EQ(garbage, std::vector<int>(kCallers, 0));
  EXPECT_EQ(went_back, std::vector<int>(kCallers, 0));
  // Every replaced function was released, by the registering thread or by the last call running
  // it; the current one is kept.
  EXPECT_EQ(destroyed.load(), kRegistrations);
  EXPECT_FALSE(newest.expired());
  RegistrationSlots slots = GetRegistrationSlots(TargetName(), Platform::kCpu);
  EXPECT_EQ(slots.holding_a_function, 1u);
  EXPECT_LE(slots.made, static_cast<size_t>(kCallers + 2));
  // After the race, every call gets the newest function.
  FakeExecutionContext context;
  std::vector<int64_t> x(kElements, 1), y(kElements, -1);
  ASSERT_EQ(CallWith(handler, x, y, context), "");
  EXPECT_EQ(y[0], 1 + kRegistrations * kTagScale);
}

// Registering new targets (new entry points, new pages of them) while calls of targets
// registered just before run on other threads.
TEST(ReRegistrationTest, NewTargetsRegisteredWhileOthersRunAreCallableAtOnce) {
  constexpr int kTargets = 600;  // more than one page of entry points
  std::vector<std::atomic<XLA_FFI_Handler*>> handlers(kTargets);
  for (std::atomic<XLA_FFI_Handler*>& handler : handlers) handler.store(nullptr);
  std::atomic<int> published{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> calls{0};
  std::vector<int> wrong(kThreads - 1, 0);
  OnThreads(kThreads, [&](int t) {
    if (t == 0) {
      for (int i = 0; i < kTargets; ++i) {
        handlers[i].store(RegisterTarget(TargetName("." + std::to_string(i)),
                                         Tagged(std::make_shared<Model>(i, &destroyed)),
                                         ArgSpec::Default(), TargetOptions{}));
        published.store(i + 1);
        // Calls run between registrations, however the threads are scheduled (the callers stop
        // once the last target is published).
        const int mark = calls.load();
        while (i + 1 < kTargets && calls.load() < mark + kThreads) std::this_thread::yield();
      }
      return;
    }
    FakeExecutionContext context;
    std::vector<int64_t> x(kElements, 5);
    // Each caller calls the newest target and one picked by its own sequence, until all are in.
    for (uint32_t n = t; published.load() < kTargets; n = n * 1103515245u + 12345u) {
      const int count = published.load();
      if (count == 0) continue;
      for (int i : {count - 1, static_cast<int>(n % static_cast<uint32_t>(count))}) {
        std::vector<int64_t> y(kElements, -1);
        std::string error = CallWith(handlers[i].load(), x, y, context);
        if (!error.empty() || y[kElements - 1] != 5 + i * kTagScale) ++wrong[t - 1];
        calls.fetch_add(1);
      }
    }
  });
  EXPECT_EQ(wrong, std::vector<int>(kThreads - 1, 0));
  EXPECT_EQ(destroyed.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Scratch memory from many threads

// The value a call stores at element i of its scratch tensor `which`: unique to the call, the
// tensor and the element, so any overlap between live tensors (of this call or of another
// thread's) changes some element.
int64_t Pattern(int64_t call, int64_t which, int64_t i) { return (call << 24) + (which << 16) + i; }

// Elements of scratch tensor `which` of a call whose first input is `call`: sizes differ between
// calls so that the allocator's blocks do not line up.
int64_t ScratchElements(int64_t call, int64_t which) { return 8 + (call + which) % 5 * 24; }

// A kernel that takes three scratch tensors of int64 on `device`, fills them, yields, checks
// them, and writes y[0] = 1 if all three were intact and disjoint, else 0; y[1] counts them.
Function ScratchKernel(DLDevice device) {
  return Function::FromTyped([device](TensorView x, TensorView y) {
    const int64_t call = In(x)[0];
    std::vector<Tensor> tensors;
    for (int64_t which = 0; which < 3; ++which) {
      int64_t n = ScratchElements(call, which);
      tensors.push_back(Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, tvm::ffi::ShapeView(&n, 1),
                                             DLDataType{kDLInt, 64, 1}, device));
      int64_t* data = static_cast<int64_t*>(tensors.back().data_ptr());
      for (int64_t i = 0; i < n; ++i) data[i] = Pattern(call, which, i);
      std::this_thread::yield();
    }
    bool intact = true;
    for (int64_t which = 0; which < 3; ++which) {
      const int64_t* data = static_cast<const int64_t*>(tensors[which].data_ptr());
      for (int64_t i = 0; i < ScratchElements(call, which); ++i) {
        intact = intact && data[i] == Pattern(call, which, i);
      }
    }
    Out(y)[0] = intact ? 1 : 0;
    Out(y)[1] = static_cast<int64_t>(tensors.size());
  });
}

class ScratchFromManyThreadsTest : public ::testing::TestWithParam<Platform> {};

TEST_P(ScratchFromManyThreadsTest, EveryCallGetsIntactMemoryAndEveryByteGoesBack) {
  const Platform platform = GetParam();
  const DLDevice device{platform == Platform::kCpu ? kDLCPU : kDLCUDA, 0};
  TargetOptions options;
  options.platform = platform;
  XLA_FFI_Handler* handler =
      RegisterTarget(TargetName(), ScratchKernel(device), ArgSpec::Default(), options);
  constexpr int kCalls = 100;
  std::vector<int> wrong(kThreads, 0), device_leaks(kThreads, 0);
  std::vector<std::string> first_error(kThreads);
  OnThreads(kThreads, [&](int t) {
    FakeExecutionContext context;
    for (int i = 0; i < kCalls; ++i) {
      std::vector<int64_t> x(kElements, t * kCalls + i);
      std::vector<int64_t> y(kElements, -1);
      std::string error = CallWith(handler, x, y, context);
      if (!error.empty() || y[0] != 1 || y[1] != 3) {
        if (wrong[t]++ == 0) first_error[t] = error.empty() ? "scratch was overwritten" : error;
      }
    }
    // On GPU, every block XLA lent this thread's calls came back, each exactly once.
    if (platform != Platform::kCpu) {
      device_leaks[t] = static_cast<int>(context.device_allocations.size()) +
                        context.bad_device_frees + (context.device_allocate_calls != 3 * kCalls) +
                        (context.device_free_calls != 3 * kCalls);
    }
  });
  EXPECT_EQ(wrong, std::vector<int>(kThreads, 0)) << ::testing::PrintToString(first_error);
  EXPECT_EQ(device_leaks, std::vector<int>(kThreads, 0));
  // The target's counters add up every thread's calls, and nothing is left outstanding.
  uint64_t peak = 0;
  for (int64_t call = 0; call < kThreads * kCalls; ++call) {
    uint64_t bytes = 0;
    for (int64_t which = 0; which < 3; ++which) bytes += 8 * ScratchElements(call, which);
    peak = std::max(peak, bytes);
  }
  ScratchUsage usage = GetScratchUsage(TargetName(), platform);
  EXPECT_EQ(usage.total_allocations, 3u * kThreads * kCalls);
  EXPECT_EQ(usage.outstanding_allocations, 0u);
  EXPECT_EQ(usage.last_call_allocations, 3u);
  EXPECT_EQ(usage.peak_bytes, peak);
}

INSTANTIATE_TEST_SUITE_P(Devices, ScratchFromManyThreadsTest,
                         ::testing::Values(Platform::kCpu, Platform::kCuda),
                         [](const ::testing::TestParamInfo<Platform>& info) {
                           return info.param == Platform::kCpu ? "Cpu" : "Gpu";
                         });

// ---------------------------------------------------------------------------------------------
// The Python exit guard under concurrent calls

// While threads call a Python-backed target, BlockPythonCalls() is called and the test waits for
// PythonCallsInFlight() to reach 0, as the exit handler does. From then on no call may enter the
// function, and each thread, once refused, stays refused. (Irreversible: ctest runs each test
// in its own process.)
TEST(PythonGuardConcurrencyTest, NoCallEntersTheFunctionOnceTheInFlightCountReachedZero) {
  constexpr int kRefusalsPerThread = 20;
  std::atomic<bool> drained{false};
  std::atomic<int> entered{0}, entered_after_drain{0}, uncounted{0}, refusals{0};
  TargetOptions options;
  options.python_backed = true;
  XLA_FFI_Handler* handler =
      RegisterTarget(TargetName(), Function::FromTyped([&](TensorView x, TensorView y) {
                       if (drained.load()) entered_after_drain.fetch_add(1);
                       if (PythonCallsInFlight() == 0) uncounted.fetch_add(1);
                       entered.fetch_add(1);
                       for (int64_t i = 0; i < x.size(0); ++i) Out(y)[i] = In(x)[i];
                     }),
                     ArgSpec::Default(), options);
  std::vector<int> succeeded_after_refusal(kThreads, 0), other_errors(kThreads, 0);
  std::vector<std::string> refusal(kThreads);
  OnThreads(kThreads + 1, [&](int t) {
    if (t == kThreads) {
      // Calls are blocked once the calls are under way (or at once where an earlier test of
      // this process blocked them: then this test fails instead of waiting forever).
      while (entered.load() < kThreads * 10 && refusals.load() == 0) std::this_thread::yield();
      BlockPythonCalls();
      while (PythonCallsInFlight() != 0) std::this_thread::yield();
      drained.store(true);
      return;
    }
    FakeExecutionContext context;
    std::vector<int64_t> x(kElements, t);
    for (int refused = 0; refused < kRefusalsPerThread;) {
      std::vector<int64_t> y(kElements, -1);
      XLA_FFI_Error_Code code = XLA_FFI_Error_Code_OK;
      std::string error = CallWith(handler, x, y, context, &code);
      if (error.empty()) {
        if (refused > 0) ++succeeded_after_refusal[t];
      } else if (code == XLA_FFI_Error_Code_CANCELLED) {
        if (refused++ == 0) refusal[t] = error;
        refusals.fetch_add(1);
      } else {
        ++other_errors[t];
      }
    }
  });
  EXPECT_GE(entered.load(), kThreads * 10) << "calls were refused before this test blocked them";
  EXPECT_EQ(entered_after_drain.load(), 0);
  EXPECT_EQ(uncounted.load(), 0);
  EXPECT_EQ(succeeded_after_refusal, std::vector<int>(kThreads, 0));
  EXPECT_EQ(other_errors, std::vector<int>(kThreads, 0));
  for (const std::string& message : refusal) {
    EXPECT_THAT(message, HasSubstr(TargetName()));
    EXPECT_THAT(message, HasSubstr("shutting down"));
  }
  EXPECT_EQ(PythonCallsInFlight(), 0u);
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_registry.cc
 * \brief Tests of the process-wide target registry: one stable handler per (name, platform),
 *        re-registration in place, release of replaced functions, argument checks, scale, thread
 *        safety, platform names.
 *
 * The registry is global and every test of this executable may share a process with the others,
 * so each test uses its own target names and checks counts as differences.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fake_xla_api.h"
#include "jax_tvm_ffi/target.h"
#include "registration/registry.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using testing::FakeExecutionContext;
using ::testing::HasSubstr;
using testing::TakeError;

// The tag of the function that ran last on this thread.
thread_local int64_t last_called = -1;

// A function of no arguments that records `tag` when called.
tvm::ffi::Function Tagged(int64_t tag) {
  return tvm::ffi::Function::FromTyped([tag]() { last_called = tag; });
}

TargetOptions On(Platform platform, bool allow_cuda_graph = false) {
  TargetOptions options;
  options.platform = platform;
  options.allow_cuda_graph = allow_cuda_graph;
  return options;
}

// Calls a handler with an empty frame on CPU; returns the tag of the function that ran, or -1.
int64_t Call(XLA_FFI_Handler* handler) {
  last_called = -1;
  FakeExecutionContext context;
  CallFrameBuilder builder;
  XLA_FFI_Error* error = handler(builder.Build(context.get()));
  if (error != nullptr) {
    ADD_FAILURE() << TakeError(error).message;
    return -1;
  }
  return last_called;
}

// Asks a handler for its traits.
XLA_FFI_Handler_Traits Traits(XLA_FFI_Handler* handler) {
  XLA_FFI_Metadata metadata = testing::EmptyMetadata();
  CallFrameBuilder builder;
  XLA_FFI_Error* error = handler(builder.BuildMetadataQuery(&metadata));
  if (error != nullptr) ADD_FAILURE() << TakeError(error).message;
  return metadata.traits;
}

template <typename F>
tvm::ffi::Error ThrownBy(F&& f) {
  try {
    f();
  } catch (const tvm::ffi::Error& error) {
    return error;
  }
  ADD_FAILURE() << "no tvm::ffi::Error was thrown";
  return tvm::ffi::Error("None", "", "");
}

TEST(RegistryTest, RegisteredHandlerCallsTheFunction) {
  size_t before = RegisteredTargetCount();
  XLA_FFI_Handler* handler =
      RegisterTarget("registry.calls", Tagged(11), ArgSpec::Default(), On(Platform::kCpu));
  ASSERT_NE(handler, nullptr);
  EXPECT_EQ(RegisteredTargetCount(), before + 1);
  EXPECT_EQ(Call(handler), 11);
}

TEST(RegistryTest, ReRegistrationKeepsTheHandlerAndUsesTheNewFunction) {
  XLA_FFI_Handler* first =
      RegisterTarget("registry.again", Tagged(1), ArgSpec::Default(), On(Platform::kCpu));
  size_t count = RegisteredTargetCount();
  EXPECT_EQ(Call(first), 1);
  XLA_FFI_Handler* second =
      RegisterTarget("registry.again", Tagged(2), ArgSpec::Default(), On(Platform::kCpu));
  EXPECT_EQ(second, first);
  EXPECT_EQ(RegisteredTargetCount(), count);
  EXPECT_EQ(Call(first), 2);
  // Options other than the traits may change too.
  TargetOptions owned = On(Platform::kCpu);
  owned.pass_owned_tensor = true;
  EXPECT_EQ(RegisterTarget("registry.again", Tagged(3), ArgSpec::Parse({}), owned), first);
  EXPECT_EQ(RegisteredTargetCount(), count);
  EXPECT_EQ(Call(first), 3);
}

TEST(RegistryTest, SameNameOnAnotherPlatformIsAnotherTarget) {
  size_t before = RegisteredTargetCount();
  XLA_FFI_Handler* cpu =
      RegisterTarget("registry.platforms", Tagged(1), ArgSpec::Default(), On(Platform::kCpu));
  XLA_FFI_Handler* cuda =
      RegisterTarget("registry.platforms", Tagged(2), ArgSpec::Default(), On(Platform::kCuda));
  XLA_FFI_Handler* rocm =
      RegisterTarget("registry.platforms", Tagged(3), ArgSpec::Default(), On(Platform::kRocm));
  EXPECT_EQ(RegisteredTargetCount(), before + 3);
  EXPECT_EQ(std::set<XLA_FFI_Handler*>({cpu, cuda, rocm}).size(), 3u);
  // Registering the CUDA target again leaves the CPU one alone.
  RegisterTarget("registry.platforms", Tagged(4), ArgSpec::Default(), On(Platform::kCuda));
  EXPECT_EQ(Call(cpu), 1);
}

TEST(RegistryTest, ChangingAllowCudaGraphIsRefused) {
  XLA_FFI_Handler* handler = RegisterTarget("registry.graph", Tagged(1), ArgSpec::Default(),
                                            On(Platform::kCuda, /*allow_cuda_graph=*/true));
  EXPECT_EQ(Traits(handler), XLA_FFI_HANDLER_TRAITS_COMMAND_BUFFER_COMPATIBLE);
  size_t count = RegisteredTargetCount();
  tvm::ffi::Error error = ThrownBy([] {
    RegisterTarget("registry.graph", Tagged(2), ArgSpec::Default(),
                   On(Platform::kCuda, /*allow_cuda_graph=*/false));
  });
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("'registry.graph'"));
  EXPECT_THAT(error.message(), HasSubstr("allow_cuda_graph"));
  EXPECT_EQ(RegisteredTargetCount(), count);
  // The refused registration changed nothing.
  EXPECT_EQ(Traits(handler), XLA_FFI_HANDLER_TRAITS_COMMAND_BUFFER_COMPATIBLE);
  // The same traits again are accepted.
  EXPECT_EQ(RegisterTarget("registry.graph", Tagged(3), ArgSpec::Default(),
                           On(Platform::kCuda, /*allow_cuda_graph=*/true)),
            handler);
}

TEST(RegistryTest, EmptyNameIsRefused) {
  size_t count = RegisteredTargetCount();
  tvm::ffi::Error error =
      ThrownBy([] { RegisterTarget("", Tagged(1), ArgSpec::Default(), On(Platform::kCpu)); });
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("name"));
  EXPECT_EQ(RegisteredTargetCount(), count);
}

TEST(RegistryTest, NullFunctionIsRefused) {
  size_t count = RegisteredTargetCount();
  tvm::ffi::Error error = ThrownBy([] {
    RegisterTarget("registry.null", tvm::ffi::Function(nullptr), ArgSpec::Default(),
                   On(Platform::kCpu));
  });
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("'registry.null'"));
  EXPECT_THAT(error.message(), HasSubstr("null"));
  EXPECT_EQ(RegisteredTargetCount(), count);
}

TEST(RegistryTest, TenThousandTargets) {
  constexpr int kCount = 10000;
  size_t before = RegisteredTargetCount();
  std::vector<XLA_FFI_Handler*> handlers;
  for (int i = 0; i < kCount; ++i) {
    handlers.push_back(RegisterTarget("registry.many." + std::to_string(i), Tagged(i),
                                      ArgSpec::Default(), On(Platform::kCpu)));
  }
  EXPECT_EQ(RegisteredTargetCount(), before + kCount);
  EXPECT_EQ(std::set<XLA_FFI_Handler*>(handlers.begin(), handlers.end()).size(),
            static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; i += 97) EXPECT_EQ(Call(handlers[i]), i);
  EXPECT_EQ(Call(handlers[kCount - 1]), kCount - 1);
  // Every target got its own handler, so re-registering them takes none.
  for (int i = 0; i < kCount; i += 1000) {
    EXPECT_EQ(RegisterTarget("registry.many." + std::to_string(i), Tagged(-i), ArgSpec::Default(),
                             On(Platform::kCpu)),
              handlers[i]);
  }
  EXPECT_EQ(RegisteredTargetCount(), before + kCount);
}

TEST(RegistryTest, ConcurrentRegistrationIsSafe) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  constexpr int kShared = 20;
  size_t before = RegisteredTargetCount();
  std::vector<std::vector<XLA_FFI_Handler*>> own(kThreads);
  std::vector<std::vector<XLA_FFI_Handler*>> shared(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &own, &shared] {
      for (int i = 0; i < kPerThread; ++i) {
        own[t].push_back(
            RegisterTarget("registry.threads." + std::to_string(t) + "." + std::to_string(i),
                           Tagged(t * kPerThread + i), ArgSpec::Default(), On(Platform::kCpu)));
        if (i < kShared) {
          shared[t].push_back(RegisterTarget("registry.threads.shared." + std::to_string(i),
                                             Tagged(-1000 - i), ArgSpec::Default(),
                                             On(Platform::kCpu)));
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(RegisteredTargetCount(), before + kThreads * kPerThread + kShared);
  std::set<XLA_FFI_Handler*> distinct;
  for (int t = 0; t < kThreads; ++t) {
    distinct.insert(own[t].begin(), own[t].end());
    EXPECT_EQ(shared[t], shared[0]) << "thread " << t;
    for (int i = 0; i < kPerThread; i += 13) EXPECT_EQ(Call(own[t][i]), t * kPerThread + i);
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads * kPerThread));
  for (int i = 0; i < kShared; ++i) EXPECT_EQ(Call(shared[0][i]), -1000 - i);
}

// A function that runs `body` and holds `held` (what a real function captures: a model, say), so
// that a weak pointer to `held` shows whether the registry still keeps the function.
tvm::ffi::Function Holding(
    std::shared_ptr<int> held, std::function<void()> body = [] {}) {
  return tvm::ffi::Function::FromTyped([held, body]() { body(); });
}

// A gate that threads wait at until the test opens it.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
};

TEST(RegistryTest, ReplacedFunctionIsReleasedAtOnceWhenNoCallRuns) {
  auto model = std::make_shared<int>(1);
  std::weak_ptr<int> watch = model;
  XLA_FFI_Handler* handler = RegisterTarget("registry.release", Holding(std::move(model)),
                                            ArgSpec::Default(), On(Platform::kCpu));
  Call(handler);
  EXPECT_FALSE(watch.expired()) << "the registered function was released";
  RegisterTarget("registry.release", Tagged(2), ArgSpec::Default(), On(Platform::kCpu));
  EXPECT_TRUE(watch.expired()) << "the replaced function is still kept";
  EXPECT_EQ(Call(handler), 2);
  RegistrationSlots slots = GetRegistrationSlots("registry.release", Platform::kCpu);
  EXPECT_EQ(slots.holding_a_function, 1u);
  EXPECT_EQ(slots.made, 2u);
}

// A call of the target `name`, registered with a function that holds a model, running on its
// own thread and held inside the function until Finish().
class BlockedCall {
 public:
  explicit BlockedCall(const std::string& name) {
    auto model = std::make_shared<int>(1);
    watch = model;
    handler = RegisterTarget(name,
                             Holding(std::move(model),
                                     [this] {
                                       last_called = 1;
                                       entered_.Open();
                                       leave_.Wait();
                                     }),
                             ArgSpec::Default(), On(Platform::kCpu));
    caller_ = std::thread([this] { ran_ = Call(handler); });
    entered_.Wait();
  }
  // Lets the call return; returns the tag of the function it ran.
  int64_t Finish() {
    leave_.Open();
    caller_.join();
    return ran_;
  }

  XLA_FFI_Handler* handler = nullptr;
  std::weak_ptr<int> watch;  // expires when the registry releases the function

 private:
  Gate entered_, leave_;
  std::thread caller_;
  int64_t ran_ = -1;
};

TEST(RegistryTest, ReplacedFunctionLivesUntilItsRunningCallReturns) {
  BlockedCall running("registry.running");
  RegisterTarget("registry.running", Tagged(2), ArgSpec::Default(), On(Platform::kCpu));
  // New calls get the new function while the old one is still running.
  EXPECT_EQ(Call(running.handler), 2);
  EXPECT_FALSE(running.watch.expired()) << "the function was released while a call ran it";
  EXPECT_EQ(GetRegistrationSlots("registry.running", Platform::kCpu).holding_a_function, 2u);
  EXPECT_EQ(running.Finish(), 1);
  // The call that ran it last released it on its way out.
  EXPECT_TRUE(running.watch.expired()) << "the replaced function outlived its last call";
  EXPECT_EQ(GetRegistrationSlots("registry.running", Platform::kCpu).holding_a_function, 1u);
}

TEST(RegistryTest, AHundredThousandReRegistrationsKeepTwoSlots) {
  constexpr int kCount = 100000;
  std::weak_ptr<int> first;
  for (int i = 0; i < kCount; ++i) {
    auto model = std::make_shared<int>(i);
    if (i == 0) first = model;
    RegisterTarget("registry.soak", Holding(std::move(model)), ArgSpec::Default(),
                   On(Platform::kCpu));
  }
  EXPECT_TRUE(first.expired());
  RegistrationSlots slots = GetRegistrationSlots("registry.soak", Platform::kCpu);
  EXPECT_EQ(slots.made, 2u);
  EXPECT_EQ(slots.holding_a_function, 1u);
}

// Calls race re-registrations; every function checks that what it holds is still alive while it
// runs (under the sanitizers a use after release is reported as well).
TEST(RegistryTest, CallsRacingReRegistrationNeverRunAReleasedFunction) {
  constexpr int kCallers = 4;
  constexpr int kRegistrations = 20000;
  std::atomic<int> alive{0};
  std::atomic<int> used_released{0};
  // What each function holds: it counts itself alive and marks its release.
  struct Model {
    explicit Model(std::atomic<int>* alive) : alive(alive) { alive->fetch_add(1); }
    ~Model() {
      released.store(true);
      alive->fetch_sub(1);
    }
    std::atomic<int>* alive;
    std::atomic<bool> released{false};
  };
  auto make = [&](int tag) {
    auto model = std::make_shared<Model>(&alive);
    Model* raw = model.get();
    return tvm::ffi::Function::FromTyped([model, raw, tag, &used_released]() {
      if (raw->released.load()) used_released.fetch_add(1);
      last_called = tag;
    });
  };
  XLA_FFI_Handler* handler =
      RegisterTarget("registry.race", make(0), ArgSpec::Default(), On(Platform::kCpu));
  std::atomic<bool> stop{false};
  std::atomic<int> failed_calls{0};
  std::atomic<int> calls{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&] {
      FakeExecutionContext context;
      CallFrameBuilder builder;
      XLA_FFI_CallFrame* frame = builder.Build(context.get());
      while (!stop.load()) {
        if (XLA_FFI_Error* error = handler(frame)) {
          TakeError(error);
          failed_calls.fetch_add(1);
        }
        calls.fetch_add(1);
      }
    });
  }
  // The registrations start once every caller is calling.
  while (calls.load() < kCallers * 100) std::this_thread::yield();
  for (int i = 1; i <= kRegistrations; ++i) {
    RegisterTarget("registry.race", make(i), ArgSpec::Default(), On(Platform::kCpu));
  }
  stop.store(true);
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(used_released.load(), 0);
  EXPECT_EQ(failed_calls.load(), 0);
  // Once the calls are over, only the current function is left.
  EXPECT_EQ(alive.load(), 1);
  RegistrationSlots slots = GetRegistrationSlots("registry.race", Platform::kCpu);
  EXPECT_EQ(slots.holding_a_function, 1u);
  EXPECT_LE(slots.made, static_cast<size_t>(kCallers + 2));
  EXPECT_EQ(Call(handler), kRegistrations);
}

TEST(RegistryTest, AFunctionReplacedDuringExitIsKeptNotReleased) {
  BlockedCall running("registry.exit");
  RegisterTarget("registry.exit", Tagged(2), ArgSpec::Default(), On(Platform::kCpu));
  // The interpreter starts exiting: a release on the call's thread could enter it, so the
  // function must be kept. (Irreversible: each test of this executable runs in its own process.)
  BlockPythonCalls();
  EXPECT_EQ(running.Finish(), 1);
  EXPECT_FALSE(running.watch.expired());
  EXPECT_EQ(PythonCallsInFlight(), 0u);
}

TEST(RegistryTest, RefusedReRegistrationReleasesNothing) {
  auto model = std::make_shared<int>(1);
  std::weak_ptr<int> watch = model;
  XLA_FFI_Handler* handler =
      RegisterTarget("registry.refused", Holding(std::move(model), [] { last_called = 1; }),
                     ArgSpec::Default(), On(Platform::kCpu, /*allow_cuda_graph=*/true));
  ThrownBy([] {
    RegisterTarget("registry.refused", Tagged(2), ArgSpec::Default(),
                   On(Platform::kCpu, /*allow_cuda_graph=*/false));
  });
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(Call(handler), 1);
  EXPECT_EQ(GetRegistrationSlots("registry.refused", Platform::kCpu).made, 1u);
}

TEST(RegistryTest, ParsePlatformAcceptsKnownNamesInAnyCase) {
  EXPECT_EQ(ParsePlatform("cpu"), Platform::kCpu);
  EXPECT_EQ(ParsePlatform("CPU"), Platform::kCpu);
  EXPECT_EQ(ParsePlatform("gpu"), Platform::kCuda);
  EXPECT_EQ(ParsePlatform("Gpu"), Platform::kCuda);
  EXPECT_EQ(ParsePlatform("cuda"), Platform::kCuda);
  EXPECT_EQ(ParsePlatform("CUDA"), Platform::kCuda);
  EXPECT_EQ(ParsePlatform("rocm"), Platform::kRocm);
  EXPECT_EQ(ParsePlatform("ROCm"), Platform::kRocm);
}

TEST(RegistryTest, ParsePlatformRejectsOthersListingTheChoices) {
  for (const char* name : {"tpu", "", "cuda ", "host"}) {
    tvm::ffi::Error error = ThrownBy([name] { ParsePlatform(name); });
    EXPECT_EQ(error.kind(), "ValueError") << name;
    EXPECT_THAT(error.message(), HasSubstr("\"" + std::string(name) + "\"")) << name;
    for (const char* choice : {"\"cpu\"", "\"gpu\"", "\"cuda\"", "\"rocm\""}) {
      EXPECT_THAT(error.message(), HasSubstr(choice)) << name;
    }
  }
}

TEST(RegistryTest, XlaPlatformNames) {
  EXPECT_STREQ(XlaPlatformName(Platform::kCpu), "Host");
  EXPECT_STREQ(XlaPlatformName(Platform::kCuda), "CUDA");
  EXPECT_STREQ(XlaPlatformName(Platform::kRocm), "ROCM");
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_registry.cc
 * \brief Tests of the process-wide target registry: one stable handler per (name, platform),
 *        re-registration in place, argument checks, scale, thread safety, platform names.
 *
 * The registry is global and every test of this executable may share a process with the others,
 * so each test uses its own target names and checks counts as differences.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fake_xla_api.h"
#include "jax_tvm_ffi/target.h"

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

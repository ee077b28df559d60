/*!
 * \file test_scratch_allocator.cc
 * \brief Tests of scratch memory: kernels calling Tensor::FromEnvAlloc during a call, on CPU
 *        (the per-call arena) and on a fake GPU (XLA's device allocator, faked), through the
 *        registry's handlers exactly as XLA calls them.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fake_xla_api.h"
#include "jax_tvm_ffi/scratch.h"
#include "jax_tvm_ffi/target.h"
#include "scratch/scratch_allocator.h"

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

constexpr DLDataType kF32{kDLFloat, 32, 1};
constexpr DLDataType kI32{kDLInt, 32, 1};
constexpr DLDevice kCpu{kDLCPU, 0};

std::string TargetName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("scratch.") + info->test_suite_name() + "." + info->name();
}

XLA_FFI_Handler* Register(Function function, Platform platform = Platform::kCpu,
                          const std::string& suffix = "") {
  TargetOptions options;
  options.platform = platform;
  return RegisterTarget(TargetName() + suffix, std::move(function), ArgSpec::Default(), options);
}

ScratchUsage Usage(Platform platform = Platform::kCpu, const std::string& suffix = "") {
  return GetScratchUsage(TargetName() + suffix, platform);
}

Tensor Scratch(std::vector<int64_t> shape, DLDataType dtype = kF32, DLDevice device = kCpu) {
  return Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, tvm::ffi::ShapeView(shape.data(), shape.size()),
                              dtype, device);
}

bool Aligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

struct CallResult {
  bool ok;
  ErrorInfo error;
};

// Calls `handler` with x (float32[n]) and y (float32[n]).
CallResult CallWith(XLA_FFI_Handler* handler, std::vector<float>& x, std::vector<float>& y,
                    FakeExecutionContext& context) {
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x.data(), {static_cast<int64_t>(x.size())});
  builder.AddRet(XLA_FFI_DataType_F32, y.data(), {static_cast<int64_t>(y.size())});
  XLA_FFI_Error* error = handler(builder.Build(context.get()));
  if (error == nullptr) return {true, {XLA_FFI_Error_Code_OK, ""}};
  return {false, TakeError(error)};
}

CallResult Call(XLA_FFI_Handler* handler, size_t n = 4) {
  std::vector<float> x(n, 1.0f);
  std::vector<float> y(n, 0.0f);
  FakeExecutionContext context;
  return CallWith(handler, x, y, context);
}

// y = 2 * x + 1 through two temporaries: t = 2 * x (float32), c = 1 (int32 pairs).
Function TwoTemporaries(std::shared_ptr<std::vector<void*>> seen) {
  return Function::FromTyped([seen](TensorView x, TensorView y) {
    const int64_t n = x.size(0);
    Tensor twice = Scratch({n});
    Tensor ones = Scratch({n, 2}, kI32);
    seen->push_back(twice.data_ptr());
    seen->push_back(ones.data_ptr());
    const float* in = static_cast<const float*>(x.data_ptr());
    float* t = static_cast<float*>(twice.data_ptr());
    int32_t* c = static_cast<int32_t*>(ones.data_ptr());
    for (int64_t i = 0; i < n; ++i) {
      t[i] = 2 * in[i];
      c[2 * i] = 1;
      c[2 * i + 1] = 0;
    }
    float* out = static_cast<float*>(y.data_ptr());
    for (int64_t i = 0; i < n; ++i) out[i] = t[i] + static_cast<float>(c[2 * i] + c[2 * i + 1]);
  });
}

// ---------------------------------------------------------------------------------------------
// CPU: the per-call arena

TEST(CpuScratchTest, KernelUsesTwoTemporaries) {
  auto seen = std::make_shared<std::vector<void*>>();
  XLA_FFI_Handler* handler = Register(TwoTemporaries(seen));
  std::vector<float> x = {0, 1, 2, 3, 4};
  std::vector<float> y(5, -1);
  FakeExecutionContext context;
  CallResult result = CallWith(handler, x, y, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_EQ(y, (std::vector<float>{1, 3, 5, 7, 9}));
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_TRUE(Aligned((*seen)[0], kCpuScratchAlignment));
  EXPECT_TRUE(Aligned((*seen)[1], kCpuScratchAlignment));
  EXPECT_NE((*seen)[0], (*seen)[1]);
  ScratchUsage usage = Usage();
  EXPECT_EQ(usage.last_call_allocations, 2u);
  EXPECT_EQ(usage.last_call_peak_bytes, 5u * 4 + 5u * 2 * 4);
  EXPECT_EQ(usage.total_allocations, 2u);
  EXPECT_EQ(usage.peak_bytes, 60u);
  EXPECT_EQ(usage.outstanding_allocations, 0u);
}

TEST(CpuScratchTest, CallsReuseTheSameMemory) {
  auto seen = std::make_shared<std::vector<void*>>();
  XLA_FFI_Handler* handler = Register(TwoTemporaries(seen));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Call(handler, 1000).ok);
  ASSERT_EQ(seen->size(), 200u);
  for (size_t i = 2; i < seen->size(); ++i) EXPECT_EQ((*seen)[i], (*seen)[i % 2]) << i;
  ScratchUsage usage = Usage();
  EXPECT_EQ(usage.total_allocations, 200u);
  EXPECT_EQ(usage.last_call_allocations, 2u);
  EXPECT_EQ(usage.peak_bytes, 12000u);
  EXPECT_EQ(usage.outstanding_allocations, 0u);
}

TEST(CpuScratchTest, FailingKernelGivesItsScratchBack) {
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
    Tensor t = Scratch({1 << 20});
    static_cast<float*>(t.data_ptr())[0] = 1;
    TVM_FFI_THROW(ValueError) << "kernel failed after allocating";
  }));
  for (int i = 0; i < 3; ++i) {
    CallResult result = Call(handler);
    ASSERT_FALSE(result.ok);
    EXPECT_EQ(result.error.code, XLA_FFI_Error_Code_INVALID_ARGUMENT);
    EXPECT_THAT(result.error.message, HasSubstr("ValueError: kernel failed after allocating"));
  }
  ScratchUsage usage = Usage();
  EXPECT_EQ(usage.outstanding_allocations, 0u);
  EXPECT_EQ(usage.last_call_allocations, 1u);
  EXPECT_EQ(usage.total_allocations, 3u);
  EXPECT_EQ(usage.peak_bytes, 4u << 20);
}

TEST(CpuScratchTest, AllocateReleaseLoopDoesNotGrowThePeak) {
  auto seen = std::make_shared<std::vector<void*>>();
  XLA_FFI_Handler* handler = Register(Function::FromTyped([seen](TensorView, TensorView) {
    for (int i = 0; i < 1000; ++i) seen->push_back(Scratch({1024}).data_ptr());
  }));
  ASSERT_TRUE(Call(handler).ok);
  for (void* p : *seen) EXPECT_EQ(p, seen->front());
  EXPECT_EQ(Usage().last_call_allocations, 1000u);
  EXPECT_EQ(Usage().last_call_peak_bytes, 4096u);
}

TEST(CpuScratchTest, ZeroSizedAndScalarTensors) {
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
    Tensor empty = Scratch({0, 3});
    Tensor scalar = Scratch({});
    TVM_FFI_ICHECK(empty.data_ptr() != nullptr);
    TVM_FFI_ICHECK_EQ(empty.numel(), 0);
    TVM_FFI_ICHECK_EQ(scalar.ndim(), 0);
    TVM_FFI_ICHECK(empty.IsContiguous());
    *static_cast<float*>(scalar.data_ptr()) = 1;
  }));
  CallResult result = Call(handler);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_EQ(Usage().last_call_peak_bytes, 4u);
}

TEST(CpuScratchTest, TensorsReportShapeStridesAndDevice) {
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
    Tensor t = Scratch({2, 3, 4}, DLDataType{kDLBfloat, 16, 1});
    TVM_FFI_ICHECK_EQ(t.ndim(), 3);
    TVM_FFI_ICHECK_EQ(t.size(2), 4);
    TVM_FFI_ICHECK_EQ(t.strides()[0], 12);
    TVM_FFI_ICHECK_EQ(t.strides()[2], 1);
    TVM_FFI_ICHECK_EQ(t.device().device_type, kDLCPU);
    TVM_FFI_ICHECK_EQ(t.dtype().code, kDLBfloat);
  }));
  CallResult result = Call(handler);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_EQ(Usage().last_call_peak_bytes, 48u);
}

TEST(CpuScratchTest, InvalidRequestsFailTheCallWithTheReason) {
  struct Case {
    std::vector<int64_t> shape;
    DLDataType dtype;
    DLDevice device;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{4, -1}, kF32, kCpu, "invalid scratch tensor: dimension 1 is -1"},
      {{4}, DLDataType{kDLFloat, 0, 1}, kCpu, "invalid scratch tensor: the dtype has zero bits"},
      {{int64_t{1} << 40, int64_t{1} << 40},
       kF32,
       kCpu,
       "float32[1099511627776, 1099511627776] is too large: more than 2^64 elements"},
      {{4}, kF32, DLDevice{kDLCUDA, 0}, "no scratch memory on cuda:0 during a call on cpu:0"},
      {{4}, kF32, DLDevice{kDLExtDev, 0}, "no scratch memory on device type 12:0"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    XLA_FFI_Handler* handler = Register(
        Function::FromTyped([c](TensorView, TensorView) { Scratch(c.shape, c.dtype, c.device); }),
        Platform::kCpu, std::to_string(i));
    CallResult result = Call(handler);
    ASSERT_FALSE(result.ok) << i;
    EXPECT_EQ(result.error.code, XLA_FFI_Error_Code_INVALID_ARGUMENT) << i;
    EXPECT_THAT(result.error.message, HasSubstr(c.message)) << i;
    EXPECT_THAT(result.error.message, HasSubstr("jax_tvm_ffi target '" + TargetName())) << i;
    EXPECT_EQ(Usage(Platform::kCpu, std::to_string(i)).total_allocations, 0u) << i;
  }
}

Tensor& KeptTensor() {
  static Tensor* kept = new Tensor();
  return *kept;
}

TEST(CpuScratchTest, KeptTensorFailsTheCallButStaysValidUntilReleased) {
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
    KeptTensor() = Scratch({256});
    Tensor dropped = Scratch({256});
  }));
  CallResult result = Call(handler);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.error.code, XLA_FFI_Error_Code_FAILED_PRECONDITION);
  EXPECT_THAT(result.error.message, HasSubstr("kept 1 scratch tensor(s)"));
  EXPECT_EQ(Usage().outstanding_allocations, 1u);
  // The next call on this thread must not hand out the kept tensor's memory.
  auto seen = std::make_shared<std::vector<void*>>();
  XLA_FFI_Handler* other = Register(TwoTemporaries(seen), Platform::kCpu, ".other");
  ASSERT_TRUE(Call(other, 256).ok);
  float* kept = static_cast<float*>(KeptTensor().data_ptr());
  for (void* p : *seen) {
    EXPECT_TRUE(p >= kept + 256 || static_cast<float*>(p) + 256 <= kept) << "memory reused";
  }
  std::memset(kept, 0, 256 * sizeof(float));  // Still valid (ASan would object otherwise).
  KeptTensor() = Tensor();
  EXPECT_EQ(Usage().outstanding_allocations, 0u);
}

TEST(CpuScratchTest, NestedCallsKeepTheirOwnScratch) {
  XLA_FFI_Handler* inner = Register(Function::FromTyped([](TensorView, TensorView) {
                                      Tensor t = Scratch({64});
                                      std::memset(t.data_ptr(), 0xff, 64 * sizeof(float));
                                    }),
                                    Platform::kCpu, ".inner");
  XLA_FFI_Handler* outer = Register(Function::FromTyped([inner](TensorView, TensorView) {
    Tensor mine = Scratch({64});
    float* data = static_cast<float*>(mine.data_ptr());
    for (int i = 0; i < 64; ++i) data[i] = static_cast<float>(i);
    TVM_FFI_ICHECK(Call(inner).ok);
    for (int i = 0; i < 64; ++i) TVM_FFI_ICHECK_EQ(data[i], static_cast<float>(i));
  }));
  CallResult result = Call(outer);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_EQ(Usage().last_call_allocations, 1u);
  EXPECT_EQ(Usage(Platform::kCpu, ".inner").last_call_allocations, 1u);
}

TEST(CpuScratchTest, ConcurrentCallsGetDisjointMemory) {
  auto seen = std::make_shared<std::vector<void*>>();
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView x, TensorView y) {
    const int64_t n = x.size(0);
    Tensor t = Scratch({n});
    float* tmp = static_cast<float*>(t.data_ptr());
    const float* in = static_cast<const float*>(x.data_ptr());
    for (int64_t i = 0; i < n; ++i) tmp[i] = in[i] * 3;
    std::this_thread::yield();
    float* out = static_cast<float*>(y.data_ptr());
    for (int64_t i = 0; i < n; ++i) out[i] = tmp[i];
  }));
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::vector<float> x(512, static_cast<float>(t + i));
        std::vector<float> y(512, 0);
        FakeExecutionContext context;
        if (!CallWith(handler, x, y, context).ok || y[511] != 3.0f * (t + i)) ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(Usage().total_allocations, 800u);
  EXPECT_EQ(Usage().outstanding_allocations, 0u);
}

// ---------------------------------------------------------------------------------------------
// The allocator outside calls

int outside_allocations = 0;

int CountingAllocator(DLTensor* prototype, DLManagedTensorVersioned** out, void*,
                      void (*)(void*, const char*, const char*)) {
  ++outside_allocations;
  auto* managed = new DLManagedTensorVersioned{};
  managed->dl_tensor = *prototype;
  managed->dl_tensor.shape = new int64_t[prototype->ndim > 0 ? prototype->ndim : 1];
  std::copy(prototype->shape, prototype->shape + prototype->ndim, managed->dl_tensor.shape);
  managed->dl_tensor.strides = nullptr;
  managed->dl_tensor.data = new float[64];
  managed->deleter = [](DLManagedTensorVersioned* self) {
    delete[] static_cast<float*>(self->dl_tensor.data);
    delete[] self->dl_tensor.shape;
    delete self;
  };
  *out = managed;
  return 0;
}

TEST(ScratchOutsideCallsTest, RequestsGoToTheAllocatorInstalledBefore) {
  auto seen = std::make_shared<std::vector<void*>>();
  XLA_FFI_Handler* handler = Register(TwoTemporaries(seen));
  // A fresh thread, so the bridge installs its allocator over ours.
  std::thread([&] {
    ASSERT_EQ(TVMFFIEnvSetDLPackManagedTensorAllocator(&CountingAllocator, 0, nullptr), 0);
    outside_allocations = 0;
    ASSERT_TRUE(Call(handler).ok);
    EXPECT_EQ(outside_allocations, 0) << "the call's scratch must come from the bridge";
    Tensor outside = Scratch({16});
    EXPECT_EQ(outside_allocations, 1);
    ASSERT_TRUE(Call(handler).ok);
    EXPECT_EQ(outside_allocations, 1);
    EXPECT_EQ(Usage().outstanding_allocations, 0u);
  }).join();
}

TEST(ScratchOutsideCallsTest, WithoutAnAllocatorBeforeRequestsFailAsInTvmFfi) {
  XLA_FFI_Handler* handler = Register(TwoTemporaries(std::make_shared<std::vector<void*>>()));
  std::thread([&] {
    ASSERT_TRUE(Call(handler).ok);
    try {
      Scratch({16});
      ADD_FAILURE() << "allocating outside a call with no allocator must fail";
    } catch (const tvm::ffi::Error& error) {
      EXPECT_THAT(error.message(), HasSubstr("no TVM FFI tensor allocator is installed"));
    }
  }).join();
}

// Allocators that count their requests, told apart by N.
int counted[4] = {0, 0, 0, 0};

template <int N>
int Counting(DLTensor* prototype, DLManagedTensorVersioned** out, void* error_ctx,
             void (*set_error)(void*, const char*, const char*)) {
  ++counted[N];
  return CountingAllocator(prototype, out, error_ctx, set_error);
}

void ResetCounts() {
  for (int& count : counted) count = 0;
}

bool FailsOutsideCalls() {
  try {
    Scratch({16});
    return false;
  } catch (const tvm::ffi::Error& error) {
    EXPECT_THAT(error.message(), HasSubstr("no TVM FFI tensor allocator is installed"));
    return true;
  }
}

// Runs `body` on a thread where the bridge has not run yet, with the counts at zero.
void OnFreshThread(const std::function<void()>& body) {
  std::thread([&] {
    ResetCounts();
    body();
  }).join();
}

XLA_FFI_Handler* RegisterTwoTemporaries() {
  return Register(TwoTemporaries(std::make_shared<std::vector<void*>>()));
}

// What tvm-ffi's own calling convention does with a framework's allocator.
struct AllocatorScope {
  explicit AllocatorScope(DLPackManagedTensorAllocator allocator) {
    EXPECT_EQ(TVMFFIEnvSetDLPackManagedTensorAllocator(allocator, 0, &previous), 0);
  }
  ~AllocatorScope() { TVMFFIEnvSetDLPackManagedTensorAllocator(previous, 0, nullptr); }
  DLPackManagedTensorAllocator previous = nullptr;
};

// Sets the global allocator from a thread of its own (which leaves every other thread's as it is).
void SetGlobalAllocator(DLPackManagedTensorAllocator allocator) {
  std::thread([allocator] {
    ASSERT_EQ(TVMFFIEnvSetDLPackManagedTensorAllocator(allocator, 1, nullptr), 0);
  }).join();
}

TEST(ScratchOutsideCallsTest, FirstCallInsideAnAllocatorScopeLeavesTheThreadWorking) {
  XLA_FFI_Handler* handler = RegisterTwoTemporaries();
  OnFreshThread([&] {
    {
      AllocatorScope scope(&Counting<0>);
      ASSERT_TRUE(Call(handler).ok);
      EXPECT_EQ(counted[0], 0) << "the call's scratch must come from the bridge";
      EXPECT_EQ(TVMFFIEnvGetDLPackManagedTensorAllocator(), &Counting<0>)
          << "the scope's allocator must be back after the call";
      Tensor inside = Scratch({16});
      EXPECT_EQ(counted[0], 1);
    }
    // The scope restored "none": scratch still works, and outside calls fail as in tvm-ffi.
    for (int i = 0; i < 3; ++i) {
      CallResult result = Call(handler);
      ASSERT_TRUE(result.ok) << result.error.message;
    }
    EXPECT_TRUE(FailsOutsideCalls());
    {
      AllocatorScope scope(&Counting<1>);
      ASSERT_TRUE(Call(handler).ok);
      Tensor inside = Scratch({16});
    }
    EXPECT_EQ(counted[0], 1);
    EXPECT_EQ(counted[1], 1);
    EXPECT_EQ(Usage().total_allocations, 10u);
    EXPECT_EQ(Usage().outstanding_allocations, 0u);
  });
}

TEST(ScratchOutsideCallsTest, AllocatorSetAfterTheFirstCallServesOutsideCallsOnly) {
  XLA_FFI_Handler* handler = RegisterTwoTemporaries();
  OnFreshThread([&] {
    ASSERT_TRUE(Call(handler).ok);
    DLPackManagedTensorAllocator previous = nullptr;
    ASSERT_EQ(TVMFFIEnvSetDLPackManagedTensorAllocator(&Counting<0>, 0, &previous), 0);
    ASSERT_TRUE(Call(handler).ok);
    EXPECT_EQ(counted[0], 0) << "the call's scratch must come from the bridge";
    EXPECT_EQ(TVMFFIEnvGetDLPackManagedTensorAllocator(), &Counting<0>);
    { Tensor outside = Scratch({16}); }
    EXPECT_EQ(counted[0], 1);
    // Putting back what it replaced (whatever that was) brings back "none".
    TVMFFIEnvSetDLPackManagedTensorAllocator(previous, 0, nullptr);
    EXPECT_TRUE(FailsOutsideCalls());
    ASSERT_TRUE(Call(handler).ok);
    EXPECT_EQ(Usage().total_allocations, 6u);
  });
}

TEST(ScratchOutsideCallsTest, GlobalAllocatorSetAfterInstallServesOutsideCalls) {
  XLA_FFI_Handler* handler = RegisterTwoTemporaries();
  OnFreshThread([&] {
    ASSERT_TRUE(Call(handler).ok);
    EXPECT_TRUE(FailsOutsideCalls());
    // Another thread sets a global allocator: a thread with none of its own uses it in tvm-ffi.
    SetGlobalAllocator(&Counting<2>);
    { Tensor outside = Scratch({16}); }
    EXPECT_EQ(counted[2], 1);
    ASSERT_TRUE(Call(handler).ok);
    EXPECT_EQ(counted[2], 1) << "the call's scratch must come from the bridge";
    // This thread sets one globally (and so for itself) too.
    ASSERT_EQ(TVMFFIEnvSetDLPackManagedTensorAllocator(&Counting<3>, 1, nullptr), 0);
    ASSERT_TRUE(Call(handler).ok);
    EXPECT_EQ(TVMFFIEnvGetDLPackManagedTensorAllocator(), &Counting<3>);
    { Tensor outside = Scratch({16}); }
    EXPECT_EQ(counted[2], 1);
    EXPECT_EQ(counted[3], 1);
    EXPECT_EQ(Usage().total_allocations, 6u);
    ASSERT_EQ(TVMFFIEnvSetDLPackManagedTensorAllocator(nullptr, 1, nullptr), 0);
  });
}

TEST(ScratchOutsideCallsTest, GlobalAllocatorSetBeforeTheFirstCallServesOutsideCalls) {
  XLA_FFI_Handler* handler = RegisterTwoTemporaries();
  SetGlobalAllocator(&Counting<2>);
  OnFreshThread([&] {
    ASSERT_TRUE(Call(handler).ok);
    EXPECT_EQ(counted[2], 0) << "the call's scratch must come from the bridge";
    { Tensor outside = Scratch({16}); }
    EXPECT_EQ(counted[2], 1);
    SetGlobalAllocator(nullptr);
    EXPECT_TRUE(FailsOutsideCalls());
  });
  SetGlobalAllocator(nullptr);
}

TEST(ScratchOutsideCallsTest, NestedCallsAndScopesInsideACall) {
  XLA_FFI_Handler* inner = Register(Function::FromTyped([](TensorView, TensorView) {
                                      Tensor t = Scratch({64});
                                      std::memset(t.data_ptr(), 0xff, 64 * sizeof(float));
                                    }),
                                    Platform::kCpu, ".inner");
  XLA_FFI_Handler* outer = Register(Function::FromTyped([inner](TensorView, TensorView) {
    Tensor before = Scratch({8});
    TVM_FFI_ICHECK(Call(inner).ok);
    {
      // The kernel runs a scope of its own around a nested bridged call.
      AllocatorScope scope(&Counting<1>);
      TVM_FFI_ICHECK(Call(inner).ok);
      Tensor own = Scratch({4});
      TVM_FFI_ICHECK_EQ(counted[1], 1);
    }
    Tensor after = Scratch({8});
  }));
  OnFreshThread([&] {
    AllocatorScope scope(&Counting<0>);
    CallResult result = Call(outer);
    ASSERT_TRUE(result.ok) << result.error.message;
    EXPECT_EQ(counted[0], 0);
    EXPECT_EQ(counted[1], 1);
    EXPECT_EQ(TVMFFIEnvGetDLPackManagedTensorAllocator(), &Counting<0>);
    EXPECT_EQ(Usage().last_call_allocations, 2u);
    EXPECT_EQ(Usage(Platform::kCpu, ".inner").total_allocations, 2u);
  });
}

// Which of the Counting allocators serves a request outside calls on this thread: its index, or
// -1 when the request fails.
int WhoServes() {
  int before[4];
  std::copy(std::begin(counted), std::end(counted), before);
  try {
    Scratch({16});
  } catch (const tvm::ffi::Error&) {
    return -1;
  }
  for (int i = 0; i < 4; ++i) {
    if (counted[i] != before[i]) return i;
  }
  return -2;  // Served by none of them: the bridge's arena, outside a call.
}

DLPackManagedTensorAllocator CountingAllocatorNumber(int k) {
  constexpr DLPackManagedTensorAllocator kAllocators[] = {&Counting<0>, &Counting<1>, &Counting<2>,
                                                          &Counting<3>};
  return kAllocators[k];
}

// What code around the calls does with TVM FFI's allocator, through its own API only.
enum class Step {
  kBridgedCall,         // a call of the target (nothing at all in the run without the bridge)
  kSetOnThread,         // TVMFFIEnvSetDLPackManagedTensorAllocator(a, 0, nullptr)
  kSetGlobally,         // TVMFFIEnvSetDLPackManagedTensorAllocator(a, 1, nullptr), this thread
  kSetGlobalElsewhere,  // the same from another thread
  kClearGlobal,         // another thread sets nullptr globally
  kClearThread,         // TVMFFIEnvSetDLPackManagedTensorAllocator(nullptr, 0, nullptr)
  kThreadScope,         // set a on the thread, saving the previous; a bridged call; restore
  kGlobalScope,         // set a globally, saving the previous; restore it globally
  kRequest,             // a request outside calls
  kCount
};

// Runs `steps` on a fresh thread, the global allocator cleared before and after, and returns who
// served each request: on the thread, and (after every step) on another thread.
std::vector<int> Outcomes(const std::vector<std::pair<Step, int>>& steps, bool bridged,
                          XLA_FFI_Handler* handler) {
  std::vector<int> served;
  SetGlobalAllocator(nullptr);
  std::thread([&] {
    for (const auto& [step, k] : steps) {
      DLPackManagedTensorAllocator allocator = CountingAllocatorNumber(k);
      DLPackManagedTensorAllocator previous = nullptr;
      switch (step) {
        case Step::kBridgedCall:
          if (bridged) TVM_FFI_ICHECK(Call(handler).ok);
          break;
        case Step::kSetOnThread:
          TVMFFIEnvSetDLPackManagedTensorAllocator(allocator, 0, nullptr);
          break;
        case Step::kSetGlobally:
          TVMFFIEnvSetDLPackManagedTensorAllocator(allocator, 1, nullptr);
          break;
        case Step::kSetGlobalElsewhere:
          SetGlobalAllocator(allocator);
          break;
        case Step::kClearGlobal:
          SetGlobalAllocator(nullptr);
          break;
        case Step::kClearThread:
          TVMFFIEnvSetDLPackManagedTensorAllocator(nullptr, 0, nullptr);
          break;
        case Step::kThreadScope:
          TVMFFIEnvSetDLPackManagedTensorAllocator(allocator, 0, &previous);
          if (bridged) TVM_FFI_ICHECK(Call(handler).ok);
          served.push_back(100 + WhoServes());
          TVMFFIEnvSetDLPackManagedTensorAllocator(previous, 0, nullptr);
          break;
        case Step::kGlobalScope:
          TVMFFIEnvSetDLPackManagedTensorAllocator(allocator, 1, &previous);
          served.push_back(200 + WhoServes());
          TVMFFIEnvSetDLPackManagedTensorAllocator(previous, 1, nullptr);
          break;
        case Step::kRequest:
        case Step::kCount:
          served.push_back(WhoServes());
          break;
      }
      std::thread([&] { served.push_back(1000 + WhoServes()); }).join();
    }
  }).join();
  SetGlobalAllocator(nullptr);
  return served;
}

// The contract outside calls, checked on every sequence a fixed-seed generator makes: whatever
// code around the calls does with TVM FFI's allocator (on the thread or globally, from this
// thread or another, in save-and-restore scopes), every request outside calls, on the calling
// thread and on others, reaches the allocator it reaches when the calls are left out.
TEST(ScratchOutsideCallsTest, RequestsReachWhatTvmFfiAloneWouldUse) {
  XLA_FFI_Handler* handler = RegisterTwoTemporaries();
  std::mt19937 random(15);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::pair<Step, int>> steps;
    const int length = 2 + static_cast<int>(random() % 7);
    for (int i = 0; i < length; ++i) {
      steps.emplace_back(static_cast<Step>(random() % static_cast<int>(Step::kCount)),
                         static_cast<int>(random() % 4));
    }
    steps.emplace_back(Step::kRequest, 0);
    const std::vector<int> alone = Outcomes(steps, /*bridged=*/false, handler);
    const std::vector<int> bridged = Outcomes(steps, /*bridged=*/true, handler);
    if (alone != bridged) {
      std::string text = "steps (step, allocator):";
      for (const auto& [step, k] : steps) {
        text += " (" + std::to_string(static_cast<int>(step)) + ", " + std::to_string(k) + ")";
      }
      text += "\nserved without the bridge:";
      for (int who : alone) text += " " + std::to_string(who);
      text += "\nserved with the bridge:   ";
      for (int who : bridged) text += " " + std::to_string(who);
      ADD_FAILURE() << text;
      return;
    }
  }
}

// The one thing the bridge's allocator cannot stand in for: on a thread where it stays between
// calls, TVMFFIEnvGetDLPackManagedTensorAllocator answers it in place of the global allocator, and
// a scope that saves that answer and writes it back globally leaves it in the global slot. The
// allocator it replaced is gone from TVM FFI (knowing it would mean two more TVM FFI calls in
// every bridged call); the requests then fail, saying why.
TEST(ScratchOutsideCallsTest, BridgeAllocatorWrittenGloballyFailsSayingWhy) {
  XLA_FFI_Handler* handler = RegisterTwoTemporaries();
  SetGlobalAllocator(&Counting<2>);
  OnFreshThread([&] {
    ASSERT_TRUE(Call(handler).ok);
    DLPackManagedTensorAllocator saved = TVMFFIEnvGetDLPackManagedTensorAllocator();
    ASSERT_EQ(TVMFFIEnvSetDLPackManagedTensorAllocator(&Counting<1>, 1, nullptr), 0);
    ASSERT_EQ(TVMFFIEnvSetDLPackManagedTensorAllocator(saved, 1, nullptr), 0);
    for (bool other_thread : {false, true}) {
      std::string message;
      auto request = [&] {
        try {
          Scratch({16});
        } catch (const tvm::ffi::Error& error) {
          message = error.message();
        }
      };
      if (other_thread) {
        std::thread(request).join();
      } else {
        request();
      }
      EXPECT_THAT(message, HasSubstr("TVM FFI's global tensor allocator is jax_tvm_ffi's own"));
      EXPECT_THAT(message, HasSubstr("TVMFFIEnvGetDLPackManagedTensorAllocator"));
    }
    ASSERT_TRUE(Call(handler).ok) << "calls still get the bridge's allocator";
    EXPECT_EQ(counted[2], 0);
  });
  SetGlobalAllocator(nullptr);
}

// ---------------------------------------------------------------------------------------------
// GPU: XLA's device allocator (faked)

CallResult CallOnGpu(XLA_FFI_Handler* handler, FakeExecutionContext& context) {
  std::vector<float> x(4, 1.0f);
  std::vector<float> y(4, 0.0f);
  return CallWith(handler, x, y, context);
}

TEST(GpuScratchTest, DeviceTensorsComeFromXlaAndGoBackToIt) {
  FakeExecutionContext context;
  context.device_ordinal = 1;
  context.stream = reinterpret_cast<void*>(0x5);
  auto during = std::make_shared<std::vector<size_t>>();
  XLA_FFI_Handler* handler =
      Register(Function::FromTyped([&context, during](TensorView, TensorView) {
                 Tensor a = Scratch({250}, kF32, DLDevice{kDLCUDA, 1});
                 Tensor host = Scratch({8}, kF32, kCpu);
                 TVM_FFI_ICHECK(Aligned(a.data_ptr(), kGpuScratchAlignment));
                 TVM_FFI_ICHECK_EQ(a.device().device_type, kDLCUDA);
                 TVM_FFI_ICHECK_EQ(a.device().device_id, 1);
                 TVM_FFI_ICHECK(context.device_allocations.count(a.data_ptr()) == 1);
                 TVM_FFI_ICHECK(context.device_allocations.count(host.data_ptr()) == 0);
                 during->push_back(context.device_allocations.size());
                 {
                   Tensor b = Scratch({10}, kF32, DLDevice{kDLCUDA, 1});
                   during->push_back(context.device_allocations.size());
                 }
                 // Released during the call: back to XLA at once.
                 during->push_back(context.device_allocations.size());
               }),
               Platform::kCuda);
  CallResult result = CallOnGpu(handler, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_EQ(*during, (std::vector<size_t>{1, 2, 1}));
  EXPECT_TRUE(context.device_allocations.empty());
  EXPECT_EQ(context.device_allocate_calls, 2);
  EXPECT_EQ(context.device_free_calls, 2);
  EXPECT_EQ(context.bad_device_frees, 0);
  EXPECT_EQ(context.last_device_alignment, kGpuScratchAlignment);
  ScratchUsage usage = Usage(Platform::kCuda);
  EXPECT_EQ(usage.last_call_allocations, 3u);
  EXPECT_EQ(usage.last_call_peak_bytes, 1000u + 32 + 40);
  EXPECT_EQ(usage.outstanding_allocations, 0u);
}

TEST(GpuScratchTest, FailingKernelGivesDeviceMemoryBack) {
  FakeExecutionContext context;
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
                                        Tensor a = Scratch({1000}, kF32, DLDevice{kDLCUDA, 0});
                                        Tensor b = Scratch({1000}, kF32, DLDevice{kDLCUDA, 0});
                                        TVM_FFI_THROW(RuntimeError) << "launch failed";
                                      }),
                                      Platform::kCuda);
  CallResult result = CallOnGpu(handler, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("RuntimeError: launch failed"));
  EXPECT_TRUE(context.device_allocations.empty());
  EXPECT_EQ(context.device_allocate_calls, 2);
  EXPECT_EQ(context.device_free_calls, 2);
  EXPECT_EQ(Usage(Platform::kCuda).outstanding_allocations, 0u);
}

TEST(GpuScratchTest, XlaOutOfMemoryFailsTheCallAsResourceExhausted) {
  FakeExecutionContext context;
  context.fail_device_allocate = true;
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
                                        Scratch({1000}, kF32, DLDevice{kDLCUDA, 0});
                                      }),
                                      Platform::kCuda);
  CallResult result = CallOnGpu(handler, context);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.error.code, XLA_FFI_Error_Code_RESOURCE_EXHAUSTED);
  EXPECT_THAT(result.error.message, HasSubstr("fake device is out of memory"));
  EXPECT_THAT(result.error.message, HasSubstr("allocate 4000 bytes of scratch on cuda:0"));
  EXPECT_EQ(Usage(Platform::kCuda).total_allocations, 0u);
}

TEST(GpuScratchTest, OtherDeviceOrdinalIsRefused) {
  FakeExecutionContext context;
  context.device_ordinal = 1;
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
                                        Scratch({10}, kF32, DLDevice{kDLCUDA, 0});
                                      }),
                                      Platform::kCuda);
  CallResult result = CallOnGpu(handler, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message,
              HasSubstr("scratch tensor requested on cuda:0 during a call on cuda:1"));
  EXPECT_EQ(context.device_allocate_calls, 0);
}

TEST(GpuScratchTest, RocmTensorsComeFromXlaToo) {
  FakeExecutionContext context;
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
                                        Scratch({10}, kF32, DLDevice{kDLROCM, 0});
                                      }),
                                      Platform::kRocm);
  ASSERT_TRUE(CallOnGpu(handler, context).ok);
  EXPECT_EQ(context.device_allocate_calls, 1);
  EXPECT_TRUE(context.device_allocations.empty());
}

TEST(GpuScratchTest, KeptDeviceTensorGoesBackToXlaAndFailsTheCall) {
  FakeExecutionContext context;
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
                                        KeptTensor() = Scratch({10}, kF32, DLDevice{kDLCUDA, 0});
                                      }),
                                      Platform::kCuda);
  CallResult result = CallOnGpu(handler, context);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.error.code, XLA_FFI_Error_Code_FAILED_PRECONDITION);
  EXPECT_THAT(result.error.message, HasSubstr("device memory went back to XLA"));
  EXPECT_TRUE(context.device_allocations.empty());
  EXPECT_EQ(Usage(Platform::kCuda).outstanding_allocations, 1u);
  KeptTensor() = Tensor();  // Releasing it later touches no XLA state.
  EXPECT_EQ(context.device_free_calls, 1);
  EXPECT_EQ(Usage(Platform::kCuda).outstanding_allocations, 0u);
}

// ---------------------------------------------------------------------------------------------
// Sizes: every product overflow-checked, sub-byte types rounded up to whole bytes

struct SizeResult {
  bool ok;
  uint64_t bytes;
  std::string problem;
};

SizeResult SizeOf(std::vector<int64_t> shape, DLDataType dtype) {
  DLTensor prototype{};
  prototype.ndim = static_cast<int32_t>(shape.size());
  prototype.shape = shape.data();
  prototype.dtype = dtype;
  prototype.device = kCpu;
  SizeResult result{false, 0, ""};
  result.ok = ScratchTensorBytes(prototype, &result.bytes, &result.problem);
  return result;
}

constexpr DLDataType kU8{kDLUInt, 8, 1};
constexpr int64_t kTwoTo(int n) { return int64_t{1} << n; }

TEST(ScratchSizeTest, ProductsThatWrapAround2To64AreRefused) {
  // 2^61 + 64 bytes: 8 times as many bits wrap to 512 (64 bytes were served).
  SizeResult bytes = SizeOf({kTwoTo(61) + 64}, kU8);
  EXPECT_FALSE(bytes.ok);
  EXPECT_EQ(bytes.problem,
            "uint8[2305843009213694016] is too large: 2305843009213694016 elements, "
            "2305843009213694016 bytes; scratch tensors are at most 2^48 bytes (281474976710656)");
  // 2^59 + 2^24 float32 elements: their bits wrap to 2^29 (64 MiB were served).
  SizeResult floats = SizeOf({kTwoTo(20), kTwoTo(39) + 16}, kF32);
  EXPECT_FALSE(floats.ok);
  EXPECT_THAT(floats.problem,
              HasSubstr("float32[1048576, 549755813904] is too large: 576460752320200704 "
                        "elements, 2305843009280802816 bytes"));
  // Elements that wrap: 2^32 * 2^32 is 0 modulo 2^64, 2^62 * 5 is 2^62.
  EXPECT_THAT(SizeOf({kTwoTo(32), kTwoTo(32)}, kU8).problem,
              HasSubstr("is too large: more than 2^64 elements"));
  EXPECT_THAT(SizeOf({kTwoTo(62), 5}, kU8).problem, HasSubstr("more than 2^64 elements"));
  EXPECT_THAT(SizeOf({3, kTwoTo(62), 1, 2}, kU8).problem, HasSubstr("more than 2^64 elements"));
  // Bytes beyond 2^64 are still named exactly.
  EXPECT_THAT(SizeOf({INT64_MAX, 2}, DLDataType{kDLFloat, 64, 1}).problem,
              HasSubstr("18446744073709551614 elements, 147573952589676412912 bytes"));
  EXPECT_FALSE(SizeOf({INT64_MAX}, DLDataType{kDLInt, 1, 1}).ok);
  EXPECT_FALSE(SizeOf({kTwoTo(40)}, DLDataType{kDLFloat, 32, 65535}).ok);
}

TEST(ScratchSizeTest, SubByteTypesRoundUpToWholeBytes) {
  struct Case {
    std::vector<int64_t> shape;
    DLDataType dtype;
    uint64_t bytes;
  };
  const std::vector<Case> cases = {
      {{16}, DLDataType{kDLInt, 1, 1}, 2},
      {{16}, DLDataType{kDLInt, 2, 1}, 4},
      {{16}, DLDataType{kDLUInt, 2, 1}, 4},
      {{16}, DLDataType{kDLUInt, 4, 1}, 8},
      {{5}, DLDataType{kDLInt, 1, 1}, 1},
      {{9}, DLDataType{kDLUInt, 1, 1}, 2},
      {{3}, DLDataType{kDLUInt, 2, 1}, 1},
      {{3, 3}, DLDataType{kDLInt, 2, 1}, 3},
      {{3}, DLDataType{kDLInt, 4, 1}, 2},
      {{3}, DLDataType{kDLFloat4_e2m1fn, 4, 2}, 3},
      {{3}, DLDataType{kDLUInt, 1, 3}, 2},
      {{5}, DLDataType{kDLBool, 8, 1}, 5},
      {{2, 3}, DLDataType{kDLComplex, 128, 1}, 96},
      {{7}, DLDataType{kDLFloat, 32, 4}, 112},
      {{}, DLDataType{kDLInt, 1, 1}, 1},
      {{0}, DLDataType{kDLInt, 1, 1}, 0},
  };
  for (const Case& c : cases) {
    SizeResult result = SizeOf(c.shape, c.dtype);
    ASSERT_TRUE(result.ok) << result.problem;
    EXPECT_EQ(result.bytes, c.bytes) << static_cast<int>(c.dtype.code) << ":" << +c.dtype.bits;
  }
}

TEST(ScratchSizeTest, TheLimitIsExactlyTwoTo48Bytes) {
  EXPECT_EQ(kMaxScratchBytes, uint64_t{1} << 48);
  // Each shape and dtype below is either exactly 2^48 bytes (served) or one element more.
  struct Case {
    std::vector<int64_t> shape;
    DLDataType dtype;
    bool ok;
  };
  const std::vector<Case> cases = {
      {{kTwoTo(48)}, kU8, true},
      {{kTwoTo(48) + 1}, kU8, false},
      {{kTwoTo(46)}, kF32, true},
      {{kTwoTo(46) + 1}, kF32, false},
      {{kTwoTo(24), kTwoTo(22)}, kF32, true},
      {{kTwoTo(24), kTwoTo(22) + 1}, kF32, false},
      {{kTwoTo(51)}, DLDataType{kDLInt, 1, 1}, true},
      // One more bit takes one more byte.
      {{kTwoTo(51) + 1}, DLDataType{kDLInt, 1, 1}, false},
      {{kTwoTo(50)}, DLDataType{kDLUInt, 2, 1}, true},
      {{kTwoTo(50) + 1}, DLDataType{kDLUInt, 2, 1}, false},
      {{kTwoTo(49)}, DLDataType{kDLUInt, 4, 1}, true},
      {{kTwoTo(49) + 1}, DLDataType{kDLUInt, 4, 1}, false},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SizeResult result = SizeOf(cases[i].shape, cases[i].dtype);
    EXPECT_EQ(result.ok, cases[i].ok) << i << ": " << result.problem;
    if (cases[i].ok) {
      EXPECT_EQ(result.bytes, kMaxScratchBytes) << i;
    } else {
      EXPECT_THAT(result.problem, HasSubstr(" bytes; scratch tensors are at most 2^48 bytes")) << i;
    }
  }
}

TEST(ScratchSizeTest, AZeroDimensionIsEmptyWhateverTheOthers) {
  SizeResult result = SizeOf({kTwoTo(62), kTwoTo(62), 0, INT64_MAX}, kF32);
  ASSERT_TRUE(result.ok) << result.problem;
  EXPECT_EQ(result.bytes, 0u);
  // Still a negative dimension after a zero is refused.
  EXPECT_EQ(SizeOf({0, -3}, kF32).problem, "dimension 1 is -3");
}

TEST(ScratchSizeTest, UnnamedDtypesAreDescribedByNumber) {
  EXPECT_THAT(SizeOf({kTwoTo(50)}, DLDataType{200, 8, 1}).problem,
              HasSubstr("dtype(code 200, 8 bits, 1 lanes)[1125899906842624] is too large"));
}

TEST(CpuScratchTest, RequestsThatOnceWrappedFailTheCallNamingTheSize) {
  struct Case {
    std::vector<int64_t> shape;
    DLDataType dtype;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{kTwoTo(61) + 64},
       kU8,
       "invalid scratch tensor: uint8[2305843009213694016] is too large: 2305843009213694016 "
       "elements, 2305843009213694016 bytes"},
      {{kTwoTo(20), kTwoTo(39) + 16},
       kF32,
       "invalid scratch tensor: float32[1048576, 549755813904] is too large"},
      {{kTwoTo(50)}, kU8, "1125899906842624 bytes; scratch tensors are at most 2^48 bytes"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    // The kernel writes what it was promised if it gets anything at all.
    XLA_FFI_Handler* handler = Register(Function::FromTyped([c](TensorView, TensorView) {
                                          Tensor t = Scratch(c.shape, c.dtype);
                                          std::memset(t.data_ptr(), 1, 16 << 20);
                                        }),
                                        Platform::kCpu, std::to_string(i));
    CallResult result = Call(handler);
    ASSERT_FALSE(result.ok) << i;
    EXPECT_EQ(result.error.code, XLA_FFI_Error_Code_INVALID_ARGUMENT) << i;
    EXPECT_THAT(result.error.message, HasSubstr(c.message)) << i;
    ScratchUsage usage = Usage(Platform::kCpu, std::to_string(i));
    EXPECT_EQ(usage.total_allocations, 0u) << i;
    EXPECT_EQ(usage.outstanding_allocations, 0u) << i;
  }
}

TEST(CpuScratchTest, OneAndTwoBitTensorsAreServed) {
  auto seen = std::make_shared<std::vector<int64_t>>();
  XLA_FFI_Handler* handler = Register(Function::FromTyped([seen](TensorView, TensorView) {
    for (DLDataType dtype :
         {DLDataType{kDLInt, 1, 1}, DLDataType{kDLInt, 2, 1}, DLDataType{kDLUInt, 2, 1}}) {
      Tensor t = Scratch({16}, dtype);
      std::memset(t.data_ptr(), 0xff, 16 * dtype.bits / 8);
      seen->push_back(t.size(0));
    }
  }));
  CallResult result = Call(handler);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_EQ(*seen, (std::vector<int64_t>{16, 16, 16}));
  ScratchUsage usage = Usage();
  EXPECT_EQ(usage.last_call_allocations, 3u);
  // Each released before the next: the peak is the largest, 4 bytes.
  EXPECT_EQ(usage.last_call_peak_bytes, 4u);
}

TEST(GpuScratchTest, HugeDeviceRequestsAreRefusedBeforeXlaSeesThem) {
  FakeExecutionContext context;
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](TensorView, TensorView) {
                                        Scratch({kTwoTo(61) + 64}, kU8, DLDevice{kDLCUDA, 0});
                                      }),
                                      Platform::kCuda);
  CallResult result = CallOnGpu(handler, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("uint8[2305843009213694016] is too large"));
  EXPECT_EQ(context.device_allocate_calls, 0);
}

TEST(ScratchUsageTest, UnknownTargetIsAValueError) {
  try {
    GetScratchUsage("scratch.no_such_target", Platform::kCpu);
    ADD_FAILURE() << "expected an error";
  } catch (const tvm::ffi::Error& error) {
    EXPECT_EQ(error.kind(), "ValueError");
    EXPECT_THAT(error.message(), HasSubstr("no target 'scratch.no_such_target'"));
  }
}

TEST(ScratchUsageTest, ReRegistrationKeepsTheTargetsCounters) {
  auto seen = std::make_shared<std::vector<void*>>();
  XLA_FFI_Handler* handler = Register(TwoTemporaries(seen));
  ASSERT_TRUE(Call(handler).ok);
  handler = Register(TwoTemporaries(seen));
  ASSERT_TRUE(Call(handler).ok);
  EXPECT_EQ(Usage().total_allocations, 4u);
}

TEST(ScratchUsageTest, CallWithoutScratchResetsTheLastCall) {
  auto allocate = std::make_shared<bool>(true);
  XLA_FFI_Handler* handler = Register(Function::FromTyped([allocate](TensorView, TensorView) {
    if (*allocate) Scratch({4});
  }));
  ASSERT_TRUE(Call(handler).ok);
  EXPECT_EQ(Usage().last_call_allocations, 1u);
  *allocate = false;
  ASSERT_TRUE(Call(handler).ok);
  EXPECT_EQ(Usage().last_call_allocations, 0u);
  EXPECT_EQ(Usage().last_call_peak_bytes, 0u);
  EXPECT_EQ(Usage().total_allocations, 1u);
  EXPECT_EQ(Usage().peak_bytes, 16u);
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_call_site_plan.cc
 * \brief Tests of a call site's plan: made from a first call, it packs later calls of the site
 *        exactly as the straight path packs them (data pointers, ordinal and stream per call),
 *        refuses frames that are not the site's, is not made for what the straight path does
 *        not take, and is shared by calls on many threads.
 */
#include <gtest/gtest.h>
#include <tvm/ffi/function.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "call/call_site_plan.h"
#include "call/fast_path.h"
#include "fake_xla_api.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using testing::FakeExecutionContext;

Binding MakeBinding(const std::vector<std::string>& spec, TargetOptions options = {}) {
  return Binding("plan.test", tvm::ffi::Function::FromTyped([]() {}), ArgSpec::Parse(spec),
                 options);
}

// One call of the site: an f32[2, 3] input, an i32[4] output, an f32 and a short string attribute.
struct SiteCall {
  explicit SiteCall(float* x, int32_t* y, std::vector<int64_t> x_dims = {2, 3},
                    XLA_FFI_DataType y_dtype = XLA_FFI_DataType_S32) {
    builder.AddArg(XLA_FFI_DataType_F32, x, std::move(x_dims));
    builder.AddRet(y_dtype, y, {4});
    builder.attrs().Scalar("scale", XLA_FFI_DataType_F32, 2.5f).String("mode", "fast");
  }
  XLA_FFI_CallFrame* frame() { return builder.Build(context.get()); }
  CallFrameBuilder builder;
  FakeExecutionContext context;
};

// The slots FastPath packs for `frame`, with the given ordinal and stream.
std::vector<TVMFFIAny> StraightPath(const Binding& binding, const XLA_FFI_CallFrame& frame,
                                    int32_t device_id, int64_t stream, FastPath* fast) {
  EXPECT_TRUE(fast->Pack(binding, frame, DLDevice{binding.device_type, device_id}, stream));
  return std::vector<TVMFFIAny>(fast->packed(), fast->packed() + fast->num_packed());
}

void ExpectSameView(const DLTensor& got, const DLTensor& want) {
  EXPECT_EQ(got.data, want.data);
  EXPECT_EQ(got.device.device_type, want.device.device_type);
  EXPECT_EQ(got.device.device_id, want.device.device_id);
  EXPECT_EQ(got.dtype.code, want.dtype.code);
  EXPECT_EQ(got.dtype.bits, want.dtype.bits);
  EXPECT_EQ(got.dtype.lanes, want.dtype.lanes);
  ASSERT_EQ(got.ndim, want.ndim);
  for (int32_t i = 0; i < got.ndim; ++i) {
    EXPECT_EQ(got.shape[i], want.shape[i]);
    EXPECT_EQ(got.strides[i], want.strides[i]);
  }
  EXPECT_EQ(got.byte_offset, want.byte_offset);
}

void ExpectSamePacking(const PlannedCall& planned, size_t num_packed,
                       const std::vector<TVMFFIAny>& straight) {
  ASSERT_EQ(num_packed, straight.size());
  for (size_t i = 0; i < num_packed; ++i) {
    SCOPED_TRACE("slot " + std::to_string(i));
    const TVMFFIAny& got = planned.packed[i];
    ASSERT_EQ(got.type_index, straight[i].type_index);
    if (got.type_index == kTVMFFIDLTensorPtr) {
      ExpectSameView(*static_cast<const DLTensor*>(got.v_ptr),
                     *static_cast<const DLTensor*>(straight[i].v_ptr));
    } else {
      EXPECT_EQ(got.v_int64, straight[i].v_int64);
    }
  }
}

TEST(CallSitePlanTest, PacksLaterCallsAsTheStraightPathDoes) {
  TargetOptions on_gpu;
  on_gpu.platform = Platform::kCuda;
  Binding binding = MakeBinding(
      {"ctx.stream", "attrs.scale", "rets", "ctx.device_id", "args", "attrs.mode"}, on_gpu);
  float x1[6];
  int32_t y1[4];
  SiteCall first(x1, y1);
  std::unique_ptr<CallSitePlan> plan = CallSitePlan::Make(binding, *first.frame());
  ASSERT_NE(plan, nullptr);
  // A later call of the site: other buffers, ordinal and stream.
  float x2[6];
  int32_t y2[4];
  SiteCall later(x2, y2);
  PlannedCall planned;
  ASSERT_TRUE(plan->Pack(*later.frame(), /*device_id=*/3, /*stream=*/0x5700, &planned));
  FastPath fast;
  ExpectSamePacking(planned, plan->num_packed(),
                    StraightPath(binding, *later.frame(), 3, 0x5700, &fast));
  EXPECT_EQ(static_cast<DLTensor*>(planned.packed[4].v_ptr)->data, x2);
  EXPECT_EQ(static_cast<DLTensor*>(planned.packed[2].v_ptr)->data, y2);
}

TEST(CallSitePlanTest, RefusesFramesThatAreNotTheSites) {
  Binding binding = MakeBinding({"args", "rets", "attrs.scale", "attrs.mode"});
  float x[6];
  int32_t y[4];
  SiteCall first(x, y);
  std::unique_ptr<CallSitePlan> plan = CallSitePlan::Make(binding, *first.frame());
  ASSERT_NE(plan, nullptr);
  PlannedCall planned;
  SiteCall other_shape(x, y, {3, 2});
  EXPECT_FALSE(plan->Pack(*other_shape.frame(), 0, 0, &planned));
  SiteCall other_rank(x, y, {6});
  EXPECT_FALSE(plan->Pack(*other_rank.frame(), 0, 0, &planned));
  SiteCall other_dtype(x, y, {2, 3}, XLA_FFI_DataType_F32);
  EXPECT_FALSE(plan->Pack(*other_dtype.frame(), 0, 0, &planned));
  SiteCall extra_input(x, y);
  extra_input.builder.AddArg(XLA_FFI_DataType_F32, x, {1});
  EXPECT_FALSE(plan->Pack(*extra_input.frame(), 0, 0, &planned));
  CallFrameBuilder no_buffer;
  no_buffer.AddRawArg(XLA_FFI_ArgType_BUFFER, nullptr);
  no_buffer.AddRet(XLA_FFI_DataType_S32, y, {4});
  FakeExecutionContext context;
  EXPECT_FALSE(plan->Pack(*no_buffer.Build(context.get()), 0, 0, &planned));
  SiteCall same(x, y);
  EXPECT_TRUE(plan->Pack(*same.frame(), 0, 0, &planned));
}

TEST(CallSitePlanTest, IsNotMadeForWhatTheStraightPathDoesNotTake) {
  float x[6];
  int32_t y[4];
  SiteCall call(x, y);
  TargetOptions owned;
  owned.pass_owned_tensor = true;
  EXPECT_EQ(CallSitePlan::Make(MakeBinding({"args", "rets", "attrs.scale", "attrs.mode"}, owned),
                               *call.frame()),
            nullptr);
  TargetOptions checked;
  checked.check = 1;
  EXPECT_EQ(CallSitePlan::Make(MakeBinding({"args", "rets", "attrs.scale", "attrs.mode"}, checked),
                               *call.frame()),
            nullptr);
  // Optional items: their None depends on the shape, kept general.
  EXPECT_EQ(CallSitePlan::Make(MakeBinding({"args.0?", "rets", "attrs.scale", "attrs.mode"}),
                               *call.frame()),
            nullptr);
  // An attribute the spec does not name: the straight path refuses the call.
  EXPECT_EQ(CallSitePlan::Make(MakeBinding({"args", "rets", "attrs.scale"}), *call.frame()),
            nullptr);
}

// fuzz_call_frame, first run with plans: a call that packs nothing copied its (absent) slots
// with memcpy from a null pointer (UBSan: null pointer passed as argument).
TEST(CallSitePlanTest, ACallOfNoArgumentsPacksNothing) {
  Binding binding = MakeBinding({});
  CallFrameBuilder builder;
  FakeExecutionContext context;
  std::unique_ptr<CallSitePlan> plan = CallSitePlan::Make(binding, *builder.Build(context.get()));
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(plan->num_packed(), 0u);
  PlannedCall planned;
  EXPECT_TRUE(plan->Pack(*builder.Build(context.get()), 0, 0, &planned));
}

TEST(CallSitePlanTest, CallsOnManyThreadsShareOnePlan) {
  Binding binding = MakeBinding({"args", "rets", "attrs.scale", "attrs.mode"});
  float x[6];
  int32_t y[4];
  SiteCall first(x, y);
  std::unique_ptr<CallSitePlan> plan = CallSitePlan::Make(binding, *first.frame());
  ASSERT_NE(plan, nullptr);
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<int> mismatches(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      float own_x[6];
      int32_t own_y[4];
      SiteCall call(own_x, own_y);
      XLA_FFI_CallFrame* frame = call.frame();
      for (int i = 0; i < 1000; ++i) {
        PlannedCall planned;
        if (!plan->Pack(*frame, t, 0, &planned) ||
            static_cast<DLTensor*>(planned.packed[0].v_ptr)->data != own_x ||
            static_cast<DLTensor*>(planned.packed[1].v_ptr)->data != own_y ||
            static_cast<DLTensor*>(planned.packed[1].v_ptr)->device.device_id != t) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace jax_tvm_ffi

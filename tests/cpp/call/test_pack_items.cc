/*!
 * \file test_pack_items.cc
 * \brief Tests of the one packing routine: items in spec order, attributes by their sorted
 *        index, buffers by index with "args"/"rets" taking the rest, None for "none" and for an
 *        empty optional buffer, the call's stream and device, and stopping where a slot cannot
 *        be written.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "call/pack_items.h"

namespace jax_tvm_ffi {
namespace {

constexpr int64_t kNoneMarker = -1;

// Tensor slots carry their buffer index (kNoneMarker when the buffer is optional and `empty`
// says it has no elements), attribute slots 1000 + their sorted index.
std::vector<int64_t> PackMarkers(const std::vector<std::string>& items, size_t num_args,
                                 size_t num_rets, const std::vector<size_t>& empty = {}) {
  const PackPlan plan = MakePackPlan(ArgSpec::Parse(items));
  std::vector<TVMFFIAny> out(32, IntSlot(-99));
  const bool ok = PackItems(
      plan, num_args, num_rets,
      [&](size_t i, bool optional, TVMFFIAny* slot) {
        const bool absent = optional && std::find(empty.begin(), empty.end(), i) != empty.end();
        *slot = absent ? NoneSlot() : IntSlot(static_cast<int64_t>(i));
        return true;
      },
      [](size_t w, TVMFFIAny* slot) {
        *slot = IntSlot(1000 + static_cast<int64_t>(w));
        return true;
      },
      /*stream=*/77, /*device_id=*/5, out.data());
  EXPECT_TRUE(ok);
  std::vector<int64_t> values;
  for (const TVMFFIAny& slot : out) {
    if (slot.type_index == kTVMFFINone) {
      values.push_back(kNoneMarker);
    } else if (slot.v_int64 != -99) {
      values.push_back(slot.v_int64);
    }
  }
  return values;
}

TEST(PackItemsTest, PacksItemsInSpecOrder) {
  EXPECT_EQ(PackMarkers({"rets", "attrs.b", "args", "ctx.stream", "attrs.a", "ctx.device_id"},
                        /*num_args=*/2, /*num_rets=*/1),
            (std::vector<int64_t>{2, 1001, 0, 1, 77, 1000, 5}));
}

TEST(PackItemsTest, AttributesTakeTheirSortedIndex) {
  // XLA passes attributes sorted by name: "alpha" is 0, "beta" 1, "gamma" 2, whatever the spec's
  // order.
  const PackPlan plan = MakePackPlan(ArgSpec::Parse({"attrs.gamma", "attrs.alpha", "attrs.beta"}));
  ASSERT_EQ(plan.steps.size(), 3u);
  EXPECT_EQ(plan.steps[0].index, 2u);
  EXPECT_EQ(plan.steps[1].index, 0u);
  EXPECT_EQ(plan.steps[2].index, 1u);
}

TEST(PackItemsTest, BuffersByIndexAndTheRestInOrder) {
  // Outputs first, inputs interleaved: buffers 0..2 are inputs, 3..4 outputs.
  EXPECT_EQ(PackMarkers({"rets.1", "args.2", "args", "rets.0"}, 3, 2),
            (std::vector<int64_t>{4, 2, 0, 1, 3}));
  EXPECT_EQ(PackMarkers({"args", "rets.0", "rets"}, 1, 3), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(PackItemsTest, NoneAndEmptyOptionalBuffersPassNone) {
  EXPECT_EQ(PackMarkers({"args.0", "none", "args.1?", "rets.0?"}, 2, 1, /*empty=*/{1, 2}),
            (std::vector<int64_t>{0, kNoneMarker, kNoneMarker, kNoneMarker}));
  // A buffer that is not optional is passed even when it is empty.
  EXPECT_EQ(PackMarkers({"args.0", "args.1"}, 2, 0, /*empty=*/{0, 1}),
            (std::vector<int64_t>{0, 1}));
}

TEST(PackItemsTest, StopsWhereASlotCannotBeWritten) {
  const PackPlan plan = MakePackPlan(ArgSpec::Parse({"args", "attrs.a"}));
  TVMFFIAny out[4] = {};
  size_t attr_calls = 0;
  const bool ok = PackItems(
      plan, /*num_args=*/3, /*num_rets=*/0, [](size_t i, bool, TVMFFIAny*) { return i != 1; },
      [&attr_calls](size_t, TVMFFIAny*) {
        ++attr_calls;
        return true;
      },
      0, 0, out);
  EXPECT_FALSE(ok);
  EXPECT_EQ(attr_calls, 0u);  // Nothing after the failed slot is packed.
}

TEST(PackItemsTest, BuffersFirstOnlyForArgsThenRetsWithNoIndex) {
  EXPECT_TRUE(MakePackPlan(ArgSpec::Parse({"args", "rets"})).buffers_first);
  EXPECT_TRUE(
      MakePackPlan(ArgSpec::Parse({"args", "rets", "attrs.a", "ctx.stream"})).buffers_first);
  EXPECT_FALSE(MakePackPlan(ArgSpec::Parse({"rets", "args"})).buffers_first);
  EXPECT_FALSE(MakePackPlan(ArgSpec::Parse({"attrs.a", "args", "rets"})).buffers_first);
  EXPECT_FALSE(MakePackPlan(ArgSpec::Parse({"args", "rets", "args.0"})).buffers_first);
  EXPECT_FALSE(MakePackPlan(ArgSpec::Parse({"args", "rets", "rets.1?"})).buffers_first);
  EXPECT_FALSE(MakePackPlan(ArgSpec::Parse({"args"})).buffers_first);
}

// The one loop over every buffer packs what "args" then "rets" would, then the other items.
TEST(PackItemsTest, BuffersFirstPacksFrameOrderThenTheRest) {
  EXPECT_EQ(PackMarkers({"args", "rets", "attrs.b", "ctx.stream", "attrs.a"}, /*num_args=*/3,
                        /*num_rets=*/2),
            (std::vector<int64_t>{0, 1, 2, 3, 4, 1001, 77, 1000}));
  EXPECT_EQ(PackMarkers({"args", "rets", "none", "ctx.device_id"}, 0, 1),
            (std::vector<int64_t>{0, kNoneMarker, 5}));
  EXPECT_EQ(PackMarkers({"args", "rets"}, 2, 0), (std::vector<int64_t>{0, 1}));
}

TEST(PackItemsTest, EmptyListsPackNothing) {
  EXPECT_EQ(PackMarkers({"args", "rets", "ctx.device_id"}, 0, 0), (std::vector<int64_t>{5}));
}

}  // namespace
}  // namespace jax_tvm_ffi

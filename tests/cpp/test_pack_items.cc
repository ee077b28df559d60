/*!
 * \file test_pack_items.cc
 * \brief Tests of the one packing routine: items in spec order, attributes by their sorted
 *        index, the call's stream and device, and stopping where a slot cannot be written.
 */
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pack_items.h"

namespace jax_tvm_ffi {
namespace {

// Tensor slots carry their buffer index, attribute slots 1000 + their sorted index.
TVMFFIAny Marker(int64_t value) { return IntSlot(value); }

std::vector<int64_t> PackMarkers(const std::vector<std::string>& items, size_t num_args,
                                 size_t num_rets, bool* packed = nullptr) {
  const ArgSpec spec = ArgSpec::Parse(items);
  const std::vector<PackStep> steps = MakePackSteps(spec);
  std::vector<TVMFFIAny> out(32);
  const bool ok = PackItems(
      steps, num_args, num_rets,
      [](size_t i, TVMFFIAny* slot) {
        *slot = Marker(static_cast<int64_t>(i));
        return true;
      },
      [](size_t w, TVMFFIAny* slot) {
        *slot = Marker(1000 + static_cast<int64_t>(w));
        return true;
      },
      /*stream=*/77, /*device_id=*/5, out.data());
  if (packed != nullptr) *packed = ok;
  std::vector<int64_t> values;
  for (const TVMFFIAny& slot : out) {
    if (slot.type_index == kTVMFFIInt) values.push_back(slot.v_int64);
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
  const ArgSpec spec = ArgSpec::Parse({"attrs.gamma", "attrs.alpha", "attrs.beta"});
  const std::vector<PackStep> steps = MakePackSteps(spec);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].attr_index, 2u);
  EXPECT_EQ(steps[1].attr_index, 0u);
  EXPECT_EQ(steps[2].attr_index, 1u);
}

TEST(PackItemsTest, StopsWhereASlotCannotBeWritten) {
  const ArgSpec spec = ArgSpec::Parse({"args", "attrs.a"});
  const std::vector<PackStep> steps = MakePackSteps(spec);
  TVMFFIAny out[4] = {};
  size_t attr_calls = 0;
  const bool ok = PackItems(
      steps, /*num_args=*/3, /*num_rets=*/0, [](size_t i, TVMFFIAny*) { return i != 1; },
      [&attr_calls](size_t, TVMFFIAny*) {
        ++attr_calls;
        return true;
      },
      0, 0, out);
  EXPECT_FALSE(ok);
  EXPECT_EQ(attr_calls, 0u);  // Nothing after the failed slot is packed.
}

TEST(PackItemsTest, EmptyListsPackNothing) {
  bool packed = false;
  EXPECT_EQ(PackMarkers({"args", "rets", "ctx.device_id"}, 0, 0, &packed),
            (std::vector<int64_t>{5}));
  EXPECT_TRUE(packed);
}

}  // namespace
}  // namespace jax_tvm_ffi

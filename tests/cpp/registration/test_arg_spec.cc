/*!
 * \file test_arg_spec.cc
 * \brief Tests of arg_spec parsing: item kinds, order, the sorted attribute plan, and the errors
 *        (with their suggestions) for malformed items.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/error.h>

#include <string>
#include <vector>

#include "jax_tvm_ffi/arg_spec.h"

namespace jax_tvm_ffi {
namespace {

using ::testing::HasSubstr;

// Parses `items`, which must fail, and returns the error.
tvm::ffi::Error ParseError(const std::vector<std::string>& items) {
  try {
    ArgSpec::Parse(items);
  } catch (const tvm::ffi::Error& error) {
    return error;
  }
  ADD_FAILURE() << "ArgSpec::Parse accepted an invalid spec";
  return tvm::ffi::Error("None", "", "");
}

TEST(ArgSpecTest, ParsesEveryItemKind) {
  ArgSpec spec =
      ArgSpec::Parse({"args", "rets", "attrs.eps", "ctx.stream", "ctx.device_id", "attrs.mode"});
  const std::vector<ArgSpecItem>& items = spec.items();
  ASSERT_EQ(items.size(), 6u);
  EXPECT_EQ(items[0].kind, ArgKind::kArgs);
  EXPECT_EQ(items[1].kind, ArgKind::kRets);
  EXPECT_EQ(items[2].kind, ArgKind::kAttr);
  EXPECT_EQ(items[2].attr_name, "eps");
  EXPECT_EQ(items[3].kind, ArgKind::kStream);
  EXPECT_EQ(items[4].kind, ArgKind::kDeviceId);
  EXPECT_EQ(items[5].kind, ArgKind::kAttr);
  EXPECT_EQ(items[5].attr_name, "mode");
  for (size_t i : {0u, 1u, 3u, 4u}) EXPECT_EQ(items[i].attr_name, "") << "item " << i;
}

TEST(ArgSpecTest, DefaultIsArgsThenRets) {
  ArgSpec spec = ArgSpec::Default();
  ASSERT_EQ(spec.items().size(), 2u);
  EXPECT_EQ(spec.items()[0].kind, ArgKind::kArgs);
  EXPECT_EQ(spec.items()[1].kind, ArgKind::kRets);
  EXPECT_TRUE(spec.sorted_attr_names().empty());
  EXPECT_TRUE(spec.sorted_attr_items().empty());
  EXPECT_EQ(spec.ToString(), "[args, rets]");
}

TEST(ArgSpecTest, EmptySpecIsValid) {
  ArgSpec spec = ArgSpec::Parse({});
  EXPECT_TRUE(spec.items().empty());
  EXPECT_EQ(spec.ToString(), "[]");
}

TEST(ArgSpecTest, KeepsTheGivenOrder) {
  ArgSpec spec = ArgSpec::Parse({"rets", "ctx.stream", "attrs.b", "args"});
  ASSERT_EQ(spec.items().size(), 4u);
  EXPECT_EQ(spec.items()[0].kind, ArgKind::kRets);
  EXPECT_EQ(spec.items()[1].kind, ArgKind::kStream);
  EXPECT_EQ(spec.items()[2].kind, ArgKind::kAttr);
  EXPECT_EQ(spec.items()[3].kind, ArgKind::kArgs);
}

TEST(ArgSpecTest, SortsAttributeNamesBytewiseAndMapsThemToItems) {
  // "B" < "a" < "a.b" < "a_c" < "ab" bytewise, as XLA orders a call frame's attributes.
  ArgSpec spec =
      ArgSpec::Parse({"attrs.ab", "args", "attrs.a_c", "attrs.B", "rets", "attrs.a", "attrs.a.b"});
  EXPECT_EQ(spec.sorted_attr_names(), (std::vector<std::string>{"B", "a", "a.b", "a_c", "ab"}));
  EXPECT_EQ(spec.sorted_attr_items(), (std::vector<size_t>{3, 5, 6, 2, 0}));
  for (size_t w = 0; w < spec.sorted_attr_names().size(); ++w) {
    const ArgSpecItem& item = spec.items()[spec.sorted_attr_items()[w]];
    EXPECT_EQ(item.kind, ArgKind::kAttr);
    EXPECT_EQ(item.attr_name, spec.sorted_attr_names()[w]);
  }
}

TEST(ArgSpecTest, ToStringWritesItemsBack) {
  ArgSpec spec = ArgSpec::Parse({"attrs.eps", "args", "ctx.device_id", "rets", "ctx.stream"});
  EXPECT_EQ(spec.ToString(), "[attrs.eps, args, ctx.device_id, rets, ctx.stream]");
}

TEST(ArgSpecTest, ParsesBuffersByIndexOptionalBuffersAndNone) {
  ArgSpec spec = ArgSpec::Parse({"rets.1", "args.0?", "none", "args", "rets.0", "args.12"});
  const std::vector<ArgSpecItem>& items = spec.items();
  ASSERT_EQ(items.size(), 6u);
  EXPECT_EQ(items[0].kind, ArgKind::kRet);
  EXPECT_EQ(items[0].index, 1u);
  EXPECT_FALSE(items[0].optional);
  EXPECT_EQ(items[1].kind, ArgKind::kArg);
  EXPECT_EQ(items[1].index, 0u);
  EXPECT_TRUE(items[1].optional);
  EXPECT_EQ(items[2].kind, ArgKind::kNone);
  EXPECT_EQ(items[3].kind, ArgKind::kArgs);
  EXPECT_EQ(items[5].index, 12u);
  EXPECT_EQ(spec.named_args(), (std::vector<size_t>{0, 12}));
  EXPECT_EQ(spec.named_rets(), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(spec.ToString(), "[rets.1, args.0?, none, args, rets.0, args.12]");
}

TEST(ArgSpecTest, MalformedIndicesAreRejected) {
  for (const char* item : {"args.", "args.x", "args.-1", "args.01", "rets.1??", "args.?", "rets.1a",
                           "args.+1", "args. 1"}) {
    tvm::ffi::Error error = ParseError({item});
    EXPECT_EQ(error.kind(), "ValueError") << item;
    EXPECT_THAT(error.message(), HasSubstr(std::string("\"") + item + "\"")) << item;
    EXPECT_THAT(error.message(), HasSubstr("non-negative integer")) << item;
  }
  tvm::ffi::Error error = ParseError({"args.99999999"});
  EXPECT_THAT(error.message(), HasSubstr("larger than"));
}

TEST(ArgSpecTest, ABufferNamedTwiceIsRejected) {
  tvm::ffi::Error error = ParseError({"args.0", "rets", "args.0?"});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("\"args.0?\""));
  EXPECT_THAT(error.message(), HasSubstr("input 0, which another item already names"));
  // The same index among inputs and among outputs names two different buffers.
  EXPECT_NO_THROW(ArgSpec::Parse({"args.0", "rets.0"}));
}

TEST(ArgSpecTest, NoneMayFillSeveralParameters) {
  ArgSpec spec = ArgSpec::Parse({"none", "args", "none"});
  EXPECT_EQ(spec.ToString(), "[none, args, none]");
}

TEST(ArgSpecTest, ACountErrorNamesTheItemAsWritten) {
  EXPECT_EQ(ArgSpec::Parse({"args.0?", "rets"}).CheckBufferCounts(0, 1),
            "arg_spec item \"args.0?\" names input 0, but the call has 0 inputs");
}

TEST(ArgSpecTest, BufferCountsAreCheckedOnlyWhereBuffersAreNamedByIndex) {
  ArgSpec by_index = ArgSpec::Parse({"args.1", "args.0", "rets"});
  EXPECT_TRUE(by_index.BufferCountsOk(2, 5));
  EXPECT_EQ(by_index.CheckBufferCounts(2, 5), "");
  EXPECT_FALSE(by_index.BufferCountsOk(1, 1));
  EXPECT_EQ(by_index.CheckBufferCounts(1, 1),
            "arg_spec item \"args.1\" names input 1, but the call has 1 input");
  EXPECT_FALSE(by_index.BufferCountsOk(3, 1));
  EXPECT_EQ(by_index.CheckBufferCounts(3, 1),
            "input 2 of 3 is passed by no arg_spec item: name it (\"args.2\") or pass the rest "
            "with \"args\"");
  ArgSpec with_rest = ArgSpec::Parse({"args.1", "args"});
  EXPECT_TRUE(with_rest.BufferCountsOk(7, 0));
  EXPECT_FALSE(with_rest.BufferCountsOk(1, 0));
  // The grammar of 0.1.3: no index, nothing checked.
  EXPECT_TRUE(ArgSpec::Parse({"args"}).BufferCountsOk(3, 4));
}

TEST(ArgSpecTest, RetSuggestsRets) {
  tvm::ffi::Error error = ParseError({"args", "ret"});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("\"ret\""));
  EXPECT_THAT(error.message(), HasSubstr("Did you mean \"rets\"?"));
}

TEST(ArgSpecTest, ArgSuggestsArgs) {
  tvm::ffi::Error error = ParseError({"arg", "rets"});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("\"arg\""));
  EXPECT_THAT(error.message(), HasSubstr("Did you mean \"args\"?"));
}

TEST(ArgSpecTest, AttrDotSuggestsAttrsDot) {
  tvm::ffi::Error error = ParseError({"args", "rets", "attr.eps"});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("\"attr.eps\""));
  EXPECT_THAT(error.message(), HasSubstr("Did you mean \"attrs.eps\"?"));
}

TEST(ArgSpecTest, AttrsColonSuggestsAttrsDot) {
  tvm::ffi::Error error = ParseError({"attrs:eps"});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("\"attrs:eps\""));
  EXPECT_THAT(error.message(), HasSubstr("Did you mean \"attrs.eps\"?"));
}

TEST(ArgSpecTest, EmptyAttributeNameIsRejected) {
  tvm::ffi::Error error = ParseError({"args", "attrs."});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("\"attrs.\""));
  EXPECT_THAT(error.message(), HasSubstr("empty"));
}

TEST(ArgSpecTest, BareAttrsIsRejected) {
  tvm::ffi::Error error = ParseError({"attrs"});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("\"attrs\""));
  EXPECT_THAT(error.message(), HasSubstr("needs a name"));
}

TEST(ArgSpecTest, UnknownContextItemIsRejected) {
  tvm::ffi::Error error = ParseError({"args", "ctx.foo"});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("\"ctx.foo\""));
  EXPECT_THAT(error.message(), HasSubstr("unknown item"));
  // The message lists what is valid.
  EXPECT_THAT(error.message(), HasSubstr("\"ctx.stream\""));
  EXPECT_THAT(error.message(), HasSubstr("\"ctx.device_id\""));
}

TEST(ArgSpecTest, NearMissOfContextItemSuggestsIt) {
  tvm::ffi::Error error = ParseError({"ctx.streams"});
  EXPECT_THAT(error.message(), HasSubstr("Did you mean \"ctx.stream\"?"));
}

TEST(ArgSpecTest, FarMissHasNoSuggestion) {
  tvm::ffi::Error error = ParseError({"weights"});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("\"weights\""));
  EXPECT_THAT(error.message(), ::testing::Not(HasSubstr("Did you mean")));
}

TEST(ArgSpecTest, EmptyItemIsRejected) {
  tvm::ffi::Error error = ParseError({"args", ""});
  EXPECT_EQ(error.kind(), "ValueError");
  EXPECT_THAT(error.message(), HasSubstr("item \"\""));
}

TEST(ArgSpecTest, RepeatedItemsAreRejected) {
  for (std::string item : {"args", "rets", "ctx.stream", "ctx.device_id", "attrs.eps"}) {
    tvm::ffi::Error error = ParseError({item, "attrs.other", item});
    EXPECT_EQ(error.kind(), "ValueError") << item;
    EXPECT_THAT(error.message(), HasSubstr("\"" + item + "\"")) << item;
    EXPECT_THAT(error.message(), HasSubstr("more than once")) << item;
  }
}

}  // namespace
}  // namespace jax_tvm_ffi

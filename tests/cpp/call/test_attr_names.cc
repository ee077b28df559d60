/*!
 * \file test_attr_names.cc
 * \brief Tests of the attribute-name compare of the call path: every name length the word compare
 *        covers and beyond it, every byte of a name, counts and order. Each frame name lives in a
 *        heap block of exactly its length, so that a read past it is caught by ASan.
 */
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "call/attr_names.h"

namespace jax_tvm_ffi {
namespace {

// The names of an XLA_FFI_Attrs (only names matter here), each in an exactly sized heap block.
class FrameNames {
 public:
  explicit FrameNames(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      bytes_.emplace_back(new char[name.size()]);
      name.copy(bytes_.back().get(), name.size());
      spans_.push_back(XLA_FFI_ByteSpan{name.empty() ? nullptr : bytes_.back().get(), name.size()});
    }
    for (XLA_FFI_ByteSpan& span : spans_) pointers_.push_back(&span);
    attrs_ = XLA_FFI_Attrs{
        XLA_FFI_Attrs_STRUCT_SIZE, nullptr, static_cast<int64_t>(spans_.size()), nullptr,
        pointers_.data(),          nullptr};
  }
  const XLA_FFI_Attrs& attrs() const { return attrs_; }

 private:
  std::vector<std::unique_ptr<char[]>> bytes_;
  std::vector<XLA_FFI_ByteSpan> spans_;
  std::vector<XLA_FFI_ByteSpan*> pointers_;
  XLA_FFI_Attrs attrs_;
};

bool Match(const std::vector<std::string>& spec, const std::vector<std::string>& frame) {
  return AttrNames(spec).MatchInOrder(FrameNames(frame).attrs());
}

// A name of `len` bytes, distinct at every position.
std::string NameOfLength(size_t len) {
  std::string name;
  for (size_t i = 0; i < len; ++i) name.push_back(static_cast<char>('a' + i % 26));
  return name;
}

TEST(AttrNamesTest, EveryLengthMatchesItself) {
  for (size_t len = 0; len <= 40; ++len) {
    const std::string name = NameOfLength(len);
    EXPECT_TRUE(Match({name}, {name})) << "length " << len;
  }
}

TEST(AttrNamesTest, EveryChangedByteIsSeen) {
  for (size_t len = 1; len <= 40; ++len) {
    const std::string name = NameOfLength(len);
    for (size_t i = 0; i < len; ++i) {
      std::string changed = name;
      changed[i] = static_cast<char>(changed[i] ^ 0x20);
      EXPECT_FALSE(Match({name}, {changed})) << "length " << len << ", byte " << i;
    }
  }
}

TEST(AttrNamesTest, PrefixesAndExtensionsDoNotMatch) {
  for (size_t len = 1; len <= 40; ++len) {
    const std::string name = NameOfLength(len);
    EXPECT_FALSE(Match({name}, {name.substr(0, len - 1)})) << "length " << len;
    EXPECT_FALSE(Match({name.substr(0, len - 1)}, {name})) << "length " << len;
  }
}

TEST(AttrNamesTest, CountAndOrderMatter) {
  EXPECT_TRUE(Match({}, {}));
  EXPECT_TRUE(Match({"alpha", "beta"}, {"alpha", "beta"}));
  EXPECT_FALSE(Match({"alpha", "beta"}, {"beta", "alpha"}));
  EXPECT_FALSE(Match({"alpha", "beta"}, {"alpha"}));
  EXPECT_FALSE(Match({"alpha"}, {"alpha", "beta"}));
  EXPECT_FALSE(Match({}, {"alpha"}));
}

TEST(AttrNamesTest, BytesBeyondAsciiAndNul) {
  const std::string with_nul("a\0b", 3);
  EXPECT_TRUE(Match({with_nul}, {with_nul}));
  EXPECT_FALSE(Match({with_nul}, {std::string("a\0c", 3)}));
  const std::string high = "\xff\xfe\xfd\xfc\xfb";
  EXPECT_TRUE(Match({high}, {high}));
  EXPECT_FALSE(Match({high}, {"\xff\xfe\xfd\xfc\xfa"}));
}

TEST(AttrNamesTest, SizeIsTheNumberOfNames) {
  EXPECT_EQ(AttrNames().size(), 0u);
  EXPECT_EQ(AttrNames({"a", "b", "c"}).size(), 3u);
}

}  // namespace
}  // namespace jax_tvm_ffi

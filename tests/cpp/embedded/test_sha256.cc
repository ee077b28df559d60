// Tests of src/embedded/sha256.cc against the FIPS 180-4 examples (NIST's SHA-256 test vectors)
// and padding edge cases checked against Python's hashlib.
#include <gtest/gtest.h>

#include <string>

#include "embedded/sha256.h"

namespace jax_tvm_ffi {
namespace {

std::string HexOf(const std::string& text) {
  return Sha256Hex(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

TEST(Sha256Test, NistVectors) {
  EXPECT_EQ(HexOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexOf("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexOf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(HexOf(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Lengths around the block and padding boundaries: 55 bytes pad into one block, 56 into two.
TEST(Sha256Test, PaddingBoundaries) {
  EXPECT_EQ(HexOf(std::string(55, 'x')),
            "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
  EXPECT_EQ(HexOf(std::string(56, 'x')),
            "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
  EXPECT_EQ(HexOf(std::string(64, 'x')),
            "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
}

TEST(Sha256Test, RawDigestMatchesHex) {
  const std::string text = "jax_tvm_ffi";
  const auto digest = Sha256(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  std::string hex;
  for (uint8_t byte : digest) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0xf];
  }
  EXPECT_EQ(hex, HexOf(text));
}

}  // namespace
}  // namespace jax_tvm_ffi

// Tests of src/embedded/payload.cc: decoding an embedded kernel's payload from a call's
// attributes, and every way a payload can be malformed.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "embedded/payload.h"
#include "fake_xla_api.h"

namespace jax_tvm_ffi {
namespace {

using testing::AttrsBuilder;

const std::vector<uint8_t> kLibrary = {0x7f, 'E', 'L', 'F', 1, 2, 3};

// A complete payload plus the kernel's own attribute "scale"; `skip` leaves one key out.
void AddPayload(AttrsBuilder& attrs, const std::string& skip = "", int64_t version = 1) {
  const std::string p(kPayloadPrefix);
  if (skip != "version") attrs.Scalar<int64_t>(p + "version", XLA_FFI_DataType_S64, version);
  if (skip != "name") attrs.String(p + "name", "my.kernel");
  if (skip != "function") attrs.String(p + "function", "add_one");
  if (skip != "library") attrs.Array<uint8_t>(p + "library", XLA_FFI_DataType_U8, kLibrary);
  if (skip != "digest") attrs.String(p + "digest", "abc123");
  if (skip != "arg_spec") attrs.String(p + "arg_spec", "args\nrets\nattrs.scale");
  if (skip != "options") {
    attrs.String(p + "options",
                 "platform=cuda\nallow_cuda_graph=1\npass_owned_tensor=0\ncheck=3\n"
                 "input_layouts=1,0;;0\noutput_layouts=");
  }
  attrs.Scalar<float>("scale", XLA_FFI_DataType_F32, 2.0f);
}

TEST(PayloadTest, DecodesEveryField) {
  AttrsBuilder attrs;
  AddPayload(attrs);
  EmbeddedPayload payload;
  Status status = DecodePayload(attrs.Build(), &payload);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(payload.name, "my.kernel");
  EXPECT_EQ(payload.function, "add_one");
  EXPECT_EQ(std::vector<uint8_t>(payload.library, payload.library + payload.library_size),
            kLibrary);
  EXPECT_EQ(payload.digest, "abc123");
  EXPECT_EQ(payload.arg_spec, (std::vector<std::string>{"args", "rets", "attrs.scale"}));
  EXPECT_EQ(payload.options.platform, Platform::kCuda);
  EXPECT_TRUE(payload.options.allow_cuda_graph);
  EXPECT_FALSE(payload.options.pass_owned_tensor);
  EXPECT_EQ(payload.options.check, 3u);
  EXPECT_EQ(payload.options.input_layouts, (std::vector<std::vector<int64_t>>{{1, 0}, {}, {0}}));
  EXPECT_EQ(payload.options.output_layouts, (std::vector<std::vector<int64_t>>{{}}));
  // Sorted by name, the payload's attributes come before the kernel's "scale".
  EXPECT_EQ(payload.num_attrs, 7u);
}

TEST(PayloadTest, NameDefaultsToTheFunction) {
  AttrsBuilder attrs;
  AddPayload(attrs, "name");
  EmbeddedPayload payload;
  ASSERT_TRUE(DecodePayload(attrs.Build(), &payload).ok());
  EXPECT_EQ(payload.name, "add_one");
}

TEST(PayloadTest, EachRequiredAttributeIsNamedWhenMissing) {
  for (const std::string key : {"version", "library", "digest", "function"}) {
    AttrsBuilder attrs;
    AddPayload(attrs, key);
    EmbeddedPayload payload;
    Status status = DecodePayload(attrs.Build(), &payload);
    ASSERT_FALSE(status.ok()) << key;
    EXPECT_NE(status.message().find("'!jax_tvm_ffi." + key + "'"), std::string::npos)
        << status.message();
  }
}

TEST(PayloadTest, NewerVersionIsRefusedNamingBoth) {
  AttrsBuilder attrs;
  AddPayload(attrs, "", /*version=*/2);
  EmbeddedPayload payload;
  Status status = DecodePayload(attrs.Build(), &payload);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("format version 2"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("reads version 1"), std::string::npos) << status.message();
}

TEST(PayloadTest, WrongTypesAreRefused) {
  const std::string p(kPayloadPrefix);
  {
    AttrsBuilder attrs;
    AddPayload(attrs, "version");
    attrs.Scalar<int32_t>(p + "version", XLA_FFI_DataType_S32, 1);
    EmbeddedPayload payload;
    Status status = DecodePayload(attrs.Build(), &payload);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find("int64 scalar"), std::string::npos) << status.message();
  }
  {
    AttrsBuilder attrs;
    AddPayload(attrs, "library");
    attrs.Array<float>(p + "library", XLA_FFI_DataType_F32, {1.0f});
    EmbeddedPayload payload;
    Status status = DecodePayload(attrs.Build(), &payload);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find("uint8 array"), std::string::npos) << status.message();
  }
  {
    AttrsBuilder attrs;
    AddPayload(attrs, "digest");
    attrs.Scalar<int64_t>(p + "digest", XLA_FFI_DataType_S64, 5);
    EmbeddedPayload payload;
    Status status = DecodePayload(attrs.Build(), &payload);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find("must be a string"), std::string::npos) << status.message();
  }
}

TEST(PayloadTest, UnknownPayloadAttributeIsRefused) {
  AttrsBuilder attrs;
  AddPayload(attrs);
  attrs.String(std::string(kPayloadPrefix) + "extra", "x");
  EmbeddedPayload payload;
  Status status = DecodePayload(attrs.Build(), &payload);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'!jax_tvm_ffi.extra'"), std::string::npos) << status.message();
}

// XLA sorts attributes by name, so the payload's come first; a frame where a kernel attribute
// precedes one of them was not made by XLA and is refused.
TEST(PayloadTest, PayloadAttributesMustComeFirst) {
  AttrsBuilder shuffled;
  shuffled.Scalar<float>("a_first", XLA_FFI_DataType_F32, 1.0f);
  AddPayload(shuffled);
  EmbeddedPayload payload;
  Status status = DecodePayload(shuffled.Build(/*sorted=*/false), &payload);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("not among the first attributes"), std::string::npos)
      << status.message();
}

TEST(PayloadTest, OptionsParseAndRefuseMalformedLines) {
  TargetOptions options;
  ASSERT_TRUE(ParsePayloadOptions("", &options).ok());
  EXPECT_EQ(options.platform, Platform::kCpu);
  ASSERT_TRUE(ParsePayloadOptions("last_result_is_workspace=1\npython_backed=0\n", &options).ok());
  EXPECT_TRUE(options.last_result_is_workspace);
  for (const char* bad : {"allow_cuda_graph=yes", "check=-1", "check=", "platform=tpu",
                          "input_layouts=1,x", "no_equals_sign"}) {
    Status status = ParsePayloadOptions(bad, &options);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_NE(status.message().find("malformed"), std::string::npos) << status.message();
  }
  Status status = ParsePayloadOptions("colour=blue", &options);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("unknown option 'colour'"), std::string::npos);
}

}  // namespace
}  // namespace jax_tvm_ffi

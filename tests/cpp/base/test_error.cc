/*!
 * \file test_error.cc
 * \brief Tests of error translation: a raised TVM FFI error to a Status, a Status to an XLA error.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/c_api.h>

#include <string>
#include <utility>

#include "base/error.h"
#include "fake_xla_api.h"

namespace jax_tvm_ffi {
namespace {

using testing::ErrorInfo;
using testing::FakeApi;
using ::testing::HasSubstr;
using testing::LiveErrorCount;
using testing::TakeError;
using std::string_literals::operator""s;

TEST(ErrorTest, TakesRaisedErrorAsKindAndMessage) {
  TVMFFIErrorSetRaisedFromCStr("TypeError", "boom");
  Status status = TakeRaisedTvmError();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "TypeError: boom");
}

TEST(ErrorTest, TakingClearsTheRaisedError) {
  TVMFFIErrorSetRaisedFromCStr("ValueError", "first");
  EXPECT_EQ(TakeRaisedTvmError().message(), "ValueError: first");
  TVMFFIErrorSetRaisedFromCStr("RuntimeError", "second");
  EXPECT_EQ(TakeRaisedTvmError().message(), "RuntimeError: second");
}

TEST(ErrorTest, CodeFollowsTheErrorKind) {
  const std::pair<const char*, XLA_FFI_Error_Code> cases[] = {
      {"ValueError", XLA_FFI_Error_Code_INVALID_ARGUMENT},
      {"TypeError", XLA_FFI_Error_Code_INVALID_ARGUMENT},
      {"IndexError", XLA_FFI_Error_Code_OUT_OF_RANGE},
      {"KeyError", XLA_FFI_Error_Code_OUT_OF_RANGE},
      {"NotImplementedError", XLA_FFI_Error_Code_UNIMPLEMENTED},
      {"MemoryError", XLA_FFI_Error_Code_RESOURCE_EXHAUSTED},
      {"InternalError", XLA_FFI_Error_Code_INTERNAL},
      {"RuntimeError", XLA_FFI_Error_Code_UNKNOWN},
      {"MyCustomError", XLA_FFI_Error_Code_UNKNOWN},
  };
  for (const auto& [kind, code] : cases) {
    TVMFFIErrorSetRaisedFromCStr(kind, "boom");
    Status status = TakeRaisedTvmError();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), code) << kind;
  }
}

TEST(ErrorTest, NoRaisedErrorIsStillAFailure) {
  TVMFFIObjectHandle none = nullptr;
  TVMFFIErrorMoveFromRaised(&none);  // Make sure nothing is pending.
  Status status = TakeRaisedTvmError();
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("no error object"));
}

TEST(ErrorTest, XlaErrorNamesTheTargetAndKeepsTheCode) {
  int live = LiveErrorCount();
  XLA_FFI_Error* error =
      MakeXlaError(FakeApi(), "my.kernel",
                   Status::Error(XLA_FFI_Error_Code_FAILED_PRECONDITION, "ValueError: bad x"));
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(LiveErrorCount(), live + 1);
  ErrorInfo info = TakeError(error);
  EXPECT_EQ(info.code, XLA_FFI_Error_Code_FAILED_PRECONDITION);
  EXPECT_EQ(info.message, "jax_tvm_ffi target 'my.kernel': ValueError: bad x");
  EXPECT_EQ(LiveErrorCount(), live);
}

TEST(ErrorTest, XlaErrorEscapesControlBytesInsteadOfCuttingAtThem) {
  // XLA takes the message as a C string: a NUL would end it there and drop the rest.
  std::string message = "ValueError: a\0b \x1b[31mred\x7f\r end"s;
  ErrorInfo info = TakeError(
      MakeXlaError(FakeApi(), "my.kernel", Status::Error(XLA_FFI_Error_Code_UNKNOWN, message)));
  EXPECT_EQ(info.message,
            "jax_tvm_ffi target 'my.kernel': ValueError: a\\x00b \\x1b[31mred\\x7f\\x0d end");
}

TEST(ErrorTest, XlaErrorEscapesControlBytesInTheTargetName) {
  ErrorInfo info = TakeError(MakeXlaError(FakeApi(), "my\0kernel\x01"s,
                                          Status::Error(XLA_FFI_Error_Code_UNKNOWN, "boom")));
  EXPECT_EQ(info.message, "jax_tvm_ffi target 'my\\x00kernel\\x01': boom");
}

TEST(ErrorTest, XlaErrorKeepsLineBreaksTabsAndUtf8) {
  // Multi-line messages (tracebacks) and non-ASCII text must read as written.
  std::string message = "Traceback:\n\tline 1\n\xc3\xa9t\xc3\xa9 \xe2\x9c\x93";
  ErrorInfo info = TakeError(
      MakeXlaError(FakeApi(), "my.kernel", Status::Error(XLA_FFI_Error_Code_UNKNOWN, message)));
  EXPECT_EQ(info.message, "jax_tvm_ffi target 'my.kernel': " + message);
}

TEST(ErrorTest, InvalidArgumentStatusHasItsCode) {
  Status status = Status::InvalidArgument("nope");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_EQ(status.message(), "nope");
  EXPECT_TRUE(Status().ok());
}

}  // namespace
}  // namespace jax_tvm_ffi

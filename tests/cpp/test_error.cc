/*!
 * \file test_error.cc
 * \brief Tests of error translation: a raised TVM FFI error to a Status, a Status to an XLA error.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/c_api.h>

#include <string>

#include "error.h"
#include "fake_xla_api.h"

namespace jax_tvm_ffi {
namespace {

using testing::ErrorInfo;
using testing::FakeApi;
using ::testing::HasSubstr;
using testing::LiveErrorCount;
using testing::TakeError;

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

TEST(ErrorTest, InvalidArgumentStatusHasItsCode) {
  Status status = Status::InvalidArgument("nope");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_EQ(status.message(), "nope");
  EXPECT_TRUE(Status().ok());
}

}  // namespace
}  // namespace jax_tvm_ffi

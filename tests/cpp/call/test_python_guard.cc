/*!
 * \file test_python_guard.cc
 * \brief Tests of the exit guard for Python-backed targets: once BlockPythonCalls() is called,
 *        their calls fail without calling the function, other targets are unaffected, and
 *        running calls are counted. BlockPythonCalls is process-wide and irreversible; ctest runs
 *        each test in its own process.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/function.h>

#include <cstddef>

#include "fake_xla_api.h"
#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using testing::FakeExecutionContext;
using ::testing::HasSubstr;
using testing::TakeError;

TargetOptions PythonBacked() {
  TargetOptions options;
  options.python_backed = true;
  return options;
}

TEST(PythonGuardTest, BlockedPythonTargetsFailWithoutCallingTheFunction) {
  int calls = 0;
  tvm::ffi::Function count =
      tvm::ffi::Function::FromPacked([&calls](tvm::ffi::PackedArgs, tvm::ffi::Any*) { ++calls; });
  XLA_FFI_Handler* python =
      RegisterTarget("guard.python", count, ArgSpec::Parse({}), PythonBacked());
  XLA_FFI_Handler* cpp = RegisterTarget("guard.cpp", count, ArgSpec::Parse({}), TargetOptions{});
  CallFrameBuilder builder;
  FakeExecutionContext context;
  ASSERT_EQ(python(builder.Build(context.get())), nullptr);
  EXPECT_EQ(calls, 1);

  BlockPythonCalls();
  XLA_FFI_Error* error = python(builder.Build(context.get()));
  ASSERT_NE(error, nullptr);
  testing::ErrorInfo info = TakeError(error);
  EXPECT_EQ(info.code, XLA_FFI_Error_Code_CANCELLED);
  EXPECT_THAT(info.message, HasSubstr("guard.python"));
  EXPECT_THAT(info.message, HasSubstr("shutting down"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(PythonCallsInFlight(), 0u);

  ASSERT_EQ(cpp(builder.Build(context.get())), nullptr);
  EXPECT_EQ(calls, 2);
}

TEST(PythonGuardTest, RunningPythonCallsAreCounted) {
  size_t in_flight = 0;
  tvm::ffi::Function observe = tvm::ffi::Function::FromPacked(
      [&in_flight](tvm::ffi::PackedArgs, tvm::ffi::Any*) { in_flight = PythonCallsInFlight(); });
  XLA_FFI_Handler* python =
      RegisterTarget("guard.observe", observe, ArgSpec::Parse({}), PythonBacked());
  CallFrameBuilder builder;
  FakeExecutionContext context;
  ASSERT_EQ(python(builder.Build(context.get())), nullptr);
  EXPECT_EQ(in_flight, 1u);
  EXPECT_EQ(PythonCallsInFlight(), 0u);
}

}  // namespace
}  // namespace jax_tvm_ffi

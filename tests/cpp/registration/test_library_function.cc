/*!
 * \file test_library_function.cc
 * \brief Tests of seeing library functions through to their symbols: the layout learned from the
 *        probe of the package's own library, refused for anything else, and calls of a library
 *        function through the handler at its symbol (results and errors as through safe_call).
 */
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include <optional>
#include <string>

#include "fake_xla_api.h"
#include "jax_tvm_ffi/target.h"
#include "registration/binding.h"
#include "registration/library_function.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using testing::FakeExecutionContext;
using ::testing::HasSubstr;
using testing::TakeError;
using tvm::ffi::Function;

// The package's own library, loaded as tvm_ffi.load_module loads a kernel library. Each test
// starts with nothing learned.
class LibraryFunctionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ForgetLibraryFunctionLayout();
    module_ = tvm::ffi::Module::LoadFromFile(JAX_TVM_FFI_TEST_LIBRARY);
    handle_ = dlopen(JAX_TVM_FFI_TEST_LIBRARY, RTLD_LAZY | RTLD_NOLOAD);
    ASSERT_NE(handle_, nullptr) << dlerror();
  }
  void TearDown() override {
    ForgetLibraryFunctionLayout();
    if (handle_ != nullptr) dlclose(handle_);
  }
  Function Get(const char* name) { return (*module_)->GetFunction(name).value(); }
  TVMFFISafeCallType Symbol(const char* name) {
    return reinterpret_cast<TVMFFISafeCallType>(dlsym(handle_, name));
  }
  void Learn() { LearnLibraryFunctionLayout(Get("call_probe"), Symbol("__tvm_ffi_call_probe")); }

  std::optional<tvm::ffi::Module> module_;
  void* handle_ = nullptr;
};

TEST_F(LibraryFunctionTest, NothingIsSeenThroughBeforeTheProbe) {
  Function build_info = Get("build_info");
  EXPECT_EQ(LibrarySymbolOf(build_info.get()), nullptr);
  EXPECT_EQ(DirectEntryOf(build_info.get()), nullptr);
}

TEST_F(LibraryFunctionTest, TheProbeTeachesEveryFunctionOfALibrary) {
  Learn();
  TVMFFISafeCallType build_info = Symbol("__tvm_ffi_build_info");
  ASSERT_NE(build_info, nullptr);
  EXPECT_EQ(LibrarySymbolOf(Get("build_info").get()), build_info);
  // tvm_ffi's trampoline passes a null self: the symbol is called in its place.
  EXPECT_EQ(DirectEntryOf(Get("build_info").get()), build_info);
}

TEST_F(LibraryFunctionTest, FunctionsMadeInCppAreNotLibraryFunctions) {
  Learn();
  Function made = Function::FromTyped([](int64_t x) { return x + 1; });
  EXPECT_EQ(LibrarySymbolOf(made.get()), nullptr);
  EXPECT_EQ(DirectEntryOf(made.get()), nullptr);
  EXPECT_EQ(LibrarySymbolOf(nullptr), nullptr);
}

TEST_F(LibraryFunctionTest, AProbeThatIsNotTheGivenSymbolTeachesNothing) {
  // build_info's function does not store call_probe's symbol.
  LearnLibraryFunctionLayout(Get("build_info"), Symbol("__tvm_ffi_call_probe"));
  EXPECT_EQ(LibrarySymbolOf(Get("build_info").get()), nullptr);
  // A function that is its own symbol (no trampoline) teaches nothing either.
  Function plain = Function::FromTyped([](int64_t x) { return x; });
  LearnLibraryFunctionLayout(plain, plain.get()->safe_call);
  EXPECT_EQ(LibrarySymbolOf(Get("build_info").get()), nullptr);
}

TEST_F(LibraryFunctionTest, BindingsCallTheSymbol) {
  Learn();
  Binding binding("library_function.binding", Get("build_info"), ArgSpec::Parse({"args"}),
                  TargetOptions{});
  EXPECT_EQ(binding.direct_entry, Symbol("__tvm_ffi_build_info"));
  Binding made("library_function.made", Function::FromTyped([]() {}), ArgSpec::Parse({}),
               TargetOptions{});
  EXPECT_EQ(made.direct_entry, nullptr);
}

// Through the handler: what the symbol returns and raises reaches XLA as through safe_call.
TEST_F(LibraryFunctionTest, CallsAtTheSymbolReportResultsAndErrors) {
  Learn();
  // build_info takes no argument and returns an array: a bridged function must return None.
  XLA_FFI_Handler* returns_value =
      RegisterTarget("library_function.returns_value", Get("build_info"), ArgSpec::Parse({}), {});
  FakeExecutionContext context;
  CallFrameBuilder no_args;
  XLA_FFI_Error* error = returns_value(no_args.Build(context.get()));
  ASSERT_NE(error, nullptr);
  EXPECT_THAT(TakeError(error).message, HasSubstr("returned a value of type"));
  // function_library takes a Function: given a tensor, the symbol raises a TypeError.
  XLA_FFI_Handler* raises = RegisterTarget("library_function.raises", Get("function_library"),
                                           ArgSpec::Parse({"args"}), {});
  float x[2] = {1, 2};
  CallFrameBuilder one_tensor;
  one_tensor.AddArg(XLA_FFI_DataType_F32, x, {2});
  error = raises(one_tensor.Build(context.get()));
  ASSERT_NE(error, nullptr);
  const std::string message = TakeError(error).message;
  EXPECT_THAT(message, HasSubstr("'library_function.raises'"));
  EXPECT_THAT(message, HasSubstr("TypeError"));
}

}  // namespace
}  // namespace jax_tvm_ffi

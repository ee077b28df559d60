// Tests of src/embedded/kernel_cache.cc: loading an embedded library from its bytes, sharing it by
// digest, unloading it with its last user, and every refusal. The library embedded here is the
// package's own libjax_tvm_ffi.so, which exports TVM FFI functions (build_info, ...).
#include <gtest/gtest.h>
#include <tvm/ffi/any.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/string.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "embedded/kernel_cache.h"
#include "embedded/sha256.h"

namespace jax_tvm_ffi {
namespace {

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

class KernelCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bytes_ = ReadFile(JAX_TVM_FFI_TEST_LIBRARY);
    ASSERT_FALSE(bytes_.empty()) << JAX_TVM_FFI_TEST_LIBRARY;
    SetEmbeddedKernelsAllowed(true);
  }
  void TearDown() override { SetEmbeddedKernelsAllowed(true); }

  EmbeddedPayload Payload(const std::string& function = "build_info") const {
    EmbeddedPayload payload;
    payload.name = "test.kernel";
    payload.function = function;
    payload.library = bytes_.data();
    payload.library_size = bytes_.size();
    payload.digest = Sha256Hex(bytes_.data(), bytes_.size());
    return payload;
  }

  std::vector<uint8_t> bytes_;
};

TEST_F(KernelCacheTest, LoadsTheFunctionAndSharesTheLibraryByDigest) {
  const size_t before = EmbeddedLibrariesLoaded();
  {
    EmbeddedKernel first, second;
    Status status = LoadEmbeddedKernel(Payload(), &first);
    ASSERT_TRUE(status.ok()) << status.message();
    ASSERT_TRUE(LoadEmbeddedKernel(Payload("registered_count"), &second).ok());
    EXPECT_EQ(first.library, second.library);
    EXPECT_EQ(EmbeddedLibrariesLoaded(), before + 1);
    // The loaded copy answers like the original: build_info's four strings.
    tvm::ffi::Any info = first.function();
    EXPECT_EQ(info.cast<tvm::ffi::Array<tvm::ffi::String>>().size(), 4u);
  }
  EXPECT_EQ(EmbeddedLibrariesLoaded(), before);  // Unloaded with its last user.
}

TEST_F(KernelCacheTest, RefusesBytesThatDoNotMatchTheDigest) {
  EmbeddedPayload payload = Payload();
  payload.digest = std::string(64, '0');
  EmbeddedKernel kernel;
  Status status = LoadEmbeddedKernel(payload, &kernel);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("does not match its digest"), std::string::npos)
      << status.message();
}

TEST_F(KernelCacheTest, RefusesBytesThatAreNoLibrary) {
  const std::string junk = "not a shared library";
  EmbeddedPayload payload = Payload();
  payload.library = reinterpret_cast<const uint8_t*>(junk.data());
  payload.library_size = junk.size();
  payload.digest = Sha256Hex(payload.library, payload.library_size);
  EmbeddedKernel kernel;
  Status status = LoadEmbeddedKernel(payload, &kernel);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("does not load here"), std::string::npos) << status.message();
}

TEST_F(KernelCacheTest, RefusesAFunctionTheLibraryDoesNotExport) {
  EmbeddedKernel kernel;
  Status status = LoadEmbeddedKernel(Payload("no_such_function"), &kernel);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("exports no function 'no_such_function'"), std::string::npos)
      << status.message();
}

TEST_F(KernelCacheTest, RefusesEverythingWhenSwitchedOff) {
  SetEmbeddedKernelsAllowed(false);
  EXPECT_FALSE(EmbeddedKernelsAllowed());
  EmbeddedKernel kernel;
  Status status = LoadEmbeddedKernel(Payload(), &kernel);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), XLA_FFI_Error_Code_FAILED_PRECONDITION);
  EXPECT_NE(status.message().find("refused"), std::string::npos) << status.message();
  SetEmbeddedKernelsAllowed(true);
  EXPECT_TRUE(LoadEmbeddedKernel(Payload(), &kernel).ok());
}

}  // namespace
}  // namespace jax_tvm_ffi

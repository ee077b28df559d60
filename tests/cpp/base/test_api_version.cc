/*!
 * \file test_api_version.cc
 * \brief Tests of the API version reported to XLA: the compiled one, or the running XLA's when
 *        that is older, read from the query's API or from what Python recorded at import.
 */
#include <gtest/gtest.h>

#include "base/api_version.h"
#include "fake_xla_api.h"

namespace jax_tvm_ffi {
namespace {

XLA_FFI_Api ApiOfVersion(int32_t major, int32_t minor) {
  XLA_FFI_Api api = *testing::FakeApi();
  api.api_version.major_version = major;
  api.api_version.minor_version = minor;
  return api;
}

void ExpectVersion(ApiVersion actual, int32_t major, int32_t minor) {
  EXPECT_EQ(actual.major, major);
  EXPECT_EQ(actual.minor, minor);
}

class ApiVersionTest : public ::testing::Test {
 protected:
  // The recorded version is process-wide: every test starts and ends with the compiled one.
  void SetUp() override { SetRuntimeApiVersion(kCompiledApiVersion); }
  void TearDown() override { SetRuntimeApiVersion(kCompiledApiVersion); }
};

TEST_F(ApiVersionTest, SameXlaGetsTheCompiledVersion) {
  XLA_FFI_Api api = ApiOfVersion(XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR);
  ExpectVersion(ReportedApiVersion(&api), XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR);
}

TEST_F(ApiVersionTest, NewerXlaGetsTheCompiledVersion) {
  XLA_FFI_Api api = ApiOfVersion(XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR + 3);
  ExpectVersion(ReportedApiVersion(&api), XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR);
}

TEST_F(ApiVersionTest, OlderXlaGetsItsOwnVersion) {
  if (XLA_FFI_API_MINOR == 0) GTEST_SKIP() << "no older minor version than the headers' 0";
  XLA_FFI_Api api = ApiOfVersion(XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR - 1);
  ExpectVersion(ReportedApiVersion(&api), XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR - 1);
}

TEST_F(ApiVersionTest, OtherMajorVersionGetsTheCompiledVersionForXlaToRefuse) {
  XLA_FFI_Api api = ApiOfVersion(XLA_FFI_API_MAJOR + 1, 0);
  ExpectVersion(ReportedApiVersion(&api), XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR);
}

TEST_F(ApiVersionTest, QueryWithoutApiUsesTheRecordedVersion) {
  SetRuntimeApiVersion({XLA_FFI_API_MAJOR, 0});
  ExpectVersion(ReportedApiVersion(nullptr), XLA_FFI_API_MAJOR, 0);
}

TEST_F(ApiVersionTest, TheQueryApiWinsOverTheRecordedVersion) {
  SetRuntimeApiVersion({XLA_FFI_API_MAJOR, 0});
  XLA_FFI_Api api = ApiOfVersion(XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR);
  ExpectVersion(ReportedApiVersion(&api), XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR);
}

TEST_F(ApiVersionTest, ApiTooSmallToHoldAVersionIsNotRead) {
  SetRuntimeApiVersion({XLA_FFI_API_MAJOR, 0});
  XLA_FFI_Api api = ApiOfVersion(XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR);
  api.struct_size = sizeof(size_t);
  ExpectVersion(ReportedApiVersion(&api), XLA_FFI_API_MAJOR, 0);
}

}  // namespace
}  // namespace jax_tvm_ffi

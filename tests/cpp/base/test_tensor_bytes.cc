/*!
 * \file test_tensor_bytes.cc
 * \brief Tests of the overflow-checked tensor size shared by scratch requests, owned copies and
 *        shadow buffers.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/tensor_bytes.h"

namespace jax_tvm_ffi {
namespace {

using ::testing::HasSubstr;

struct Size {
  bool ok;
  uint64_t bytes;
  std::string problem;
};

Size Of(std::vector<int64_t> shape, DLDataType dtype, uint64_t max_bytes = UINT64_MAX) {
  DLTensor tensor{};
  tensor.dtype = dtype;
  tensor.ndim = static_cast<int32_t>(shape.size());
  tensor.shape = shape.data();
  Size size{false, 0, ""};
  size.ok = TensorBytes(tensor, max_bytes, "test tensors", &size.bytes, &size.problem);
  return size;
}

constexpr DLDataType kF64{kDLFloat, 64, 1};

TEST(TensorBytesTest, PackedSubByteElementsTakeWholeBytes) {
  EXPECT_EQ(Of({9}, DLDataType{kDLUInt, 1, 1}).bytes, 2u);
  EXPECT_EQ(Of({3}, DLDataType{kDLFloat4_e2m1fn, 4, 2}).bytes, 3u);
  EXPECT_EQ(Of({2, 3}, DLDataType{kDLComplex, 128, 1}).bytes, 96u);
  EXPECT_EQ(Of({}, DLDataType{kDLInt, 1, 1}).bytes, 1u);
}

TEST(TensorBytesTest, SizesPast2To64AreRefusedWhereGetDataSizeWraps) {
  // tvm::ffi::GetDataSize gives f64[2^61] 0 bytes: 2^67 bits wrap.
  Size wrapped = Of({int64_t{1} << 61}, kF64);
  EXPECT_FALSE(wrapped.ok);
  EXPECT_EQ(wrapped.problem,
            "float64[2305843009213693952] is too large: 2305843009213693952 elements, "
            "18446744073709551616 bytes; test tensors are at most 18446744073709551615 bytes");
  // Just below the limit is served.
  Size most = Of({(int64_t{1} << 61) - 1}, kF64);
  ASSERT_TRUE(most.ok) << most.problem;
  EXPECT_EQ(most.bytes, UINT64_MAX - 7);
  EXPECT_THAT(Of({int64_t{1} << 32, int64_t{1} << 32}, kF64).problem,
              HasSubstr("more than 2^64 elements"));
}

TEST(TensorBytesTest, TheLimitIsNamedAsAPowerOfTwo) {
  EXPECT_TRUE(Of({1024}, DLDataType{kDLUInt, 8, 1}, 1024).ok);
  EXPECT_THAT(Of({1025}, DLDataType{kDLUInt, 8, 1}, 1024).problem,
              HasSubstr("1025 bytes; test tensors are at most 2^10 bytes (1024)"));
  EXPECT_THAT(Of({1001}, DLDataType{kDLUInt, 8, 1}, 1000).problem,
              HasSubstr("test tensors are at most 1000 bytes"));
}

TEST(TensorBytesTest, TheLimitOfAnyMemoryIs2To48) {
  EXPECT_EQ(kMaxTensorBytes, uint64_t{1} << 48);
  EXPECT_TRUE(Of({int64_t{1} << 45}, kF64, kMaxTensorBytes).ok);
  EXPECT_FALSE(Of({(int64_t{1} << 45) + 1}, kF64, kMaxTensorBytes).ok);
}

TEST(TensorBytesTest, MalformedTensorsSayWhat) {
  EXPECT_EQ(Of({0, -3}, kF64).problem, "dimension 1 is -3");
  EXPECT_EQ(Of({2}, DLDataType{kDLFloat, 0, 1}).problem, "the dtype has zero bits");
  DLTensor tensor{};
  tensor.ndim = -1;
  uint64_t bytes = 0;
  std::string problem;
  EXPECT_FALSE(TensorBytes(tensor, UINT64_MAX, "t", &bytes, &problem));
  EXPECT_EQ(problem, "ndim is -1");
  tensor.ndim = 2;
  EXPECT_FALSE(TensorBytes(tensor, UINT64_MAX, "t", &bytes, &problem));
  EXPECT_EQ(problem, "the shape is null");
  // A null shape is not read; a code TVM FFI cannot name is described by number.
  EXPECT_EQ(DescribeTensor(tensor), "int0[]");
  tensor.dtype = DLDataType{200, 8, 1};
  EXPECT_EQ(DescribeTensor(tensor), "dtype(code 200, 8 bits, 1 lanes)[]");
  // Without a place for the problem, only the answer.
  EXPECT_FALSE(TensorBytes(tensor, UINT64_MAX, "t", &bytes, nullptr));
}

TEST(TensorBytesTest, AZeroDimensionIsEmptyWhateverTheOthers) {
  Size size = Of({int64_t{1} << 62, int64_t{1} << 62, 0}, kF64);
  ASSERT_TRUE(size.ok) << size.problem;
  EXPECT_EQ(size.bytes, 0u);
}

}  // namespace
}  // namespace jax_tvm_ffi

/*!
 * \file test_owned_tensor.cc
 * \brief Tests of owned tensors made directly from views: the private copy's size.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "owned_tensor.h"

namespace jax_tvm_ffi {
namespace {

using ::testing::HasSubstr;

DLTensor HostView(void* data, DLDataType dtype, std::vector<int64_t>& shape) {
  DLTensor view{};
  view.data = data;
  view.device = DLDevice{kDLCPU, 0};
  view.ndim = static_cast<int32_t>(shape.size());
  view.dtype = dtype;
  view.shape = shape.data();
  return view;
}

TEST(OwnedTensorTest, ACopyLargerThan2To64BytesIsRefusedNotWrapped) {
  // f64[2^61]: 2^67 bits, which tvm::ffi::GetDataSize wraps to 0 bytes. Such a view fits int64
  // elements, so only the byte count catches it. Nothing is read from the data.
  uint8_t data[64] = {};
  for (auto [dtype, elements] : std::vector<std::pair<DLDataType, int64_t>>{
           {DLDataType{kDLFloat, 64, 1}, int64_t{1} << 61},
           {DLDataType{kDLComplex, 128, 1}, int64_t{1} << 57},
           {DLDataType{kDLFloat, 32, 4}, int64_t{1} << 59}}) {
    std::vector<int64_t> shape = {elements};
    DLTensor views[2] = {HostView(data, DLDataType{kDLFloat, 32, 1}, shape),
                         HostView(data, dtype, shape)};
    std::vector<int64_t> small = {4};
    views[0].shape = small.data();
    OwnedTensors owned;
    Status status = owned.Create(views, 1, 2);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), XLA_FFI_Error_Code_INVALID_ARGUMENT);
    EXPECT_THAT(status.message(), HasSubstr("result 0 holds more than 2^64 bytes"));
    EXPECT_TRUE(owned.Finish(/*copy_results=*/false).ok());
  }
}

TEST(OwnedTensorTest, SubByteCopiesRoundUpToWholeBytes) {
  uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<int64_t> shape = {3, 5};  // 15 two-bit elements: 4 bytes.
  DLTensor view = HostView(data, DLDataType{kDLUInt, 2, 1}, shape);
  OwnedTensors owned;
  ASSERT_TRUE(owned.Create(&view, 1, 1).ok());
  EXPECT_NE(owned.tensor(0).data_ptr(), data);
  EXPECT_EQ(std::memcmp(owned.tensor(0).data_ptr(), data, 4), 0);
  EXPECT_TRUE(owned.Finish(/*copy_results=*/false).ok());
}

}  // namespace
}  // namespace jax_tvm_ffi

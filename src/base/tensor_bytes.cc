/*!
 * \file tensor_bytes.cc
 * \brief Overflow-checked tensor sizes, and the names messages give tensors.
 */
#include "base/tensor_bytes.h"

#include <tvm/ffi/dtype.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/string.h>

#include <string>

namespace jax_tvm_ffi {
namespace {

using Uint128 = unsigned __int128;

std::string DecimalString(Uint128 value) {
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return digits;
}

// "2^48 bytes (281474976710656)" for a power of two, "1000 bytes" otherwise.
std::string LimitString(uint64_t max_bytes) {
  if (max_bytes != 0 && (max_bytes & (max_bytes - 1)) == 0) {
    return "2^" + std::to_string(__builtin_ctzll(max_bytes)) + " bytes (" +
           std::to_string(max_bytes) + ")";
  }
  return std::to_string(max_bytes) + " bytes";
}

}  // namespace

std::string DescribeTensor(const DLTensor& tensor) {
  std::string text;
  try {
    tvm::ffi::String dtype = tvm::ffi::DLDataTypeToString(tensor.dtype);
    text.assign(dtype.data(), dtype.size());
  } catch (const tvm::ffi::Error&) {
    // A code TVM FFI has no name for.
    text = "dtype(code " + std::to_string(tensor.dtype.code) + ", " +
           std::to_string(tensor.dtype.bits) + " bits, " + std::to_string(tensor.dtype.lanes) +
           " lanes)";
  }
  text += "[";
  for (int32_t i = 0; i < tensor.ndim && tensor.shape != nullptr; ++i) {
    if (i != 0) text += ", ";
    text += std::to_string(tensor.shape[i]);
  }
  return text + "]";
}

bool TensorBytes(const DLTensor& tensor, uint64_t max_bytes, const char* what, uint64_t* bytes,
                 std::string* problem) {
  auto fail = [problem](std::string message) {
    if (problem != nullptr) *problem = std::move(message);
    return false;
  };
  if (tensor.ndim < 0) return fail("ndim is " + std::to_string(tensor.ndim));
  if (tensor.ndim > 0 && tensor.shape == nullptr) return fail("the shape is null");
  // At most 255 * 65535: no overflow.
  const uint64_t bits_per_element =
      static_cast<uint64_t>(tensor.dtype.bits) * static_cast<uint64_t>(tensor.dtype.lanes);
  if (bits_per_element == 0) return fail("the dtype has zero bits");
  // Dimensions are checked, and a zero looked for, before any product: an empty tensor is empty
  // whatever its other dimensions, and a product that overflows then really is that large.
  bool empty = false;
  for (int32_t i = 0; i < tensor.ndim; ++i) {
    const int64_t dim = tensor.shape[i];
    if (dim < 0) return fail("dimension " + std::to_string(i) + " is " + std::to_string(dim));
    empty |= dim == 0;
  }
  if (empty) {
    *bytes = 0;
    return true;
  }
  uint64_t elements = 1;
  bool elements_overflow = false;
  for (int32_t i = 0; i < tensor.ndim && !elements_overflow; ++i) {
    elements_overflow =
        __builtin_mul_overflow(elements, static_cast<uint64_t>(tensor.shape[i]), &elements);
  }
  // Below 2^64 * 2^24 bits: exact in 128 bits. Sub-byte tensors are packed and take whole bytes.
  const Uint128 bits = static_cast<Uint128>(elements) * bits_per_element;
  const Uint128 size = bits / 8 + (bits % 8 != 0 ? 1 : 0);
  if (elements_overflow || size > max_bytes) {
    if (problem == nullptr) return false;
    return fail(DescribeTensor(tensor) + " is too large: " +
                (elements_overflow
                     ? std::string("more than 2^64 elements")
                     : std::to_string(elements) + " elements, " + DecimalString(size) + " bytes") +
                "; " + what + " are at most " + LimitString(max_bytes));
  }
  *bytes = static_cast<uint64_t>(size);
  return true;
}

}  // namespace jax_tvm_ffi

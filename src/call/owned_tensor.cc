/*!
 * \file owned_tensor.cc
 * \brief Owned tensors: private copies on CPU, emptied views on GPUs.
 */
#include "call/owned_tensor.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/round_up.h"
#include "base/tensor_bytes.h"

namespace jax_tvm_ffi {
namespace {

constexpr size_t kAlignment = 64;

bool IsHostMemory(const DLTensor& view) { return view.device.device_type == kDLCPU; }

// The bytes of a private copy of a view: its data (sub-byte elements packed, as XLA stores them)
// rounded up to kAlignment; false, saying why, for more than any memory holds, which only a
// frame claiming more memory than exists reaches.
bool CopyBytes(const DLTensor& view, size_t* bytes, std::string* problem) {
  size_t exact = 0;
  if (!TensorBytes(view, kMaxTensorBytes, "private copies", &exact, problem)) return false;
  return RoundUp(exact, kAlignment, bytes);
}

// The exact bytes of a view's data, once CopyBytes accepted the view.
size_t DataBytes(const DLTensor& view) {
  size_t bytes = 0;
  TensorBytes(view, kMaxTensorBytes, "private copies", &bytes, nullptr);
  return bytes;
}

// Backs a tensor with a private, aligned heap buffer of `bytes` (from CopyBytes).
struct PrivateHostAlloc {
  size_t bytes;
  void AllocData(DLTensor* tensor) {
    tensor->data = std::aligned_alloc(kAlignment, bytes == 0 ? kAlignment : bytes);
  }
  void FreeData(DLTensor* tensor) { std::free(tensor->data); }
};

// Borrows XLA's device buffer; the tensor does not own it.
struct BorrowedDeviceAlloc {
  void* data;
  void AllocData(DLTensor* tensor) { tensor->data = data; }
  void FreeData(DLTensor*) {}
};

tvm::ffi::ShapeView Shape(const DLTensor& view) {
  return tvm::ffi::ShapeView(view.shape, static_cast<size_t>(view.ndim));
}

std::string Describe(size_t index, size_t num_args) {
  return index < num_args ? "argument " + std::to_string(index)
                          : "result " + std::to_string(index - num_args);
}

// True if `data` is an argument's buffer: a result aliasing an argument (input_output_aliases)
// must start with the argument's contents, as XLA's shared buffer would.
bool IsArgumentBuffer(const DLTensor* views, size_t num_args, const void* data) {
  for (size_t j = 0; j < num_args; ++j) {
    if (views[j].data == data) return true;
  }
  return false;
}

// Leaves a kept device tensor holding nothing: no data, no elements.
void Empty(const tvm::ffi::Tensor& tensor) {
  auto* dl = const_cast<DLTensor*>(tensor.GetDLTensorPtr());
  dl->data = nullptr;
  for (int i = 0; i < dl->ndim; ++i) dl->shape[i] = 0;
}

}  // namespace

Status OwnedTensors::Create(DLTensor* views, size_t num_args, size_t num_tensors) {
  views_ = views;
  num_args_ = num_args;
  tensors_.clear();
  tensors_.reserve(num_tensors);
  for (size_t i = 0; i < num_tensors; ++i) {
    const DLTensor& view = views[i];
    if (IsHostMemory(view)) {
      size_t bytes = 0;
      std::string problem;
      if (!CopyBytes(view, &bytes, &problem)) {
        return Status::InvalidArgument(Describe(i, num_args) + ": " + problem +
                                       "; no private copy of it can be made");
      }
      tensors_.push_back(tvm::ffi::Tensor::FromNDAlloc(PrivateHostAlloc{bytes}, Shape(view),
                                                       view.dtype, view.device));
      if (tensors_.back().data_ptr() == nullptr) {
        return Status::Error(
            XLA_FFI_Error_Code_RESOURCE_EXHAUSTED,
            "out of memory copying " + Describe(i, num_args) + " for the function");
      }
      // An empty buffer may have no data pointer at all: nothing to copy, and memcpy from null
      // is undefined even for zero bytes.
      const uint64_t data_bytes = DataBytes(view);
      if (data_bytes != 0 && (i < num_args || IsArgumentBuffer(views, num_args, view.data))) {
        std::memcpy(tensors_.back().data_ptr(), view.data, data_bytes);
      }
    } else {
      tensors_.push_back(tvm::ffi::Tensor::FromNDAlloc(BorrowedDeviceAlloc{view.data}, Shape(view),
                                                       view.dtype, view.device));
    }
  }
  return Status();
}

Status OwnedTensors::Finish(bool copy_results) {
  std::string kept;
  bool kept_result = false;
  bool kept_device_argument = false;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const tvm::ffi::Tensor& tensor = tensors_[i];
    const bool host = IsHostMemory(views_[i]);
    const bool is_result = i >= num_args_;
    const uint64_t data_bytes = DataBytes(views_[i]);
    if (copy_results && host && is_result && data_bytes != 0) {
      std::memcpy(views_[i].data, tensor.data_ptr(), data_bytes);
    }
    // A kept CPU argument is a private copy equal to the argument that nothing reads or writes
    // after the call: harmless (see owned_tensor.h), and what jitted JAX in a callback leaves.
    if (tensor.use_count() > 1 && (is_result || !host)) {
      kept += kept.empty() ? "" : ", ";
      kept += Describe(i, num_args_);
      kept_result |= is_result;
      kept_device_argument |= !is_result;
      if (!host) Empty(tensor);
    }
  }
  tensors_.clear();
  if (kept.empty()) return Status();
  // "Leaked temp owned tensors" is the published jax-tvm-ffi 0.1.3's wording, which code written
  // for it looks for.
  std::string message =
      "Leaked temp owned tensors: the function kept a reference to owned "
      "tensor(s) " +
      kept + " after returning. ";
  if (kept_result) {
    message +=
        "A result must not be kept: XLA reads it when the call ends, so what is written through "
        "it afterwards would be lost. ";
  }
  if (kept_device_argument) {
    message +=
        "A GPU argument must not be kept: it views XLA's device memory, which XLA reuses after "
        "the call. ";
  }
  return Status::Error(XLA_FFI_Error_Code_FAILED_PRECONDITION,
                       message +
                           "Copy the data instead of keeping the tensor. The kept tensor no "
                           "longer refers to XLA's memory.");
}

}  // namespace jax_tvm_ffi

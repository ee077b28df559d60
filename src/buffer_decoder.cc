/*!
 * \file buffer_decoder.cc
 * \brief XLA buffers to DLTensor views.
 */
#include "buffer_decoder.h"

#include <string>

#include "jax_tvm_ffi/dtype.h"

namespace jax_tvm_ffi {
namespace {

const char* Role(bool is_result) { return is_result ? "result" : "argument"; }

// Checks one buffer; counts it (unless it is a token) and the shape/stride slots it needs.
Status Measure(int64_t type, const void* value, bool is_result, int64_t index, size_t* tensors,
               size_t* dims) {
  if (type != XLA_FFI_ArgType_BUFFER || value == nullptr) {
    return Status::InvalidArgument(std::string(Role(is_result)) + " " + std::to_string(index) +
                                   " is not a buffer (XLA value type " + std::to_string(type) +
                                   ")");
  }
  const auto* buffer = static_cast<const XLA_FFI_Buffer*>(value);
  DTypeMapping mapping = MapDataType(buffer->dtype);
  if (!mapping.valid) {
    if (buffer->dtype == XLA_FFI_DataType_TOKEN) return Status();
    return Status::InvalidArgument(std::string(Role(is_result)) + " " + std::to_string(index) +
                                   " has element type " + DataTypeName(buffer->dtype) + " (code " +
                                   std::to_string(buffer->dtype) +
                                   "), which has no DLPack equivalent");
  }
  if (buffer->rank < 0 || (buffer->rank > 0 && buffer->dims == nullptr)) {
    return Status::InvalidArgument(std::string(Role(is_result)) + " " + std::to_string(index) +
                                   " has an invalid rank " + std::to_string(buffer->rank));
  }
  if (mapping.halve_last_dim && buffer->rank > 1 && buffer->dims[buffer->rank - 1] % 2 != 0) {
    int64_t rows = 1;
    for (int64_t i = 0; i + 1 < buffer->rank; ++i) rows *= buffer->dims[i];
    // XLA packs 4-bit floats continuously, so with an odd row length every other row starts in
    // the middle of a byte and no view of 2-lane bytes describes the buffer.
    if (rows > 1) {
      return Status::InvalidArgument(std::string(Role(is_result)) + " " + std::to_string(index) +
                                     " is an F4E2M1FN buffer with an odd last dimension (" +
                                     std::to_string(buffer->dims[buffer->rank - 1]) +
                                     ") and several rows: rows start mid-byte, so it has no view "
                                     "as 2-lane bytes; make the last dimension even");
    }
  }
  *tensors += 1;
  *dims += 2 * static_cast<size_t>(buffer->rank);
  return Status();
}

// Fills one view; returns the next free shape/stride slot.
int64_t* Fill(const XLA_FFI_Buffer& buffer, DLDevice device, DLTensor* out, int64_t* dims) {
  DTypeMapping mapping = MapDataType(buffer.dtype);
  const int rank = static_cast<int>(buffer.rank);
  int64_t* shape = dims;
  int64_t* strides = dims + rank;
  for (int i = 0; i < rank; ++i) shape[i] = buffer.dims[i];
  if (mapping.halve_last_dim && rank > 0) shape[rank - 1] = (shape[rank - 1] + 1) / 2;
  int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    strides[i] = stride;
    stride *= shape[i];
  }
  out->data = buffer.data;
  out->device = device;
  out->ndim = rank;
  out->dtype = mapping.dtype;
  out->shape = shape;
  out->strides = strides;
  out->byte_offset = 0;
  return dims + 2 * static_cast<ptrdiff_t>(rank);
}

}  // namespace

Status BufferDecoder::Decode(const XLA_FFI_Args& args, const XLA_FFI_Rets& rets, DLDevice device) {
  size_t arg_tensors = 0;
  size_t ret_tensors = 0;
  size_t dims = 0;
  for (int64_t i = 0; i < args.size; ++i) {
    Status status = Measure(args.types[i], args.args[i], false, i, &arg_tensors, &dims);
    if (!status.ok()) return status;
  }
  for (int64_t i = 0; i < rets.size; ++i) {
    Status status = Measure(rets.types[i], rets.rets[i], true, i, &ret_tensors, &dims);
    if (!status.ok()) return status;
  }
  num_args_ = arg_tensors;
  num_rets_ = ret_tensors;

  tensors_ = inline_tensors_;
  if (arg_tensors + ret_tensors > kInlineTensors) {
    heap_tensors_.resize(arg_tensors + ret_tensors);
    tensors_ = heap_tensors_.data();
  }
  int64_t* next_dims = inline_dims_;
  if (dims > kInlineDims) {
    heap_dims_.resize(dims);
    next_dims = heap_dims_.data();
  }

  DLTensor* out = tensors_;
  for (int64_t i = 0; i < args.size; ++i) {
    const auto& buffer = *static_cast<const XLA_FFI_Buffer*>(args.args[i]);
    if (buffer.dtype == XLA_FFI_DataType_TOKEN) continue;
    next_dims = Fill(buffer, device, out++, next_dims);
  }
  for (int64_t i = 0; i < rets.size; ++i) {
    const auto& buffer = *static_cast<const XLA_FFI_Buffer*>(rets.rets[i]);
    if (buffer.dtype == XLA_FFI_DataType_TOKEN) continue;
    next_dims = Fill(buffer, device, out++, next_dims);
  }
  return Status();
}

}  // namespace jax_tvm_ffi

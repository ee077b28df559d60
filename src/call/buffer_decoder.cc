/*!
 * \file buffer_decoder.cc
 * \brief XLA buffers to DLTensor views, in one pass over the call frame.
 */
#include "call/buffer_decoder.h"

#include <tvm/ffi/error.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/predict.h"
#include "call/row_major_view.h"
#include "jax_tvm_ffi/dtype.h"

namespace jax_tvm_ffi {
namespace {

std::string Describe(bool is_result, int64_t index) {
  return std::string(is_result ? "result " : "argument ") + std::to_string(index);
}

// The failures below are built out of line: the success path stays small.
[[gnu::noinline, gnu::cold]] Status NotABuffer(bool is_result, int64_t index, int64_t type) {
  return Status::InvalidArgument(Describe(is_result, index) + " is not a buffer (XLA value type " +
                                 std::to_string(type) + ")");
}

[[gnu::noinline, gnu::cold]] Status Unmappable(bool is_result, int64_t index,
                                               XLA_FFI_DataType dtype) {
  return Status::InvalidArgument(Describe(is_result, index) + " has element type " +
                                 DataTypeName(dtype) + " (code " + std::to_string(dtype) +
                                 "), which has no DLPack equivalent");
}

[[gnu::noinline, gnu::cold]] Status BadRank(bool is_result, int64_t index, int64_t rank) {
  return Status::InvalidArgument(Describe(is_result, index) + " has an invalid rank " +
                                 std::to_string(rank));
}

[[gnu::noinline, gnu::cold]] Status BadDims(bool is_result, int64_t index,
                                            const XLA_FFI_Buffer& buffer) {
  std::string dims;
  for (int64_t i = 0; i < buffer.rank; ++i)
    dims += (i ? ", " : "") + std::to_string(buffer.dims[i]);
  return Status::InvalidArgument(Describe(is_result, index) + " has dimensions [" + dims +
                                 "]: a dimension is negative or the element count overflows int64");
}

[[gnu::noinline, gnu::cold]] Status OddPackedRows(bool is_result, int64_t index, int64_t last_dim) {
  return Status::InvalidArgument(
      Describe(is_result, index) + " is an F4E2M1FN buffer with an odd last dimension (" +
      std::to_string(last_dim) +
      ") and several rows: rows start mid-byte, so it has no view as 2-lane bytes; make the last "
      "dimension even");
}

// XLA packs 4-bit floats continuously, so with an odd row length every other row starts in the
// middle of a byte and no view of 2-lane bytes describes the buffer.
bool HasOddPackedRows(const XLA_FFI_Buffer& buffer) {
  if (buffer.rank < 2 || buffer.dims[buffer.rank - 1] % 2 == 0) return false;
  // Several rows: no leading dimension is 0 and one is above 1 (without multiplying, which could
  // overflow; negative dimensions are left for Fill to report).
  bool several = false;
  for (int64_t i = 0; i + 1 < buffer.rank; ++i) {
    if (buffer.dims[i] <= 0) return false;
    several = several || buffer.dims[i] > 1;
  }
  return several;
}

[[gnu::noinline, gnu::cold]] Status LayoutTooLong(bool is_result, int64_t index, int64_t rank,
                                                  size_t named) {
  return Status::InvalidArgument(
      Describe(is_result, index) + " has rank " + std::to_string(rank) + ", but the layout " +
      (is_result ? "output_layouts[" : "input_layouts[") + std::to_string(index) +
      "] the target was registered with names " + std::to_string(named) +
      " dimensions; give the layout of an operand of this rank");
}

[[gnu::noinline, gnu::cold]] Status LayoutOfPacked(bool is_result, int64_t index) {
  return Status::InvalidArgument(
      Describe(is_result, index) +
      " is an F4E2M1FN buffer, whose view as 2-lane bytes has no strided form: give it the "
      "default (row-major) layout");
}

[[gnu::noinline, gnu::cold]] Status LayoutOverflow(bool is_result, int64_t index,
                                                   const DLTensor& view) {
  std::string dims;
  for (int32_t i = 0; i < view.ndim; ++i) dims += (i ? ", " : "") + std::to_string(view.shape[i]);
  return Status::InvalidArgument(Describe(is_result, index) + " has dimensions [" + dims +
                                 "]: a stride of its layout overflows int64");
}

// Writes the strides of the memory order `minor_to_major` (a permutation, checked at
// registration) into a view filled as row-major. Leading dimensions the layout does not name
// (vmap's batch dimension, which jax adds major-most) follow it, in row-major order.
Status ApplyLayout(const std::vector<int64_t>& minor_to_major, bool is_result, int64_t index,
                   DLTensor* view) {
  if (JAX_TVM_FFI_UNLIKELY(view->dtype.lanes != 1)) return LayoutOfPacked(is_result, index);
  const size_t named = minor_to_major.size();
  if (JAX_TVM_FFI_UNLIKELY(named > static_cast<size_t>(view->ndim))) {
    return LayoutTooLong(is_result, index, view->ndim, named);
  }
  const int64_t batch = view->ndim - static_cast<int64_t>(named);
  int64_t stride = 1;
  bool overflow = false;
  auto place = [&](int64_t dim) {
    view->strides[dim] = stride;
    overflow |= __builtin_mul_overflow(stride, view->shape[dim], &stride);
  };
  for (int64_t dim : minor_to_major) {
    // A binding made without CheckLayouts (outside the registry) must not write out of bounds.
    if (JAX_TVM_FFI_UNLIKELY(dim < 0 || dim >= static_cast<int64_t>(named))) {
      return Status::InvalidArgument(Describe(is_result, index) +
                                     "'s layout is not a permutation of its dimensions");
    }
    place(dim + batch);
  }
  for (int64_t dim = batch - 1; dim >= 0; --dim) place(dim);
  if (JAX_TVM_FFI_UNLIKELY(overflow)) return LayoutOverflow(is_result, index, *view);
  return Status();
}

// The stride/shape slots a buffer's view needs: strides, plus a shape of its own when packed.
int64_t SlotsFor(const XLA_FFI_Buffer& buffer) {
  const bool packed = detail::LookupDLDataType(buffer.dtype).code == kDLFloat4_e2m1fn;
  return buffer.rank * (packed ? 2 : 1);
}

// Fills one view; returns the next free slot, or nullptr when a dimension is negative or the
// element count overflows int64.
int64_t* Fill(const XLA_FFI_Buffer& buffer, DLDataType dtype, DLDevice device, DLTensor* out,
              int64_t* slots) {
  const int rank = static_cast<int>(buffer.rank);
  int64_t* shape = buffer.dims;
  int64_t* strides = slots;
  slots += rank;
  if (JAX_TVM_FFI_UNLIKELY(dtype.code == kDLFloat4_e2m1fn && rank > 0)) {
    shape = slots;
    slots += rank;
    for (int i = 0; i < rank; ++i) shape[i] = buffer.dims[i];
    shape[rank - 1] = shape[rank - 1] / 2 + shape[rank - 1] % 2;  // Rounded up, cannot overflow.
  }
  if (!FillRowMajorView(buffer.data, dtype, device, shape, rank, strides, out)) {
    return nullptr;  // Malformed dimensions; the caller reports them.
  }
  return slots;
}

}  // namespace

// Checks a buffer the straight path cannot take (a token, an unmappable type, a bad rank, packed
// 4-bit floats) and says what to do with it.
enum class Special { kTake, kSkip, kFail };
[[gnu::noinline]] Special CheckSpecial(const XLA_FFI_Buffer& buffer, bool is_result, int64_t index,
                                       Status* failure) {
  const DLDataType dtype = detail::LookupDLDataType(buffer.dtype);
  if (dtype.bits == 0) {
    if (buffer.dtype == XLA_FFI_DataType_TOKEN) return Special::kSkip;  // Tokens carry no data.
    *failure = Unmappable(is_result, index, buffer.dtype);
    return Special::kFail;
  }
  // DLTensor::ndim is an int32: a larger rank would be cut short (and its slot count, below,
  // could pass int64).
  if (buffer.rank < 0 || buffer.rank > INT32_MAX || (buffer.rank > 0 && buffer.dims == nullptr)) {
    *failure = BadRank(is_result, index, buffer.rank);
    return Special::kFail;
  }
  if (dtype.code == kDLFloat4_e2m1fn && HasOddPackedRows(buffer)) {
    *failure = OddPackedRows(is_result, index, buffer.dims[buffer.rank - 1]);
    return Special::kFail;
  }
  return Special::kTake;
}

Status BufferDecoder::DecodeList(int64_t size, const int32_t* types, void* const* values,
                                 bool is_result, DLDevice device,
                                 const std::vector<std::vector<int64_t>>* layouts, size_t* count) {
  DLTensor* out = tensors_ + *count;
  int64_t* slots = next_dims_;
  // A view made row-major is given buffer i's layout, if it has one.
  auto lay_out = [&](int64_t i, DLTensor* view) {
    if (layouts == nullptr || static_cast<size_t>(i) >= layouts->size() || (*layouts)[i].empty()) {
      return Status();
    }
    return ApplyLayout((*layouts)[i], is_result, i, view);
  };
  for (int64_t i = 0; i < size; ++i) {
    // Ordinary buffers as the straight path fills them; the rest is diagnosed below.
    if (int64_t* next = FillOrdinaryView(types[i], values[i], device, out, slots, dims_end_)) {
      Status status = lay_out(i, out++);
      if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
      slots = next;
      continue;
    }
    if (JAX_TVM_FFI_UNLIKELY(types[i] != XLA_FFI_ArgType_BUFFER || values[i] == nullptr)) {
      return NotABuffer(is_result, i, types[i]);
    }
    const auto& buffer = *static_cast<const XLA_FFI_Buffer*>(values[i]);
    const DLDataType dtype = detail::LookupDLDataType(buffer.dtype);
    const int64_t rank = buffer.rank;
    // One test sends every unusual buffer to CheckSpecial: no DLPack type (bits 0), packed
    // 4-bit floats (bits 4, lanes 2), and ranks outside [0, 64).
    if (JAX_TVM_FFI_UNLIKELY(dtype.bits == 0 || dtype.lanes != 1 ||
                             static_cast<uint64_t>(rank) >= 64 ||
                             (rank > 0 && buffer.dims == nullptr))) {
      Status failure;
      Special special = CheckSpecial(buffer, is_result, i, &failure);
      if (special == Special::kFail) return failure;
      if (special == Special::kSkip) continue;
    }
    if (JAX_TVM_FFI_UNLIKELY(slots + SlotsFor(buffer) > dims_end_)) {
      dims_overflow_ = true;  // Decode() starts again with room for every buffer.
      return Status();
    }
    int64_t* next = Fill(buffer, dtype, device, out, slots);
    if (JAX_TVM_FFI_UNLIKELY(next == nullptr)) return BadDims(is_result, i, buffer);
    Status status = lay_out(i, out++);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
    slots = next;
  }
  *count = static_cast<size_t>(out - tensors_);
  next_dims_ = slots;
  return Status();
}

Status BufferDecoder::Decode(const XLA_FFI_Args& args, const XLA_FFI_Rets& rets, DLDevice device,
                             const BufferLayouts* layouts) {
  const BufferLayouts none;
  if (layouts == nullptr) layouts = &none;
  static_assert(
      sizeof(XLA_FFI_ArgType) == sizeof(int32_t) && sizeof(XLA_FFI_RetType) == sizeof(int32_t),
      "argument and result type tags are read as int32");
  const size_t buffers = static_cast<size_t>(args.size + rets.size);
  tensors_ = inline_tensors_;
  if (JAX_TVM_FFI_UNLIKELY(buffers > kInlineTensors)) {
    heap_tensors_.reset(new DLTensor[buffers]);
    tensors_ = heap_tensors_.get();
  }
  next_dims_ = inline_dims_;
  dims_end_ = inline_dims_ + kInlineDims;
  for (int attempt = 0; attempt < 2; ++attempt) {
    dims_overflow_ = false;
    size_t count = 0;
    Status status = DecodeList(args.size, reinterpret_cast<const int32_t*>(args.types), args.args,
                               false, device, layouts->args, &count);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
    num_args_ = count;
    if (JAX_TVM_FFI_UNLIKELY(dims_overflow_)) goto overflow;
    status = DecodeList(rets.size, reinterpret_cast<const int32_t*>(rets.types), rets.rets, true,
                        device, layouts->rets, &count);
    if (JAX_TVM_FFI_UNLIKELY(!status.ok())) return status;
    num_rets_ = count - num_args_;
    if (JAX_TVM_FFI_UNLIKELY(dims_overflow_)) goto overflow;
    return Status();
  overflow:
    // Rare: more stride and shape entries than the inline storage holds. The first pass stopped
    // at the overflow, so the values after it are unchecked: count only well-formed buffers and
    // leave the rest to the second pass, which refuses them.
    // Ranks above INT32_MAX are refused by that pass before they need slots; the sum of the
    // others is checked all the same (2^31 buffers of rank 2^31 would pass int64).
    int64_t dims = 0;
    bool too_many = false;
    auto count_slots = [&](int64_t size, const int32_t* types, void* const* values) {
      for (int64_t i = 0; i < size; ++i) {
        if (types[i] != XLA_FFI_ArgType_BUFFER || values[i] == nullptr) continue;
        const auto& buffer = *static_cast<const XLA_FFI_Buffer*>(values[i]);
        if (buffer.rank > 0 && buffer.rank <= INT32_MAX) {
          too_many |= __builtin_add_overflow(dims, SlotsFor(buffer), &dims);
        }
      }
    };
    count_slots(args.size, reinterpret_cast<const int32_t*>(args.types), args.args);
    count_slots(rets.size, reinterpret_cast<const int32_t*>(rets.types), rets.rets);
    if (too_many) {
      return Status::InvalidArgument("the call frame's buffers have more than 2^63 dimensions");
    }
    heap_dims_.reset(new int64_t[dims]);
    next_dims_ = heap_dims_.get();
    dims_end_ = heap_dims_.get() + dims;
  }
  return Status::Error(XLA_FFI_Error_Code_INTERNAL, "buffer decoding ran out of room");
}

namespace {

bool IsRowMajor(const std::vector<int64_t>& minor_to_major) {
  const auto rank = static_cast<int64_t>(minor_to_major.size());
  for (int64_t i = 0; i < rank; ++i) {
    if (minor_to_major[i] != rank - 1 - i) return false;
  }
  return true;
}

bool AnyNonDefault(const std::vector<std::vector<int64_t>>& layouts) {
  for (const std::vector<int64_t>& layout : layouts) {
    if (!IsRowMajor(layout)) return true;
  }
  return false;
}

std::string Print(const std::vector<int64_t>& layout) {
  std::string text = "(";
  for (size_t i = 0; i < layout.size(); ++i) text += (i ? ", " : "") + std::to_string(layout[i]);
  return text + (layout.size() == 1 ? ",)" : ")");
}

void CheckList(const std::string& target, const char* what,
               const std::vector<std::vector<int64_t>>& layouts) {
  for (size_t i = 0; i < layouts.size(); ++i) {
    const std::vector<int64_t>& layout = layouts[i];
    std::vector<bool> seen(layout.size(), false);
    for (int64_t dim : layout) {
      if (dim < 0 || static_cast<size_t>(dim) >= layout.size() || seen[dim]) {
        TVM_FFI_THROW(ValueError) << "target '" << target << "': " << what << "[" << i
                                  << "] (minor-to-major) " << Print(layout)
                                  << " is not a permutation of the dimensions 0.."
                                  << static_cast<int64_t>(layout.size()) - 1;
      }
      seen[dim] = true;
    }
  }
}

}  // namespace

bool HasNonDefaultLayouts(const TargetOptions& options) {
  return AnyNonDefault(options.input_layouts) || AnyNonDefault(options.output_layouts);
}

void CheckLayouts(const std::string& target, const TargetOptions& options) {
  CheckList(target, "input_layouts", options.input_layouts);
  CheckList(target, "output_layouts", options.output_layouts);
  if (options.pass_owned_tensor && HasNonDefaultLayouts(options)) {
    TVM_FFI_THROW(ValueError)
        << "target '" << target
        << "': non-default layouts need borrowed views; owned tensors (pass_owned_tensor, and "
           "Python functions, which always get them) are allocated row-major";
  }
}

}  // namespace jax_tvm_ffi

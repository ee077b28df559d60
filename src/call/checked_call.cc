/*!
 * \file checked_call.cc
 * \brief The checking mode: shadow buffers with guards on CPU, the per-call trace everywhere.
 */
#include "call/checked_call.h"

#include <dlpack/dlpack.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/status.h"
#include "jax_tvm_ffi/dtype.h"
#include "jax_tvm_ffi/target.h"
#include "scratch/scratch_allocator.h"

namespace jax_tvm_ffi {
namespace {

constexpr uint32_t kHostChecks = kCheckGuards | kCheckInputs | kCheckNonFinite;
constexpr size_t kShadowAlignment = 64;  // XLA's own alignment of CPU buffers.

// "f32[4,8]": the XLA type name in lower case, as HLO prints it, and the dimensions.
std::string DescribeType(const XLA_FFI_Buffer& buffer) {
  std::string text = DataTypeName(buffer.dtype);
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  text += '[';
  for (int64_t i = 0; i < buffer.rank && buffer.dims != nullptr; ++i) {
    if (i > 0) text += ',';
    text += std::to_string(buffer.dims[i]);
  }
  return text + ']';
}

// The packed byte size of a buffer as XLA lays it out; false for anything the call path refuses
// (it is then passed through for the call path to report).
bool BufferBytes(const XLA_FFI_Buffer& buffer, size_t* bytes) {
  const DLDataType dtype = detail::LookupDLDataType(buffer.dtype);
  if (dtype.bits == 0 || buffer.rank < 0 || buffer.rank > INT32_MAX) return false;
  if (buffer.rank > 0 && buffer.dims == nullptr) return false;
  DLTensor prototype{};
  // One lane of `bits` is one XLA element for every type: a packed 4-bit float is a 2-lane byte
  // only in the view the function receives, with its last dimension halved.
  prototype.dtype = DLDataType{dtype.code, dtype.bits, 1};
  prototype.ndim = static_cast<int32_t>(buffer.rank);
  prototype.shape = buffer.dims;
  uint64_t size = 0;
  std::string problem;
  if (!TensorBytes(prototype, kMaxScratchBytes, "buffers", &size, &problem)) return false;
  *bytes = static_cast<size_t>(size);
  return true;
}

struct FreeDeleter {
  void operator()(uint8_t* block) const { std::free(block); }
};

// One buffer of the frame that has a shadow.
struct Use {
  bool is_output;
  int64_t index;
  const XLA_FFI_Buffer* buffer;  // XLA's
  size_t shadow;
};

// A private copy of one XLA buffer between two guards; shared by the buffers with its address.
struct Shadow {
  void* real = nullptr;
  size_t bytes = 0;
  size_t trailing = 0;
  bool has_input = false;
  bool has_output = false;
  std::unique_ptr<uint8_t, FreeDeleter> block;

  uint8_t* data() const { return block.get() + kLeadingGuardBytes; }
};

// The changed bytes of a guard: the distance of the one nearest to the buffer, and how many.
struct Corruption {
  size_t offset = 0;
  size_t count = 0;
};

bool FindChanged(const uint8_t* guard, size_t size, bool backwards, Corruption* out) {
  for (size_t k = 0; k < size; ++k) {
    const uint8_t byte = backwards ? guard[size - 1 - k] : guard[k];
    if (byte != kGuardByte) {
      if (out->count == 0) out->offset = backwards ? k + 1 : k;
      ++out->count;
    }
  }
  return out->count != 0;
}

// The row-major index of the flat element `flat` of a buffer: "[1, 3]".
std::string DescribeIndex(const XLA_FFI_Buffer& buffer, uint64_t flat) {
  std::vector<int64_t> index(static_cast<size_t>(buffer.rank));
  for (int64_t i = buffer.rank - 1; i >= 0; --i) {
    const auto dim = static_cast<uint64_t>(buffer.dims[i]);
    index[i] = static_cast<int64_t>(flat % dim);
    flat /= dim;
  }
  std::string text = "[";
  for (size_t i = 0; i < index.size(); ++i) text += (i ? ", " : "") + std::to_string(index[i]);
  return text + "]";
}

// Finds the first NaN or infinity among `count` IEEE values of `Bits`, `exponent` being the mask
// of the exponent field and `mantissa` that of the fraction.
template <typename Bits>
bool FindNonFinite(const uint8_t* data, size_t count, Bits exponent, Bits mantissa, size_t* first,
                   bool* is_nan) {
  for (size_t i = 0; i < count; ++i) {
    Bits value;
    std::memcpy(&value, data + i * sizeof(Bits), sizeof(Bits));
    if ((value & exponent) == exponent) {
      *first = i;
      *is_nan = (value & mantissa) != 0;
      return true;
    }
  }
  return false;
}

// The buffers of one call, shadowed, and the copy of the call frame that points at the shadows.
class ShadowFrame {
 public:
  explicit ShadowFrame(const XLA_FFI_CallFrame& real) {
    // An older XLA's frame may be shorter than these headers' struct: copy only what it has.
    std::memset(&frame_, 0, sizeof(frame_));
    std::memcpy(&frame_, &real, std::min(real.struct_size, sizeof(frame_)));
    frame_.struct_size = std::min(real.struct_size, sizeof(frame_));
    const size_t num_args = static_cast<size_t>(std::max<int64_t>(real.args.size, 0));
    const size_t num_rets = static_cast<size_t>(std::max<int64_t>(real.rets.size, 0));
    // Reserved once: the frame's pointer arrays point into these vectors.
    buffers_.reserve(num_args + num_rets);
    args_.assign(real.args.args, real.args.args + num_args);
    rets_.assign(real.rets.rets, real.rets.rets + num_rets);
    for (size_t i = 0; i < num_args; ++i) {
      if (real.args.types[i] == XLA_FFI_ArgType_BUFFER) Add(false, i, &args_[i]);
    }
    for (size_t i = 0; i < num_rets; ++i) {
      if (real.rets.types[i] == XLA_FFI_RetType_BUFFER) Add(true, i, &rets_[i]);
    }
    for (Shadow& shadow : shadows_) Allocate(&shadow);
    for (size_t u = 0; u < uses_.size(); ++u) buffers_[u].data = shadows_[uses_[u].shadow].data();
    frame_.args.args = args_.data();
    frame_.rets.rets = rets_.data();
  }

  XLA_FFI_CallFrame* frame() { return &frame_; }

  Status VerifyGuards() const {
    for (size_t s = 0; s < shadows_.size(); ++s) {
      const Shadow& shadow = shadows_[s];
      Corruption before;
      if (FindChanged(shadow.block.get(), kLeadingGuardBytes, /*backwards=*/true, &before)) {
        return Corrupted(s, /*before=*/true, before, kLeadingGuardBytes);
      }
      Corruption after;
      if (FindChanged(shadow.data() + shadow.bytes, shadow.trailing, /*backwards=*/false, &after)) {
        return Corrupted(s, /*before=*/false, after, shadow.trailing);
      }
    }
    return Status();
  }

  Status VerifyInputs() const {
    for (size_t s = 0; s < shadows_.size(); ++s) {
      const Shadow& shadow = shadows_[s];
      if (!shadow.has_input || shadow.has_output || shadow.bytes == 0) continue;
      if (std::memcmp(shadow.data(), shadow.real, shadow.bytes) == 0) continue;
      const auto* real = static_cast<const uint8_t*>(shadow.real);
      size_t byte = 0;
      while (shadow.data()[byte] == real[byte]) ++byte;
      const Use& use = FirstUse(s);
      const uint64_t bits = detail::LookupDLDataType(use.buffer->dtype).bits;
      return Failure("the function modified " + Describe(s) +
                     ", which is not aliased to an output: byte " + std::to_string(byte) +
                     " (element " + DescribeIndex(*use.buffer, byte * 8 / bits) +
                     ") differs first; inputs are read-only unless aliased to an output "
                     "(input_output_aliases)");
    }
    return Status();
  }

  Status VerifyFinite() const {
    for (const Use& use : uses_) {
      if (!use.is_output) continue;
      const Shadow& shadow = shadows_[use.shadow];
      size_t first = 0;
      bool is_nan = false;
      bool found = false;
      // Complex values are checked as pairs of reals: the element is half the scalar's index.
      size_t per_element = 1;
      switch (use.buffer->dtype) {
        case XLA_FFI_DataType_F16:
          found = FindNonFinite<uint16_t>(shadow.data(), shadow.bytes / 2, 0x7C00, 0x03FF, &first,
                                          &is_nan);
          break;
        case XLA_FFI_DataType_BF16:
          found = FindNonFinite<uint16_t>(shadow.data(), shadow.bytes / 2, 0x7F80, 0x007F, &first,
                                          &is_nan);
          break;
        case XLA_FFI_DataType_C64:
          per_element = 2;
          [[fallthrough]];
        case XLA_FFI_DataType_F32:
          found = FindNonFinite<uint32_t>(shadow.data(), shadow.bytes / 4, 0x7F800000u, 0x007FFFFFu,
                                          &first, &is_nan);
          break;
        case XLA_FFI_DataType_C128:
          per_element = 2;
          [[fallthrough]];
        case XLA_FFI_DataType_F64:
          found =
              FindNonFinite<uint64_t>(shadow.data(), shadow.bytes / 8, uint64_t{0x7FF0000000000000},
                                      uint64_t{0x000FFFFFFFFFFFFF}, &first, &is_nan);
          break;
        default:
          break;
      }
      if (!found) continue;
      const size_t element = first / per_element;
      return Failure(
          "output " + std::to_string(use.index) + " (" + DescribeType(*use.buffer) + ") holds " +
          (is_nan ? "NaN" : "an infinity") +
          (per_element == 2 ? (first % 2 ? " in the imaginary part" : " in the real part") : "") +
          " at index " + DescribeIndex(*use.buffer, element) + " (element " +
          std::to_string(element) + " in row-major order)");
    }
    return Status();
  }

  void CopyOutputsBack() const {
    for (const Shadow& shadow : shadows_) {
      if (shadow.has_output && shadow.bytes != 0) {
        std::memcpy(shadow.real, shadow.data(), shadow.bytes);
      }
    }
  }

 private:
  static Status Failure(const std::string& message) {
    return Status::Error(XLA_FFI_Error_Code_INTERNAL,
                         "checking mode: " + message + "; XLA's buffers were left untouched");
  }

  // Gives the buffer that `*slot` points to a shadow, unless the call path must see it as is.
  void Add(bool is_output, size_t index, void** slot) {
    const auto* buffer = static_cast<const XLA_FFI_Buffer*>(*slot);
    size_t bytes = 0;
    if (buffer == nullptr || buffer->dtype == XLA_FFI_DataType_TOKEN ||
        !BufferBytes(*buffer, &bytes) || (bytes != 0 && buffer->data == nullptr)) {
      return;
    }
    size_t s = shadows_.size();
    // Empty buffers get a shadow each: a pointer they share carries no data to alias.
    for (size_t i = 0; i < shadows_.size() && bytes != 0; ++i) {
      if (shadows_[i].real == buffer->data && shadows_[i].bytes != 0) s = i;
    }
    if (s == shadows_.size()) {
      shadows_.emplace_back();
      shadows_.back().real = buffer->data;
    }
    Shadow& shadow = shadows_[s];
    shadow.bytes = std::max(shadow.bytes, bytes);
    (is_output ? shadow.has_output : shadow.has_input) = true;
    uses_.push_back(Use{is_output, static_cast<int64_t>(index), buffer, s});
    XLA_FFI_Buffer copy{};
    copy.struct_size = XLA_FFI_Buffer_STRUCT_SIZE;
    copy.dtype = buffer->dtype;
    copy.rank = buffer->rank;
    copy.dims = buffer->dims;
    buffers_.push_back(copy);  // Its data is set once the shadow is allocated.
    *slot = &buffers_.back();
  }

  static void Allocate(Shadow* shadow) {
    shadow->trailing = std::clamp(shadow->bytes, kMinTrailingGuardBytes, kMaxTrailingGuardBytes);
    // The trailing guard is extended to the end of the aligned block, so it is never shorter.
    size_t total = kLeadingGuardBytes + shadow->bytes + shadow->trailing;
    total = (total + kShadowAlignment - 1) / kShadowAlignment * kShadowAlignment;
    shadow->trailing = total - kLeadingGuardBytes - shadow->bytes;
    shadow->block.reset(static_cast<uint8_t*>(std::aligned_alloc(kShadowAlignment, total)));
    if (shadow->block == nullptr) throw std::bad_alloc();
    std::memset(shadow->block.get(), kGuardByte, kLeadingGuardBytes);
    if (shadow->bytes != 0) std::memcpy(shadow->data(), shadow->real, shadow->bytes);
    std::memset(shadow->data() + shadow->bytes, kGuardByte, shadow->trailing);
  }

  const Use& FirstUse(size_t shadow) const {
    return *std::find_if(uses_.begin(), uses_.end(),
                         [shadow](const Use& use) { return use.shadow == shadow; });
  }

  // "output 0 (f32[4], 16 bytes, aliased to input 0)".
  std::string Describe(size_t shadow) const {
    std::string text;
    for (const Use& use : uses_) {
      if (use.shadow != shadow) continue;
      const std::string name =
          std::string(use.is_output ? "output " : "input ") + std::to_string(use.index);
      if (text.empty()) {
        text = name + " (" + DescribeType(*use.buffer) + ", " +
               std::to_string(shadows_[shadow].bytes) + " bytes";
      } else {
        text += ", aliased to " + name;
      }
    }
    return text + ")";
  }

  // A changed guard byte: `offset` counts from the buffer's start backwards (1 = the byte just
  // before it) or from its end forwards (0 = the first byte past it).
  Status Corrupted(size_t shadow, bool before, const Corruption& corruption,
                   size_t guard_size) const {
    const std::string offset = std::to_string(corruption.offset);
    const std::string where =
        before ? offset + (corruption.offset == 1 ? " byte" : " bytes") + " before its start"
               : "at offset " + offset + " from its end";
    return Failure("the function wrote " +
                   std::string(before ? "before the start" : "past the end") + " of " +
                   Describe(shadow) + ": the corrupted byte nearest to it is " + where + " (" +
                   std::to_string(corruption.count) + " of the " + std::to_string(guard_size) +
                   " guard bytes " + (before ? "before" : "after") + " it changed)");
  }

  XLA_FFI_CallFrame frame_;
  std::vector<void*> args_;
  std::vector<void*> rets_;
  std::vector<XLA_FFI_Buffer> buffers_;
  std::vector<Shadow> shadows_;
  std::vector<Use> uses_;
};

// Runs the call on shadows and verifies them; the time is that of the function's call alone.
XLA_FFI_Error* CheckedHostCall(const Binding& binding, XLA_FFI_CallFrame* frame,
                               UncheckedHandler call, double* micros) {
  ShadowFrame shadow(*frame);
  const auto start = std::chrono::steady_clock::now();
  XLA_FFI_Error* error = call(binding, shadow.frame());
  *micros =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  if (error != nullptr) return error;
  const uint32_t check = binding.options.check;
  Status status;
  if (check & kCheckGuards) status = shadow.VerifyGuards();
  if (status.ok() && (check & kCheckInputs)) status = shadow.VerifyInputs();
  if (status.ok() && (check & kCheckNonFinite)) status = shadow.VerifyFinite();
  if (!status.ok()) return MakeXlaError(frame->api, binding.name, status);
  shadow.CopyOutputsBack();
  return nullptr;
}

void AppendBuffers(std::string* line, int64_t size, const int32_t* types, void* const* values) {
  *line += '(';
  for (int64_t i = 0; i < size; ++i) {
    if (i > 0) *line += ", ";
    if (types[i] == XLA_FFI_ArgType_BUFFER && values[i] != nullptr) {
      *line += DescribeType(*static_cast<const XLA_FFI_Buffer*>(values[i]));
    } else {
      *line += "value of type " + std::to_string(types[i]);
    }
  }
  *line += ')';
}

void Trace(const Binding& binding, const XLA_FFI_CallFrame& frame, double micros, bool ok) {
  std::string stream = "0";
  if (binding.uses_stream) {
    XLA_FFI_Stream_Get_Args get{XLA_FFI_Stream_Get_Args_STRUCT_SIZE, nullptr, frame.ctx, nullptr};
    if (XLA_FFI_Error* error = frame.api->XLA_FFI_Stream_Get(&get)) {
      stream = "unknown (" + TakeXlaError(frame.api, error, "provide the stream").message() + ")";
    } else if (get.stream != nullptr) {
      char hex[32];
      std::snprintf(hex, sizeof(hex), "0x%" PRIxPTR, reinterpret_cast<uintptr_t>(get.stream));
      stream = hex;
    }
  }
  std::string line = "jax_tvm_ffi trace: target '" + binding.name + "' args ";
  AppendBuffers(&line, frame.args.size, reinterpret_cast<const int32_t*>(frame.args.types),
                frame.args.args);
  line += " rets ";
  AppendBuffers(&line, frame.rets.size, reinterpret_cast<const int32_t*>(frame.rets.types),
                frame.rets.rets);
  char time[64];
  std::snprintf(time, sizeof(time), " time %.1f us ", micros);
  line += " stream " + stream + time + (ok ? "ok" : "failed") + "\n";
  // One write per line, so that lines of concurrent calls do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

[[gnu::noinline]] XLA_FFI_Error* HandleCheckedCall(const Binding& binding, XLA_FFI_CallFrame* frame,
                                                   UncheckedHandler call) {
  const uint32_t check = binding.options.check;
  double micros = 0;
  XLA_FFI_Error* error = nullptr;
  if (!binding.uses_stream && (check & kHostChecks) != 0) {
    // Nothing may unwind into XLA: a shadow that cannot be allocated fails the call.
    try {
      error = CheckedHostCall(binding, frame, call, &micros);
    } catch (const std::exception& e) {
      error = MakeXlaError(frame->api, binding.name,
                           Status::Error(XLA_FFI_Error_Code_RESOURCE_EXHAUSTED,
                                         std::string("checking mode: no memory for the shadow "
                                                     "copies of the call's buffers: ") +
                                             e.what()));
    }
  } else {
    const auto start = std::chrono::steady_clock::now();
    error = call(binding, frame);
    micros =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  }
  if (check & kCheckTrace) {
    try {
      Trace(binding, *frame, micros, error == nullptr);
    } catch (const std::exception&) {
      // A trace line that cannot be formatted is dropped; the call's outcome stands.
    }
  }
  return error;
}

}  // namespace jax_tvm_ffi

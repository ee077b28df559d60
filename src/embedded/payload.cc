/*!
 * \file payload.cc
 * \brief Decoding an embedded kernel's payload (see payload.h).
 */
#include "embedded/payload.h"

#include <tvm/ffi/error.h>

#include <charconv>
#include <string>

namespace jax_tvm_ffi {
namespace {

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

bool ParseInt(std::string_view text, int64_t* out) {
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, *out);
  return error == std::errc() && ptr == end && !text.empty();
}

bool ParseFlag(std::string_view text, bool* out) {
  if (text != "0" && text != "1") return false;
  *out = text == "1";
  return true;
}

// "1,0;;2,1,0": one entry per operand, each its dimensions minor-to-major; an empty entry is
// row-major.
bool ParseLayouts(std::string_view text, std::vector<std::vector<int64_t>>* out) {
  out->clear();
  for (std::string_view operand : Split(text, ';')) {
    std::vector<int64_t>& layout = out->emplace_back();
    if (operand.empty()) continue;
    for (std::string_view dim : Split(operand, ',')) {
      int64_t value = 0;
      if (!ParseInt(dim, &value)) return false;
      layout.push_back(value);
    }
  }
  return true;
}

std::string_view StringOf(const void* value) {
  const auto& span = *static_cast<const XLA_FFI_ByteSpan*>(value);
  return std::string_view(span.ptr, span.len);
}

}  // namespace

Status ParsePayloadOptions(std::string_view text, TargetOptions* out) {
  TargetOptions options;
  for (std::string_view line : Split(text, '\n')) {
    if (line.empty()) continue;
    const size_t equals = line.find('=');
    const std::string_view key = line.substr(0, equals);
    const std::string_view value =
        equals == std::string_view::npos ? std::string_view() : line.substr(equals + 1);
    bool ok = equals != std::string_view::npos;
    if (!ok) {
    } else if (key == "platform") {
      try {
        options.platform = ParsePlatform(std::string(value));
      } catch (const tvm::ffi::Error&) {
        ok = false;
      }
    } else if (key == "allow_cuda_graph") {
      ok = ParseFlag(value, &options.allow_cuda_graph);
    } else if (key == "pass_owned_tensor") {
      ok = ParseFlag(value, &options.pass_owned_tensor);
    } else if (key == "python_backed") {
      ok = ParseFlag(value, &options.python_backed);
    } else if (key == "last_result_is_workspace") {
      ok = ParseFlag(value, &options.last_result_is_workspace);
    } else if (key == "check") {
      int64_t check = 0;
      ok = ParseInt(value, &check) && check >= 0 && check <= UINT32_MAX;
      options.check = static_cast<uint32_t>(check);
    } else if (key == "input_layouts") {
      ok = ParseLayouts(value, &options.input_layouts);
    } else if (key == "output_layouts") {
      ok = ParseLayouts(value, &options.output_layouts);
    } else {
      return Status::InvalidArgument("the embedded kernel's options name an unknown option '" +
                                     std::string(key) + "'");
    }
    if (!ok) {
      return Status::InvalidArgument("the embedded kernel's option line '" + std::string(line) +
                                     "' is malformed");
    }
  }
  *out = std::move(options);
  return Status();
}

Status DecodePayload(const XLA_FFI_Attrs& attrs, EmbeddedPayload* out) {
  EmbeddedPayload payload;
  bool has_version = false, has_library = false, has_digest = false, has_function = false;
  std::string_view options_text;
  const auto size = static_cast<size_t>(attrs.size);
  for (size_t i = 0; i < size; ++i) {
    const XLA_FFI_ByteSpan& span = *attrs.names[i];
    const std::string_view name(span.ptr, span.len);
    if (name.substr(0, kPayloadPrefix.size()) != kPayloadPrefix) continue;
    if (i != payload.num_attrs) {
      return Status::InvalidArgument("the embedded kernel's attribute '" + std::string(name) +
                                     "' is not among the first attributes");
    }
    ++payload.num_attrs;
    const std::string_view key = name.substr(kPayloadPrefix.size());
    const XLA_FFI_AttrType type = attrs.types[i];
    const void* value = attrs.attrs[i];
    auto wrong_type = [&](const char* wanted) {
      return Status::InvalidArgument("the embedded kernel's attribute '" + std::string(name) +
                                     "' must be " + wanted);
    };
    if (key == "version") {
      const auto* scalar = static_cast<const XLA_FFI_Scalar*>(value);
      if (type != XLA_FFI_AttrType_SCALAR || scalar->dtype != XLA_FFI_DataType_S64) {
        return wrong_type("an int64 scalar");
      }
      const int64_t version = *static_cast<const int64_t*>(scalar->value);
      if (version < 1 || version > kPayloadVersion) {
        return Status::InvalidArgument(
            "the embedded kernel's payload has format version " + std::to_string(version) +
            "; this jax_tvm_ffi reads version " + std::to_string(kPayloadVersion) +
            " (the program was made by a newer jax_tvm_ffi: upgrade this one)");
      }
      has_version = true;
    } else if (key == "library") {
      const auto* array = static_cast<const XLA_FFI_Array*>(value);
      if (type != XLA_FFI_AttrType_ARRAY ||
          (array->dtype != XLA_FFI_DataType_U8 && array->dtype != XLA_FFI_DataType_S8)) {
        return wrong_type("a uint8 array");
      }
      payload.library = static_cast<const uint8_t*>(array->data);
      payload.library_size = array->size;
      has_library = true;
    } else if (type != XLA_FFI_AttrType_STRING) {
      return wrong_type("a string");
    } else if (key == "name") {
      payload.name = std::string(StringOf(value));
    } else if (key == "function") {
      payload.function = std::string(StringOf(value));
      has_function = true;
    } else if (key == "digest") {
      payload.digest = std::string(StringOf(value));
      has_digest = true;
    } else if (key == "arg_spec") {
      for (std::string_view item : Split(StringOf(value), '\n')) {
        if (!item.empty()) payload.arg_spec.emplace_back(item);
      }
    } else if (key == "options") {
      options_text = StringOf(value);
    } else {
      return Status::InvalidArgument("the embedded kernel's payload has an unknown attribute '" +
                                     std::string(name) + "'");
    }
  }
  const char* missing = !has_version    ? "version"
                        : !has_library  ? "library"
                        : !has_digest   ? "digest"
                        : !has_function ? "function"
                                        : nullptr;
  if (missing != nullptr) {
    return Status::InvalidArgument("the call carries no embedded kernel attribute '" +
                                   std::string(kPayloadPrefix) + missing + "'");
  }
  if (payload.name.empty()) payload.name = payload.function;
  Status status = ParsePayloadOptions(options_text, &payload.options);
  if (!status.ok()) return status;
  *out = std::move(payload);
  return Status();
}

}  // namespace jax_tvm_ffi

/*!
 * \file payload_case.cc
 * \brief The payload fuzzer's case (see payload_case.h).
 */
#include "payload_case.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "embedded/payload.h"
#include "fake_xla_api.h"

namespace jax_tvm_ffi {
namespace fuzz {
namespace {

const char* const kKeys[] = {"version", "name",     "function", "library",
                             "digest",  "arg_spec", "options",  "bogus"};

// What one record made: its name and, as far as the model needs, its type and value.
struct Record {
  std::string name;
  enum Type { kScalarS64, kScalarOther, kString, kArrayU8, kArrayOther } type;
  std::string bytes;
};

std::string NameOf(uint8_t selector, const std::string& raw) {
  const std::string prefix(kPayloadPrefix);
  const size_t n = sizeof(kKeys) / sizeof(kKeys[0]);
  if (selector < n) return prefix + kKeys[selector];
  if (selector < n + 4) return "kernel_attr_" + std::to_string(selector - n);
  if (selector < n + 6) return prefix + raw;  // A payload name of arbitrary bytes.
  return raw;                                 // Anything, sorted anywhere.
}

}  // namespace

std::string RunPayloadCase(const uint8_t* data, size_t size, bool* accepted) {
  testing::AttrsBuilder builder;
  std::vector<Record> records;
  std::map<std::string, int> seen;
  size_t at = 0;
  while (at + 3 <= size && records.size() < 24) {
    const uint8_t selector = data[at] % 16, type = data[at + 1] % 5, length = data[at + 2];
    at += 3;
    const std::string value(reinterpret_cast<const char*>(data + at),
                            std::min<size_t>(length, size - at));
    at += value.size();
    Record record{NameOf(selector, value.substr(0, 8)), static_cast<Record::Type>(type), value};
    if (seen[record.name]++ != 0) continue;  // XLA's attribute names are unique.
    switch (record.type) {
      case Record::kScalarS64: {
        int64_t v = 0;
        std::memcpy(&v, value.data(), std::min(value.size(), sizeof(v)));
        if (value.size() < 2) v = value.empty() ? 1 : value[0] % 3;  // Often a valid version.
        record.bytes.assign(reinterpret_cast<const char*>(&v), sizeof(v));
        builder.Scalar<int64_t>(record.name, XLA_FFI_DataType_S64, v);
        break;
      }
      case Record::kScalarOther:
        builder.Scalar<int32_t>(record.name, XLA_FFI_DataType_S32, 1);
        break;
      case Record::kString:
        builder.String(record.name, value);
        break;
      case Record::kArrayU8:
        builder.ArrayBytes(record.name, XLA_FFI_DataType_U8, value.data(), value.size(), 1);
        break;
      case Record::kArrayOther:
        builder.ArrayBytes(record.name, XLA_FFI_DataType_F32, value.data(), value.size() / 4, 4);
        break;
    }
    records.push_back(std::move(record));
  }
  const bool sorted = at < size ? (data[size - 1] & 1) == 0 : true;
  const XLA_FFI_Attrs& attrs = builder.Build(sorted);

  EmbeddedPayload payload;
  Status status = DecodePayload(attrs, &payload);
  if (accepted != nullptr) *accepted = status.ok();
  if (!status.ok()) {
    if (status.message().empty()) return "a refusal without a message";
    if (status.message().find("embedded kernel") == std::string::npos &&
        status.message().find("!jax_tvm_ffi.") == std::string::npos) {
      return "a refusal that names neither the embedded kernel nor the attribute: " +
             status.message();
    }
    return "";
  }
  // Accepted: the model's reading of the attributes XLA would pass, in the frame's order.
  const std::string prefix(kPayloadPrefix);
  std::map<std::string, const Record*> by_name;
  for (const Record& record : records) by_name[record.name] = &record;
  size_t leading = 0;
  bool seen_other = false;
  for (int64_t i = 0; i < attrs.size; ++i) {
    const std::string name(attrs.names[i]->ptr, attrs.names[i]->len);
    const bool ours = name.compare(0, prefix.size(), prefix) == 0;
    if (ours && seen_other) return "accepted a payload attribute after a kernel attribute";
    if (ours) ++leading;
    seen_other = seen_other || !ours;
  }
  if (payload.num_attrs != leading) return "num_attrs is not the count of leading payload names";
  auto record = [&](const char* key) -> const Record* {
    auto found = by_name.find(prefix + key);
    return found == by_name.end() ? nullptr : found->second;
  };
  for (const char* key : {"version", "library", "digest", "function"}) {
    if (record(key) == nullptr) return std::string("accepted without ") + key;
  }
  if (record("bogus") != nullptr) return "accepted an unknown payload attribute";
  if (record("version")->type != Record::kScalarS64) return "accepted a version of another type";
  int64_t version = 0;
  std::memcpy(&version, record("version")->bytes.data(), sizeof(version));
  if (version != kPayloadVersion) return "accepted version " + std::to_string(version);
  if (record("library")->type != Record::kArrayU8) return "accepted a library of another type";
  const std::string library(reinterpret_cast<const char*>(payload.library), payload.library_size);
  if (library != record("library")->bytes) return "the library bytes differ";
  if (payload.digest != record("digest")->bytes) return "the digest differs";
  if (payload.function != record("function")->bytes) return "the function differs";
  const Record* name = record("name");
  const std::string expected_name =
      name != nullptr && !name->bytes.empty() ? name->bytes : payload.function;
  if (payload.name != expected_name) return "the name differs";
  return "";
}

}  // namespace fuzz
}  // namespace jax_tvm_ffi

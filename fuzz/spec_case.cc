/*!
 * \file spec_case.cc
 * \brief Parsing and checking one arg-spec fuzz case (see spec_case.h).
 */
#include "spec_case.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

#include "jax_tvm_ffi/arg_spec.h"
#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {
namespace fuzz {
namespace {

const char kAttrPrefix[] = "attrs.";
constexpr size_t kAttrPrefixLength = sizeof(kAttrPrefix) - 1;

bool IsValidItem(const std::string& item) {
  if (item == "args" || item == "rets" || item == "ctx.stream" || item == "ctx.device_id") {
    return true;
  }
  return item.size() > kAttrPrefixLength && item.compare(0, kAttrPrefixLength, kAttrPrefix) == 0;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string CheckPlatform(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool known = lower == "cpu" || lower == "gpu" || lower == "cuda" || lower == "rocm";
  try {
    ParsePlatform(name);
    return known ? "" : "ParsePlatform accepted \"" + name + "\"";
  } catch (const tvm::ffi::Error& error) {
    if (known) return "ParsePlatform refused \"" + name + "\"";
    if (error.kind() != "ValueError") return "ParsePlatform threw " + error.kind();
    return Contains(error.message(), "\"rocm\"") ? "" : "ParsePlatform did not list the choices";
  }
}

}  // namespace

std::string RunSpecCase(const uint8_t* data, size_t size) {
  std::vector<std::string> items;
  std::string item;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      items.push_back(item);
      item.clear();
    } else {
      item.push_back(static_cast<char>(data[i]));
    }
  }
  if (size > 0) items.push_back(item);

  for (const std::string& candidate : items) {
    std::string problem = CheckPlatform(candidate);
    if (!problem.empty()) return problem;
  }

  // The model: the first item that is invalid or repeats an earlier one.
  std::set<std::string> seen;
  const std::string* offending = nullptr;
  bool repeated = false;
  for (const std::string& candidate : items) {
    repeated = !seen.insert(candidate).second;
    if (repeated || !IsValidItem(candidate)) {
      offending = &candidate;
      break;
    }
  }

  ArgSpec spec;
  try {
    spec = ArgSpec::Parse(items);
  } catch (const tvm::ffi::Error& error) {
    if (offending == nullptr) return "a valid spec was refused: " + error.message();
    if (error.kind() != "ValueError") return "a refused spec threw " + error.kind();
    const std::string& message = error.message();
    if (!Contains(message, "\"" + *offending + "\"")) {
      return "the error does not quote the offending item: " + message;
    }
    if (!Contains(message, "\"attrs.<name>\"") || !Contains(message, "\"ctx.device_id\"")) {
      return "the error does not list the valid items: " + message;
    }
    if (Contains(message, "Did you mean \"" + *offending + "\"")) {
      return "the error suggests the offending item itself: " + message;
    }
    return "";
  }
  if (offending != nullptr) return "an invalid spec was accepted at \"" + *offending + "\"";

  const std::vector<ArgSpecItem>& parsed = spec.items();
  if (parsed.size() != items.size()) return "the spec lost or gained items";
  std::string printed = "[";
  std::vector<std::string> attr_names;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& text = items[i];
    ArgKind kind = text == "args"            ? ArgKind::kArgs
                   : text == "rets"          ? ArgKind::kRets
                   : text == "ctx.stream"    ? ArgKind::kStream
                   : text == "ctx.device_id" ? ArgKind::kDeviceId
                                             : ArgKind::kAttr;
    if (parsed[i].kind != kind) return "item " + std::to_string(i) + " has the wrong kind";
    if (kind == ArgKind::kAttr) {
      attr_names.push_back(text.substr(kAttrPrefixLength));
      if (parsed[i].attr_name != attr_names.back()) return "an attribute name was altered";
    }
    printed += (i == 0 ? "" : ", ") + text;
  }
  printed += "]";
  if (spec.ToString() != printed) return "ToString gives " + spec.ToString() + ", not " + printed;

  std::sort(attr_names.begin(), attr_names.end());
  if (spec.sorted_attr_names() != attr_names) return "the attribute names are not sorted";
  if (spec.sorted_attr_items().size() != attr_names.size()) return "sorted_attr_items size";
  for (size_t w = 0; w < attr_names.size(); ++w) {
    const size_t index = spec.sorted_attr_items()[w];
    if (index >= parsed.size() || parsed[index].kind != ArgKind::kAttr ||
        parsed[index].attr_name != attr_names[w]) {
      return "sorted_attr_items does not point back at its item";
    }
  }
  return "";
}

}  // namespace fuzz
}  // namespace jax_tvm_ffi

/*!
 * \file arg_spec.cc
 * \brief Parsing and validation of arg_spec items.
 */
#include "jax_tvm_ffi/arg_spec.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <sstream>

namespace jax_tvm_ffi {
namespace {

constexpr const char* kAttrPrefix = "attrs.";
constexpr const char* kFixedItems[] = {"args", "rets", "ctx.stream", "ctx.device_id"};

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// A hint for a near miss of a fixed item ("ret", "ctx.streams", "attr.eps"), else "".
std::string Suggestion(const std::string& item) {
  for (const char* prefix : {"attr.", "attrs:", "attr:"}) {
    const size_t length = std::char_traits<char>::length(prefix);
    if (item.rfind(prefix, 0) == 0 && item.size() > length) {
      return " Did you mean \"attrs." + item.substr(length) + "\"?";
    }
  }
  const char* best = nullptr;
  size_t best_distance = 3;  // Farther than two edits is not a typo.
  for (const char* candidate : kFixedItems) {
    size_t distance = EditDistance(item, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best == nullptr ? "" : std::string(" Did you mean \"") + best + "\"?";
}

[[noreturn]] void ThrowInvalidItem(const std::string& item, const std::string& problem,
                                   bool suggest = true) {
  TVM_FFI_THROW(ValueError) << "Invalid arg_spec item \"" << item << "\": " << problem
                            << (suggest ? Suggestion(item) : "")
                            << " Valid items are \"args\", \"rets\", \"attrs.<name>\", "
                               "\"ctx.stream\" and \"ctx.device_id\".";
}

ArgSpecItem ParseItem(const std::string& item) {
  if (item == "args") return {ArgKind::kArgs, ""};
  if (item == "rets") return {ArgKind::kRets, ""};
  if (item == "ctx.stream") return {ArgKind::kStream, ""};
  if (item == "ctx.device_id") return {ArgKind::kDeviceId, ""};
  if (item.rfind(kAttrPrefix, 0) == 0) {
    std::string name = item.substr(std::char_traits<char>::length(kAttrPrefix));
    if (name.empty()) ThrowInvalidItem(item, "the attribute name is empty.");
    return {ArgKind::kAttr, name};
  }
  if (item == "attrs")
    ThrowInvalidItem(item, "an attribute item needs a name, as in \"attrs.eps\".");
  ThrowInvalidItem(item, "unknown item.");
}

}  // namespace

ArgSpec ArgSpec::Parse(const std::vector<std::string>& items) {
  ArgSpec spec;
  std::set<std::string> seen;
  for (const std::string& item : items) {
    if (!seen.insert(item).second)
      ThrowInvalidItem(item, "the item appears more than once.", /*suggest=*/false);
    spec.items_.push_back(ParseItem(item));
  }
  std::vector<size_t> attr_items;
  for (size_t i = 0; i < spec.items_.size(); ++i) {
    if (spec.items_[i].kind == ArgKind::kAttr) attr_items.push_back(i);
  }
  std::sort(attr_items.begin(), attr_items.end(), [&](size_t a, size_t b) {
    return spec.items_[a].attr_name < spec.items_[b].attr_name;
  });
  for (size_t index : attr_items) {
    spec.sorted_attr_names_.push_back(spec.items_[index].attr_name);
    spec.sorted_attr_items_.push_back(index);
  }
  return spec;
}

ArgSpec ArgSpec::Default() { return Parse({"args", "rets"}); }

std::string ArgSpec::ToString() const {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < items_.size(); ++i) {
    if (i != 0) os << ", ";
    switch (items_[i].kind) {
      case ArgKind::kArgs:
        os << "args";
        break;
      case ArgKind::kRets:
        os << "rets";
        break;
      case ArgKind::kAttr:
        os << kAttrPrefix << items_[i].attr_name;
        break;
      case ArgKind::kStream:
        os << "ctx.stream";
        break;
      case ArgKind::kDeviceId:
        os << "ctx.device_id";
        break;
    }
  }
  os << "]";
  return os.str();
}

}  // namespace jax_tvm_ffi

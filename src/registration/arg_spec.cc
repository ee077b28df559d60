/*!
 * \file arg_spec.cc
 * \brief Parsing and validation of arg_spec items.
 */
#include "jax_tvm_ffi/arg_spec.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <string>

namespace jax_tvm_ffi {
namespace {

constexpr const char* kAttrPrefix = "attrs.";
constexpr const char* kFixedItems[] = {"args", "rets", "none", "ctx.stream", "ctx.device_id"};
// Indices past this are refused at registration: no call has that many buffers.
constexpr size_t kMaxBufferIndex = 1u << 20;

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
                            << " Valid items are \"args\", \"rets\", \"args.<i>\", \"rets.<i>\", "
                               "\"args.<i>?\", \"rets.<i>?\", \"none\", \"attrs.<name>\", "
                               "\"ctx.stream\" and \"ctx.device_id\".";
}

// "args.<i>", "rets.<i>" and their "?" forms; false for an item of another kind.
bool ParseIndexedItem(const std::string& item, ArgSpecItem* out) {
  const bool is_arg = item.rfind("args.", 0) == 0;
  if (!is_arg && item.rfind("rets.", 0) != 0) return false;
  std::string digits = item.substr(5);
  out->kind = is_arg ? ArgKind::kArg : ArgKind::kRet;
  out->optional = !digits.empty() && digits.back() == '?';
  if (out->optional) digits.pop_back();
  const char* what = is_arg ? "input" : "output";
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
      (digits.size() > 1 && digits[0] == '0')) {
    ThrowInvalidItem(item,
                     std::string("the ") + what +
                         " index must be a non-negative integer in "
                         "decimal with no leading zeros, as in \"" +
                         (is_arg ? "args" : "rets") + ".0\" or \"" + (is_arg ? "args" : "rets") +
                         ".1?\".",
                     /*suggest=*/false);
  }
  if (digits.size() > 7 || std::stoul(digits) > kMaxBufferIndex) {
    ThrowInvalidItem(item,
                     std::string("the ") + what + " index is larger than " +
                         std::to_string(kMaxBufferIndex) + ".",
                     /*suggest=*/false);
  }
  out->index = std::stoul(digits);
  return true;
}

ArgSpecItem ParseItem(const std::string& item) {
  if (item == "args") return {ArgKind::kArgs, ""};
  if (item == "rets") return {ArgKind::kRets, ""};
  if (item == "none") return {ArgKind::kNone, ""};
  if (item == "ctx.stream") return {ArgKind::kStream, ""};
  if (item == "ctx.device_id") return {ArgKind::kDeviceId, ""};
  ArgSpecItem indexed{ArgKind::kArg, ""};
  if (ParseIndexedItem(item, &indexed)) return indexed;
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
    // "none" fills one optional parameter each: a signature may have several.
    if (item != "none" && !seen.insert(item).second)
      ThrowInvalidItem(item, "the item appears more than once.", /*suggest=*/false);
    spec.items_.push_back(ParseItem(item));
  }
  std::vector<size_t> attr_items;
  for (size_t i = 0; i < spec.items_.size(); ++i) {
    const ArgSpecItem& item = spec.items_[i];
    if (item.kind == ArgKind::kAttr) attr_items.push_back(i);
    spec.has_args_ = spec.has_args_ || item.kind == ArgKind::kArgs;
    spec.has_rets_ = spec.has_rets_ || item.kind == ArgKind::kRets;
    if (item.kind != ArgKind::kArg && item.kind != ArgKind::kRet) continue;
    std::vector<size_t>& named = item.kind == ArgKind::kArg ? spec.named_args_ : spec.named_rets_;
    if (std::find(named.begin(), named.end(), item.index) != named.end()) {
      ThrowInvalidItem(ItemText(item),
                       std::string("it names ") +
                           (item.kind == ArgKind::kArg ? "input " : "output ") +
                           std::to_string(item.index) +
                           ", which another item already names; every buffer is passed at most "
                           "once.",
                       /*suggest=*/false);
    }
    named.push_back(item.index);
  }
  std::sort(spec.named_args_.begin(), spec.named_args_.end());
  std::sort(spec.named_rets_.begin(), spec.named_rets_.end());
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

namespace {

// Checks one list (inputs or outputs) against the items that name its buffers by index.
std::string CheckList(const std::vector<ArgSpecItem>& items, ArgKind indexed,
                      const std::vector<size_t>& named, bool has_rest, size_t count,
                      const char* kind, const char* what) {
  if (named.empty()) return "";
  const size_t largest = named.back();
  if (largest >= count) {
    std::string item;  // As written, "?" included.
    for (const ArgSpecItem& candidate : items) {
      if (candidate.kind == indexed && candidate.index == largest) {
        item = ArgSpec::ItemText(candidate);
      }
    }
    return "arg_spec item \"" + item + "\" names " + what + " " + std::to_string(largest) +
           ", but the call has " + std::to_string(count) + " " + what + (count == 1 ? "" : "s");
  }
  if (!has_rest && named.size() != count) {
    size_t missing = 0;
    while (missing < named.size() && named[missing] == missing) ++missing;
    return std::string(what) + " " + std::to_string(missing) + " of " + std::to_string(count) +
           " is passed by no arg_spec item: name it (\"" + kind + "." + std::to_string(missing) +
           "\") or pass the rest with \"" + kind + "\"";
  }
  return "";
}

}  // namespace

std::string ArgSpec::CheckBufferCounts(size_t num_args, size_t num_rets) const {
  std::string problem =
      CheckList(items_, ArgKind::kArg, named_args_, has_args_, num_args, "args", "input");
  if (problem.empty()) {
    problem = CheckList(items_, ArgKind::kRet, named_rets_, has_rets_, num_rets, "rets", "output");
  }
  return problem;
}

std::string ArgSpec::ItemText(const ArgSpecItem& item) {
  switch (item.kind) {
    case ArgKind::kArgs:
      return "args";
    case ArgKind::kRets:
      return "rets";
    case ArgKind::kArg:
    case ArgKind::kRet:
      return std::string(item.kind == ArgKind::kArg ? "args." : "rets.") +
             std::to_string(item.index) + (item.optional ? "?" : "");
    case ArgKind::kNone:
      return "none";
    case ArgKind::kAttr:
      return kAttrPrefix + item.attr_name;
    case ArgKind::kStream:
      return "ctx.stream";
    case ArgKind::kDeviceId:
      return "ctx.device_id";
  }
  return "";
}

std::string ArgSpec::ToString() const {
  std::string text = "[";
  for (size_t i = 0; i < items_.size(); ++i) {
    if (i != 0) text += ", ";
    text += ItemText(items_[i]);
  }
  return text + "]";
}

}  // namespace jax_tvm_ffi

/*!
 * \file spec_case.cc
 * \brief Parsing and checking one arg-spec fuzz case, and the model of the grammar (see
 *        spec_case.h).
 */
#include "spec_case.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>
#include <vector>

#include "jax_tvm_ffi/arg_spec.h"
#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {
namespace fuzz {
namespace {

const char kAttrPrefix[] = "attrs.";
constexpr size_t kAttrPrefixLength = sizeof(kAttrPrefix) - 1;
// The largest index the README allows: 2^20.
constexpr size_t kModelMaxIndex = size_t{1} << 20;
// Unpassed buffers the counts model lists: the error names one, and listing every one of a
// count near 2^20 would make each case slow.
constexpr size_t kMaxListedUnpassed = 64;

bool StartsWith(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// "<digits>" of an indexed item: decimal, "0" or no leading zero, at most kModelMaxIndex.
bool ModelIndex(const std::string& digits, size_t* index) {
  if (digits.empty() || digits.size() > 8 || (digits.size() > 1 && digits[0] == '0')) return false;
  size_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  *index = value;
  return value <= kModelMaxIndex;
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

ArgKind CoreKind(ModelItem::Kind kind) {
  switch (kind) {
    case ModelItem::kArgs:
      return ArgKind::kArgs;
    case ModelItem::kRets:
      return ArgKind::kRets;
    case ModelItem::kArg:
      return ArgKind::kArg;
    case ModelItem::kRet:
      return ArgKind::kRet;
    case ModelItem::kNone:
      return ArgKind::kNone;
    case ModelItem::kAttr:
      return ArgKind::kAttr;
    case ModelItem::kStream:
      return ArgKind::kStream;
    case ModelItem::kDeviceId:
    case ModelItem::kInvalid:
      break;
  }
  return ArgKind::kDeviceId;
}

// The items of a valid list that break it: invalid ones, repeats of an earlier item's text ("none"
// excepted), and
// items that name a buffer an earlier item names (with or without "?").
std::vector<std::string> ModelOffending(const std::vector<std::string>& items) {
  std::vector<std::string> offending;
  std::set<std::string> seen;
  std::set<std::pair<int, size_t>> buffers;
  for (const std::string& text : items) {
    const ModelItem item = ModelParseItem(text);
    // "none" fills one optional parameter each: a signature may have several.
    const bool repeated = item.kind != ModelItem::kNone && !seen.insert(text).second;
    const bool renamed = (item.kind == ModelItem::kArg || item.kind == ModelItem::kRet) &&
                         !buffers.emplace(item.kind, item.index).second;
    if (item.kind == ModelItem::kInvalid || repeated || renamed) offending.push_back(text);
  }
  return offending;
}

// Checks the error of a refused list: a ValueError quoting an offending item, not suggesting
// that item, and listing the valid items.
std::string CheckRefusal(const tvm::ffi::Error& error, const std::vector<std::string>& offending) {
  if (error.kind() != "ValueError") return "a refused spec threw " + error.kind();
  const std::string& message = error.message();
  bool quoted = false;
  for (const std::string& item : offending) {
    quoted |= Contains(message, "\"" + item + "\"") &&
              !Contains(message, "Did you mean \"" + item + "\"");
  }
  if (!quoted) {
    return "the error quotes no offending item (or suggests the one it quotes), offending \"" +
           offending.front() + "\": " + message;
  }
  for (const char* valid :
       {"\"attrs.<name>\"", "\"ctx.device_id\"", "\"args.<i>\"", "\"rets.<i>?\"", "\"none\""}) {
    if (!Contains(message, valid)) return "the error does not list the valid items: " + message;
  }
  return "";
}

// Counts around the spec's indices for one list: none, one, and each side of the largest index
// and of the number of indices.
std::vector<size_t> CountsToTry(const std::vector<size_t>& named) {
  std::vector<size_t> counts = {0, 1};
  if (!named.empty()) {
    counts.insert(counts.end(), {named.back(), named.back() + 1, named.back() + 2, named.size(),
                                 named.size() + 1});
  }
  return counts;
}

// The counts check of the core against the model's, on calls around the spec's indices.
std::string CheckCounts(const std::vector<std::string>& items, const ArgSpec& spec) {
  for (size_t num_args : CountsToTry(spec.named_args())) {
    for (size_t num_rets : CountsToTry(spec.named_rets())) {
      const std::vector<std::string> problems = ModelCountProblems(items, num_args, num_rets);
      const std::string message = spec.CheckBufferCounts(num_args, num_rets);
      const std::string counts =
          " (" + std::to_string(num_args) + " inputs, " + std::to_string(num_rets) + " outputs)";
      if (spec.BufferCountsOk(num_args, num_rets) != message.empty()) {
        return "BufferCountsOk and CheckBufferCounts disagree" + counts;
      }
      if (problems.empty() != message.empty()) {
        return (message.empty()
                    ? "CheckBufferCounts accepted a call the model refuses"
                    : "CheckBufferCounts refused a call the model accepts: " + message) +
               counts;
      }
      bool named = problems.empty();
      for (const std::string& item : problems) {
        named |= Contains(message, "\"" + item + "\"");
      }
      if (!named) return "the counts error names no offending item" + counts + ": " + message;
    }
  }
  return "";
}

// The checks of a list the model accepts.
std::string CheckAccepted(const std::vector<std::string>& items, const ArgSpec& spec) {
  const std::vector<ArgSpecItem>& parsed = spec.items();
  if (parsed.size() != items.size()) return "the spec lost or gained items";
  std::string printed = "[";
  std::vector<std::string> attr_names;
  std::vector<size_t> named_args;
  std::vector<size_t> named_rets;
  for (size_t i = 0; i < items.size(); ++i) {
    const ModelItem item = ModelParseItem(items[i]);
    const std::string where = "item " + std::to_string(i) + " (\"" + items[i] + "\")";
    if (parsed[i].kind != CoreKind(item.kind)) return where + " has the wrong kind";
    if (item.kind == ModelItem::kArg || item.kind == ModelItem::kRet) {
      if (parsed[i].index != item.index) return where + " has the wrong index";
      if (parsed[i].optional != item.optional) return where + " has the wrong optional flag";
      (item.kind == ModelItem::kArg ? named_args : named_rets).push_back(item.index);
    }
    if (item.kind == ModelItem::kAttr) {
      attr_names.push_back(item.attr_name);
      if (parsed[i].attr_name != item.attr_name) return "an attribute name was altered";
    }
    if (ArgSpec::ItemText(parsed[i]) != items[i]) {
      return where + " is written back as \"" + ArgSpec::ItemText(parsed[i]) + "\"";
    }
    printed += (i == 0 ? "" : ", ") + items[i];
  }
  printed += "]";
  if (spec.ToString() != printed) return "ToString gives " + spec.ToString() + ", not " + printed;

  // The items written back parse into the same spec.
  std::vector<std::string> written;
  for (const ArgSpecItem& item : parsed) written.push_back(ArgSpec::ItemText(item));
  const ArgSpec again = ArgSpec::Parse(written);
  for (size_t i = 0; i < parsed.size(); ++i) {
    const ArgSpecItem& a = parsed[i];
    const ArgSpecItem& b = again.items()[i];
    if (a.kind != b.kind || a.index != b.index || a.optional != b.optional ||
        a.attr_name != b.attr_name) {
      return "item " + std::to_string(i) + " parses differently from its own writing";
    }
  }

  std::sort(named_args.begin(), named_args.end());
  std::sort(named_rets.begin(), named_rets.end());
  if (spec.named_args() != named_args || spec.named_rets() != named_rets) {
    return "named_args / named_rets are not the spec's indices, ascending";
  }
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
  return CheckCounts(items, spec);
}

}  // namespace

ModelItem ModelParseItem(const std::string& text) {
  ModelItem item;
  item.kind = ModelItem::kInvalid;
  if (text == "args") item.kind = ModelItem::kArgs;
  if (text == "rets") item.kind = ModelItem::kRets;
  if (text == "none") item.kind = ModelItem::kNone;
  if (text == "ctx.stream") item.kind = ModelItem::kStream;
  if (text == "ctx.device_id") item.kind = ModelItem::kDeviceId;
  if (item.kind != ModelItem::kInvalid) return item;
  if (text.size() > kAttrPrefixLength && StartsWith(text, kAttrPrefix)) {
    item.kind = ModelItem::kAttr;
    item.attr_name = text.substr(kAttrPrefixLength);
    return item;
  }
  const bool arg = StartsWith(text, "args.");
  if (!arg && !StartsWith(text, "rets.")) return item;
  std::string digits = text.substr(5);
  item.optional = !digits.empty() && digits.back() == '?';
  if (item.optional) digits.pop_back();
  if (ModelIndex(digits, &item.index)) item.kind = arg ? ModelItem::kArg : ModelItem::kRet;
  return item;
}

std::vector<std::string> ModelCountProblems(const std::vector<std::string>& items, size_t num_args,
                                            size_t num_rets) {
  std::vector<std::string> problems;
  for (const bool inputs : {true, false}) {
    const size_t count = inputs ? num_args : num_rets;
    const std::string prefix = inputs ? "args." : "rets.";
    std::set<size_t> named;
    bool catch_all = false;
    bool past = false;
    for (const std::string& text : items) {
      const ModelItem item = ModelParseItem(text);
      if (item.kind == (inputs ? ModelItem::kArg : ModelItem::kRet)) {
        named.insert(item.index);
        // Past the count: the item as written, "?" included.
        if (item.index >= count) problems.push_back(text);
        past |= item.index >= count;
      }
      catch_all |= item.kind == (inputs ? ModelItem::kArgs : ModelItem::kRets);
    }
    if (named.empty()) continue;
    if (past || catch_all) continue;
    for (size_t m = 0; m < count && problems.size() < kMaxListedUnpassed; ++m) {
      if (!named.count(m)) problems.push_back(prefix + std::to_string(m));
    }
  }
  return problems;
}

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

  const std::vector<std::string> offending = ModelOffending(items);
  ArgSpec spec;
  try {
    spec = ArgSpec::Parse(items);
  } catch (const tvm::ffi::Error& error) {
    if (offending.empty()) return "a valid spec was refused: " + error.message();
    return CheckRefusal(error, offending);
  }
  if (!offending.empty()) return "an invalid spec was accepted at \"" + offending.front() + "\"";
  return CheckAccepted(items, spec);
}

}  // namespace fuzz
}  // namespace jax_tvm_ffi

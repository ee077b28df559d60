/*!
 * \file frame_input.cc
 * \brief Decoding a call-frame fuzz case from bytes and building its XLA frame.
 */
#include "frame_input.h"

#include <tvm/ffi/error.h>
#include <xla/ffi/api/c_api.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

namespace jax_tvm_ffi {
namespace fuzz {
namespace {

// Reads the case's bytes front to back; past the end every byte is zero.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  int Below(int n) { return Byte() % n; }
  bool OneIn(int n) { return Below(n) == 0; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Names shared by spec items and frame attributes, so that they often match.
const char* const kNamePool[] = {"a", "b", "eps", "mode", "cfg", "x.y", "A", "a0"};

std::string ReadName(ByteReader& in) {
  const int choice = in.Below(10);
  if (choice < 8) return kNamePool[choice];
  if (choice == 8) return "";
  std::string name(1 + in.Below(3), ' ');
  for (char& c : name) c = static_cast<char>(0x21 + in.Below(94));
  return name;
}

// A code XLA defines most of the time; sometimes any code below 36 (INVALID, TOKEN and gaps
// included) or any byte.
int64_t ReadBufferTypeCode(ByteReader& in) {
  static const int64_t kDefined[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                     15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                                     28, 29, 30, 31, 32, 33, 17, 11, 11, 4};  // TOKEN once, F32 and
                                                                              // S32 more
  if (in.OneIn(32)) return in.Byte();
  if (in.OneIn(32)) return in.Below(36);
  return kDefined[in.Below(sizeof(kDefined) / sizeof(kDefined[0]))];
}

// A decodable attribute element type most of the time; below 64 so it fits the C enum.
int64_t ReadAttrTypeCode(ByteReader& in) {
  static const int64_t kDecodable[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16};
  return in.OneIn(16) ? in.Below(64) : kDecodable[in.Below(13)];
}

// Mostly a few, sometimes up to `most`: many tensors overflow the decoder's inline storage.
int ReadCount(ByteReader& in, int most) { return in.OneIn(8) ? in.Below(most + 1) : in.Below(4); }

Buffer ReadBuffer(ByteReader& in, bool may_be_raw, uint8_t fill) {
  Buffer buffer;
  if (may_be_raw && in.OneIn(24)) {
    buffer.raw = true;
    buffer.raw_type = in.Below(4);
    // A buffer-typed value must then be null, or the core would read it as a buffer.
    buffer.raw_null = buffer.raw_type == XLA_FFI_ArgType_BUFFER || in.OneIn(2);
    return buffer;
  }
  buffer.code = static_cast<int32_t>(ReadBufferTypeCode(in));
  const int rank = in.Below(7);
  const bool long_dims = rank <= 2 && in.OneIn(8);
  for (int i = 0; i < rank; ++i) buffer.dims.push_back(in.Below(long_dims ? 64 : 5));
  buffer.type = ModelBufferType(buffer.code);
  buffer.has_view = buffer.type.valid && ModelShape(buffer.type, buffer.dims, &buffer.shape);
  if (buffer.has_view) buffer.bytes = ModelByteSize(buffer.type, buffer.shape);
  buffer.data.resize(buffer.bytes + 16);
  for (size_t i = 0; i < buffer.data.size(); ++i)
    buffer.data[i] = static_cast<uint8_t>(fill + i * 7);
  return buffer;
}

Attr ReadAttr(ByteReader& in, int depth, std::string name) {
  Attr attr;
  attr.name = std::move(name);
  attr.kind = static_cast<Attr::Kind>(in.Below(depth < 2 ? 4 : 3));
  switch (attr.kind) {
    case Attr::kScalar:
      attr.code = ReadAttrTypeCode(in);
      attr.bytes.resize(16);
      for (size_t i = 0; i < 8; ++i) attr.bytes[i] = in.Byte();
      break;
    case Attr::kString:
      attr.string.resize(in.Below(8));
      for (char& c : attr.string) c = static_cast<char>(in.Byte());
      break;
    case Attr::kArray:
      attr.code = ReadAttrTypeCode(in);
      attr.size = in.Below(5);
      attr.bytes.resize(attr.size * AttrElementSize(attr.code));
      for (uint8_t& byte : attr.bytes) byte = in.Byte();
      break;
    case Attr::kDictionary: {
      std::set<std::string> names;
      const int entries = in.Below(4);
      for (int i = 0; i < entries; ++i) {
        Attr entry = ReadAttr(in, depth + 1, ReadName(in));
        if (names.insert(entry.name).second) attr.dictionary.push_back(std::move(entry));
      }
      break;
    }
  }
  return attr;
}

void AddAttr(testing::AttrsBuilder& builder, const Attr& attr) {
  const auto dtype = static_cast<XLA_FFI_DataType>(attr.code);
  switch (attr.kind) {
    case Attr::kScalar:
      builder.ScalarBytes(attr.name, dtype, attr.bytes.data(), attr.bytes.size());
      break;
    case Attr::kString:
      builder.String(attr.name, attr.string);
      break;
    case Attr::kArray:
      builder.ArrayBytes(attr.name, dtype, attr.bytes.data(), attr.size,
                         AttrElementSize(attr.code));
      break;
    case Attr::kDictionary: {
      testing::AttrsBuilder& inner = builder.Dictionary(attr.name);
      for (const Attr& entry : attr.dictionary) AddAttr(inner, entry);
      break;
    }
  }
}

const char* const kErrorKinds[] = {
    "ValueError",          "TypeError",   "KeyError",       "IndexError",    "RuntimeError",
    "NotImplementedError", "MemoryError", "AttributeError", "InternalError", "FuzzKindError"};

// An index that is mostly within the counts ReadCount gives, sometimes past them (up to 13,
// past every count), rarely the largest the grammar allows.
size_t ReadIndex(ByteReader& in) {
  if (in.OneIn(32)) return size_t{1} << 20;
  return in.OneIn(8) ? in.Below(14) : in.Below(4);
}

std::string IndexedItem(bool input, size_t index, bool optional) {
  return std::string(input ? "args." : "rets.") + std::to_string(index) + (optional ? "?" : "");
}

// Items of the grammar that names buffers: "none"; one "args.<i>" / "rets.<i>" (optional or not);
// a run naming buffers 0..n-1 of one list in shuffled order, so that index-only specs pass every
// buffer often; or a near miss (a bare name, a malformed index), refused at parsing.
void ReadBufferItems(ByteReader& in, std::vector<std::string>* out) {
  static const char* const kNearMisses[] = {"args.01",  "args.",  "rets.-1", "args.1048577",
                                            "args.0??", "rets.?", "args.+1", "Rets.0"};
  const int choice = in.Below(8);
  if (choice == 0) {
    out->push_back("none");
  } else if (choice <= 3) {
    out->push_back(IndexedItem(in.OneIn(2), ReadIndex(in), in.OneIn(3)));
  } else if (choice <= 5) {
    const bool input = in.OneIn(2);
    std::vector<size_t> order(1 + in.Below(4));
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = order.size(); i > 1; --i)
      std::swap(order[i - 1], order[in.Below(static_cast<int>(i))]);
    for (size_t index : order) out->push_back(IndexedItem(input, index, in.OneIn(4)));
  } else if (choice == 6) {
    out->push_back(kNearMisses[in.Below(8)]);
  } else {
    out->push_back(ReadName(in));
  }
}

std::vector<std::string> ReadItems(ByteReader& in) {
  std::vector<std::string> items;
  for (int i = in.Below(7); i > 0; --i) {
    std::vector<std::string> read(1);
    switch (in.Below(12)) {
      case 0:
      case 1:
        read[0] = "args";
        break;
      case 2:
      case 3:
        read[0] = "rets";
        break;
      case 4:
        read[0] = "ctx.stream";
        break;
      case 5:
        read[0] = "ctx.device_id";
        break;
      case 11:
        // Once a bare name only (refused); the cases recorded before (test_fuzz_cases.cc) have
        // valid specs, so they never came here and read as they did.
        read.clear();
        ReadBufferItems(in, &read);
        break;
      default:
        read[0] = "attrs." + ReadName(in);
    }
    for (const std::string& item : read) {
      // A repeated item is refused at parsing: keep a few to check that, drop most.
      const bool repeated = std::find(items.begin(), items.end(), item) != items.end();
      if (!repeated || in.OneIn(16)) items.push_back(item);
    }
  }
  return items;
}

// The number of buffers of one list. For a list the spec names by index, often one that fits
// the spec (as many as it names, or one past its largest index, plus a few for "args" / "rets"
// to pass) and sometimes one short of it; else (and always for specs that name no buffer, so
// that recorded cases read as they did) ReadCount's.
size_t ReadBufferCount(ByteReader& in, const std::vector<size_t>& named, bool catch_all, int most) {
  if (named.empty()) return ReadCount(in, most);
  const size_t extra = catch_all ? in.Below(3) : 0;
  switch (in.Below(4)) {
    case 0:
      return named.size() + extra;
    case 1:
      return std::min<size_t>(named.back() + 1 + extra, most);
    case 2:
      return std::min<size_t>(named.back(), most);
    default:
      return ReadCount(in, most);
  }
}

// Mostly the attributes the spec names, sometimes one dropped or one added; else any names.
std::vector<std::string> ReadAttrNames(ByteReader& in, const ArgSpec& spec) {
  std::vector<std::string> names;
  if (in.OneIn(4)) {
    names.resize(in.Below(6));
    for (std::string& name : names) name = ReadName(in);
    return names;
  }
  names = spec.sorted_attr_names();
  if (!names.empty() && in.OneIn(8)) names.erase(names.begin() + in.Below(8) % names.size());
  if (in.OneIn(8)) names.push_back(ReadName(in));
  return names;
}

// Sub-byte types (1, 2 and 4 bits, and several lanes of them) and ordinary ones; sometimes any
// code, bits and lanes, zero bits included.
DLDataType ReadScratchDtype(ByteReader& in) {
  static const DLDataType kPool[] = {
      {kDLUInt, 8, 1}, {kDLInt, 1, 1},     {kDLInt, 2, 1},       {kDLUInt, 2, 1},
      {kDLUInt, 1, 1}, {kDLInt, 4, 1},     {kDLUInt, 4, 1},      {kDLFloat4_e2m1fn, 4, 2},
      {kDLUInt, 1, 3}, {kDLInt, 2, 5},     {kDLFloat, 32, 1},    {kDLFloat, 64, 1},
      {kDLBool, 8, 1}, {kDLBfloat, 16, 1}, {kDLComplex, 128, 1}, {kDLFloat, 32, 4},
  };
  if (in.OneIn(16)) {
    const uint8_t code = in.Byte();
    const uint8_t bits = in.Byte();
    const uint16_t lanes = in.OneIn(4) ? static_cast<uint16_t>(in.Byte() << 8 | in.Byte()) : 1;
    return DLDataType{code, bits, lanes};
  }
  return kPool[in.Below(sizeof(kPool) / sizeof(kPool[0]))];
}

// Mostly small; often a power of two near one, so that products land around 2^48 (the limit)
// and 2^64 (where unchecked arithmetic wraps); sometimes zero, negative or the largest int64.
int64_t ReadScratchDim(ByteReader& in) {
  switch (in.Below(8)) {
    case 0:
    case 1:
    case 2:
      return in.Below(40);
    case 3:
    case 4:
    case 5: {
      static const int64_t kDelta[] = {0, 0, 1, -1, 16, 64, 3, 2};
      return (int64_t{1} << in.Below(63)) + kDelta[in.Below(8)];
    }
    case 6:
      return in.OneIn(2) ? 0 : std::numeric_limits<int64_t>::max() - in.Below(2);
    default:
      return in.OneIn(2) ? -1 - in.Below(4) : std::numeric_limits<int64_t>::min();
  }
}

std::vector<ScratchRequest> ReadScratchRequests(ByteReader& in) {
  std::vector<ScratchRequest> requests;
  for (int i = ReadCount(in, 8); i > 0; --i) {
    ScratchRequest request;
    request.dtype = ReadScratchDtype(in);
    request.shape.resize(in.Below(4));
    for (int64_t& dim : request.shape) dim = ReadScratchDim(in);
    request.model = ModelScratchRequest(request.dtype, request.shape);
    const bool too_much_to_fill = request.model.verdict == ModelScratch::kServed &&
                                  request.model.bytes > kMaxFuzzScratchBytes;
    if (!too_much_to_fill) requests.push_back(std::move(request));
  }
  return requests;
}

}  // namespace

FrameInput ReadFrameInput(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  FrameInput input;
  input.items = ReadItems(in);
  try {
    input.spec = ArgSpec::Parse(input.items);
    input.spec_valid = true;
  } catch (const tvm::ffi::Error&) {
    return input;  // The arg-spec fuzzer covers refused specs.
  }
  input.options.platform = static_cast<Platform>(in.Below(3));
  input.options.pass_owned_tensor = in.OneIn(2);
  input.options.allow_cuda_graph = in.OneIn(4);
  input.action = static_cast<Action>(in.Below(5));
  input.throw_kind = kErrorKinds[in.Below(sizeof(kErrorKinds) / sizeof(kErrorKinds[0]))];
  bool has_args = false;
  bool has_rets = false;
  for (const ArgSpecItem& item : input.spec.items()) {
    has_args |= item.kind == ArgKind::kArgs;
    has_rets |= item.kind == ArgKind::kRets;
  }
  input.args.resize(ReadBufferCount(in, input.spec.named_args(), has_args, 12));
  input.rets.resize(ReadBufferCount(in, input.spec.named_rets(), has_rets, 8));
  uint8_t fill = 1;
  for (Buffer& buffer : input.args) buffer = ReadBuffer(in, /*may_be_raw=*/true, fill += 17);
  for (Buffer& buffer : input.rets) buffer = ReadBuffer(in, /*may_be_raw=*/false, fill += 17);
  for (const std::string& name : ReadAttrNames(in, input.spec)) {
    input.attrs.push_back(ReadAttr(in, 0, name));
  }
  input.sorted_attrs = !in.OneIn(8);
  input.stage = in.Below(16);
  testing::FakeExecutionContext& context = input.context;
  context.stream = reinterpret_cast<void*>(static_cast<uintptr_t>(0x1000 + 16 * in.Byte()));
  context.device_ordinal = in.Below(4);
  context.fail_stream_get = in.OneIn(16);
  context.fail_device_ordinal_get = in.OneIn(16);
  // Last, so that the cases recorded before it (test_fuzz_cases.cc) read as they did.
  input.scratch = ReadScratchRequests(in);
  return input;
}

void BuildFrame(FrameInput& input, testing::CallFrameBuilder* builder) {
  static int32_t raw_value = 0;
  for (Buffer& buffer : input.args) {
    if (buffer.raw) {
      builder->AddRawArg(static_cast<XLA_FFI_ArgType>(buffer.raw_type),
                         buffer.raw_null ? nullptr : &raw_value);
      continue;
    }
    XLA_FFI_Buffer& added = builder->AddArg(XLA_FFI_DataType_F32, buffer.data.data(), buffer.dims);
    std::memcpy(&added.dtype, &buffer.code, sizeof(added.dtype));  // Any code, as XLA's C ABI.
  }
  for (Buffer& buffer : input.rets) {
    XLA_FFI_Buffer& added = builder->AddRet(XLA_FFI_DataType_F32, buffer.data.data(), buffer.dims);
    std::memcpy(&added.dtype, &buffer.code, sizeof(added.dtype));
  }
  for (const Attr& attr : input.attrs) AddAttr(builder->attrs(), attr);
  builder->set_sort_attrs(input.sorted_attrs);
}

bool ModelDecodeAttr(const Attr& attr, ModelValue* out) {
  switch (attr.kind) {
    case Attr::kScalar:
      return ModelDecodeElement(attr.code, attr.bytes.data(), out);
    case Attr::kString:
      out->kind = ModelValue::kString;
      out->string = attr.string;
      return true;
    case Attr::kArray:
      out->kind = ModelValue::kArray;
      for (size_t i = 0; i < attr.size; ++i) {
        ModelValue element;
        const uint8_t* bytes = attr.bytes.data() + i * AttrElementSize(attr.code);
        if (!ModelDecodeElement(attr.code, bytes, &element)) return false;
        out->elements.push_back(element);
      }
      return true;
    case Attr::kDictionary:
      out->kind = ModelValue::kMap;
      for (const Attr& entry : attr.dictionary) {
        ModelValue value;
        if (!ModelDecodeAttr(entry, &value)) return false;
        out->entries.emplace_back(entry.name, value);
      }
      return true;
  }
  return false;
}

}  // namespace fuzz
}  // namespace jax_tvm_ffi

/*!
 * \file attr_decoder.cc
 * \brief XLA attributes to TVM FFI values.
 */
#include "call/attr_decoder.h"

#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/string.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "jax_tvm_ffi/dtype.h"

namespace jax_tvm_ffi {
namespace {

template <typename T>
T Load(const void* data, size_t index) {
  T value;
  std::memcpy(&value, static_cast<const char*>(data) + index * sizeof(T), sizeof(T));
  return value;
}

double HalfToDouble(uint16_t bits) {
  const int sign = bits >> 15;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  double magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -24);
  } else if (exponent == 0x1f) {
    magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::quiet_NaN();
  } else {
    magnitude = std::ldexp(mantissa + 1024, exponent - 25);
  }
  return sign ? -magnitude : magnitude;
}

double BFloat16ToDouble(uint16_t bits) {
  uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof(value));
  return value;
}

std::string DescribeType(XLA_FFI_DataType dtype) {
  return std::string(DataTypeName(dtype)) + " (code " + std::to_string(dtype) + ")";
}

// Decodes element `index` of `data`, an array of `dtype`.
Status DecodeElement(const std::string& name, XLA_FFI_DataType dtype, const void* data,
                     size_t index, tvm::ffi::Any* out) {
  switch (dtype) {
    case XLA_FFI_DataType_PRED:
      *out = Load<uint8_t>(data, index) != 0;
      return Status();
    case XLA_FFI_DataType_S8:
      *out = int64_t{Load<int8_t>(data, index)};
      return Status();
    case XLA_FFI_DataType_S16:
      *out = int64_t{Load<int16_t>(data, index)};
      return Status();
    case XLA_FFI_DataType_S32:
      *out = int64_t{Load<int32_t>(data, index)};
      return Status();
    case XLA_FFI_DataType_S64:
      *out = Load<int64_t>(data, index);
      return Status();
    case XLA_FFI_DataType_U8:
      *out = int64_t{Load<uint8_t>(data, index)};
      return Status();
    case XLA_FFI_DataType_U16:
      *out = int64_t{Load<uint16_t>(data, index)};
      return Status();
    case XLA_FFI_DataType_U32:
      *out = int64_t{Load<uint32_t>(data, index)};
      return Status();
    case XLA_FFI_DataType_U64: {
      uint64_t value = Load<uint64_t>(data, index);
      if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Status::InvalidArgument("attribute '" + name + "' has U64 value " +
                                       std::to_string(value) + ", which does not fit in int64");
      }
      *out = static_cast<int64_t>(value);
      return Status();
    }
    case XLA_FFI_DataType_F16:
      *out = HalfToDouble(Load<uint16_t>(data, index));
      return Status();
    case XLA_FFI_DataType_BF16:
      *out = BFloat16ToDouble(Load<uint16_t>(data, index));
      return Status();
    case XLA_FFI_DataType_F32:
      *out = double{Load<float>(data, index)};
      return Status();
    case XLA_FFI_DataType_F64:
      *out = Load<double>(data, index);
      return Status();
    default:
      return Status::InvalidArgument("attribute '" + name + "' has element type " +
                                     DescribeType(dtype) +
                                     ", which is not supported for attributes (supported: bool, "
                                     "integers, F16, BF16, F32, F64)");
  }
}

Status DecodeDictionary(const std::string& name, const XLA_FFI_Attrs& attrs, tvm::ffi::Any* out) {
  tvm::ffi::Map<tvm::ffi::String, tvm::ffi::Any> map;
  for (int64_t i = 0; i < attrs.size; ++i) {
    const XLA_FFI_ByteSpan* key = attrs.names[i];
    std::string key_string(key->ptr, key->len);
    tvm::ffi::Any value;
    Status status = DecodeAttr(name + "." + key_string, attrs.types[i], attrs.attrs[i], &value);
    if (!status.ok()) return status;
    map.Set(tvm::ffi::String(key_string), value);
  }
  *out = std::move(map);
  return Status();
}

}  // namespace

Status MatchAttrs(const ArgSpec& spec, const XLA_FFI_Attrs& attrs, size_t* frame_index) {
  const std::vector<std::string>& wanted = spec.sorted_attr_names();
  size_t found = 0;
  for (size_t w = 0; w < wanted.size(); ++w) {
    const std::string& name = wanted[w];
    bool present = false;
    for (int64_t i = 0; i < attrs.size; ++i) {
      const XLA_FFI_ByteSpan* candidate = attrs.names[i];
      if (candidate->len == name.size() &&
          std::memcmp(candidate->ptr, name.data(), name.size()) == 0) {
        frame_index[w] = static_cast<size_t>(i);
        present = true;
        ++found;
        break;
      }
    }
    if (!present) {
      return Status::InvalidArgument("missing attribute '" + name + "': arg_spec " +
                                     spec.ToString() + " names it but the call does not pass it");
    }
  }
  if (found == static_cast<size_t>(attrs.size)) return Status();
  // Some frame attribute matched nothing: find it to name it.
  for (int64_t i = 0; i < attrs.size; ++i) {
    std::string name(attrs.names[i]->ptr, attrs.names[i]->len);
    bool named = false;
    for (const std::string& w : wanted) named = named || w == name;
    if (!named) {
      return Status::InvalidArgument("unexpected attribute '" + name + "': arg_spec " +
                                     spec.ToString() + " does not name it; add \"attrs." + name +
                                     "\" to arg_spec or drop it from the call");
    }
  }
  return Status::InvalidArgument("the call passes an attribute more than once");
}

Status DecodeAttr(const std::string& name, XLA_FFI_AttrType type, const void* value,
                  tvm::ffi::Any* out) {
  switch (type) {
    case XLA_FFI_AttrType_SCALAR: {
      const auto* scalar = static_cast<const XLA_FFI_Scalar*>(value);
      return DecodeElement(name, scalar->dtype, scalar->value, 0, out);
    }
    case XLA_FFI_AttrType_STRING: {
      const auto* span = static_cast<const XLA_FFI_ByteSpan*>(value);
      *out = tvm::ffi::String(span->ptr, span->len);
      return Status();
    }
    case XLA_FFI_AttrType_ARRAY: {
      const auto* array = static_cast<const XLA_FFI_Array*>(value);
      tvm::ffi::Array<tvm::ffi::Any> elements;
      elements.reserve(static_cast<int64_t>(array->size));
      for (size_t i = 0; i < array->size; ++i) {
        tvm::ffi::Any element;
        Status status = DecodeElement(name, array->dtype, array->data, i, &element);
        if (!status.ok()) return status;
        elements.push_back(element);
      }
      *out = std::move(elements);
      return Status();
    }
    case XLA_FFI_AttrType_DICTIONARY:
      return DecodeDictionary(name, *static_cast<const XLA_FFI_Attrs*>(value), out);
  }
  return Status::InvalidArgument("attribute '" + name + "' has XLA attribute kind " +
                                 std::to_string(type) + ", which is not supported");
}

}  // namespace jax_tvm_ffi

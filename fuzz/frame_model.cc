/*!
 * \file frame_model.cc
 * \brief The independent model of buffer types and attribute decoding (see frame_model.h).
 */
#include "frame_model.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace jax_tvm_ffi {
namespace fuzz {
namespace {

// XLA_FFI_DataType codes, spelled out so that the model does not share the core's table.
enum Code : int64_t {
  kPred = 1,
  kS8 = 2,
  kS16 = 3,
  kS32 = 4,
  kS64 = 5,
  kU8 = 6,
  kU16 = 7,
  kU32 = 8,
  kU64 = 9,
  kF16 = 10,
  kF32 = 11,
  kF64 = 12,
  kC64 = 15,
  kBF16 = 16,
  kToken = 17,
  kC128 = 18,
  kF8E5M2 = 19,
  kF8E4M3FN = 20,
  kS4 = 21,
  kU4 = 22,
  kF8E4M3B11FNUZ = 23,
  kF8E5M2FNUZ = 24,
  kF8E4M3FNUZ = 25,
  kS2 = 26,
  kU2 = 27,
  kF8E4M3 = 28,
  kF8E3M4 = 29,
  kS1 = 30,
  kU1 = 31,
  kF4E2M1FN = 32,
  kF8E8M0FNU = 33,
};

ModelType Valid(uint8_t code, uint8_t bits, uint16_t lanes = 1, bool halve = false) {
  ModelType type;
  type.valid = true;
  type.dtype = DLDataType{code, bits, lanes};
  type.halve_last_dim = halve;
  return type;
}

template <typename T>
T Read(const uint8_t* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

// IEEE half to double by rebuilding the bits of a float (the core scales with ldexp instead).
double HalfBitsToDouble(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    const double magnitude = static_cast<double>(mantissa) / (1 << 24);
    return sign ? -magnitude : magnitude;
  }
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

}  // namespace

ModelType ModelBufferType(int64_t code) {
  switch (code) {
    case kPred:
      return Valid(kDLBool, 8);
    case kS1:
      return Valid(kDLInt, 1);
    case kS2:
      return Valid(kDLInt, 2);
    case kS4:
      return Valid(kDLInt, 4);
    case kS8:
      return Valid(kDLInt, 8);
    case kS16:
      return Valid(kDLInt, 16);
    case kS32:
      return Valid(kDLInt, 32);
    case kS64:
      return Valid(kDLInt, 64);
    case kU1:
      return Valid(kDLUInt, 1);
    case kU2:
      return Valid(kDLUInt, 2);
    case kU4:
      return Valid(kDLUInt, 4);
    case kU8:
      return Valid(kDLUInt, 8);
    case kU16:
      return Valid(kDLUInt, 16);
    case kU32:
      return Valid(kDLUInt, 32);
    case kU64:
      return Valid(kDLUInt, 64);
    case kF16:
      return Valid(kDLFloat, 16);
    case kBF16:
      return Valid(kDLBfloat, 16);
    case kF32:
      return Valid(kDLFloat, 32);
    case kF64:
      return Valid(kDLFloat, 64);
    case kC64:
      return Valid(kDLComplex, 64);
    case kC128:
      return Valid(kDLComplex, 128);
    case kF8E5M2:
      return Valid(kDLFloat8_e5m2, 8);
    case kF8E4M3:
      return Valid(kDLFloat8_e4m3, 8);
    case kF8E4M3FN:
      return Valid(kDLFloat8_e4m3fn, 8);
    case kF8E4M3B11FNUZ:
      return Valid(kDLFloat8_e4m3b11fnuz, 8);
    case kF8E5M2FNUZ:
      return Valid(kDLFloat8_e5m2fnuz, 8);
    case kF8E4M3FNUZ:
      return Valid(kDLFloat8_e4m3fnuz, 8);
    case kF8E3M4:
      return Valid(kDLFloat8_e3m4, 8);
    case kF8E8M0FNU:
      return Valid(kDLFloat8_e8m0fnu, 8);
    case kF4E2M1FN:
      return Valid(kDLFloat4_e2m1fn, 4, 2, /*halve=*/true);
    case kToken: {
      ModelType token;
      token.token = true;
      return token;
    }
    default:
      return ModelType{};
  }
}

bool ModelShape(const ModelType& type, const std::vector<int64_t>& dims,
                std::vector<int64_t>* shape) {
  *shape = dims;
  if (!type.halve_last_dim || dims.empty()) return true;
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < dims.size(); ++i) rows *= dims[i];
  if (dims.back() % 2 != 0 && rows > 1) return false;
  shape->back() = (dims.back() + 1) / 2;
  return true;
}

size_t ModelByteSize(const ModelType& type, const std::vector<int64_t>& shape) {
  size_t elements = 1;
  for (int64_t dim : shape) elements *= static_cast<size_t>(dim);
  const size_t bits = elements * type.dtype.bits * type.dtype.lanes;
  return (bits + 7) / 8;
}

size_t AttrElementSize(int64_t code) {
  switch (code) {
    case kPred:
    case kS8:
    case kU8:
      return 1;
    case kS16:
    case kU16:
    case kF16:
    case kBF16:
      return 2;
    case kS32:
    case kU32:
    case kF32:
      return 4;
    default:
      return 8;
  }
}

bool ModelDecodeElement(int64_t code, const uint8_t* element, ModelValue* out) {
  out->kind = ModelValue::kInt;
  switch (code) {
    case kPred:
      out->kind = ModelValue::kBool;
      out->boolean = element[0] != 0;
      return true;
    case kS8:
      out->integer = Read<int8_t>(element);
      return true;
    case kS16:
      out->integer = Read<int16_t>(element);
      return true;
    case kS32:
      out->integer = Read<int32_t>(element);
      return true;
    case kS64:
      out->integer = Read<int64_t>(element);
      return true;
    case kU8:
      out->integer = Read<uint8_t>(element);
      return true;
    case kU16:
      out->integer = Read<uint16_t>(element);
      return true;
    case kU32:
      out->integer = Read<uint32_t>(element);
      return true;
    case kU64: {
      const uint64_t value = Read<uint64_t>(element);
      if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      out->integer = static_cast<int64_t>(value);
      return true;
    }
    case kF16:
      out->kind = ModelValue::kFloat;
      out->real = HalfBitsToDouble(Read<uint16_t>(element));
      return true;
    case kBF16: {
      out->kind = ModelValue::kFloat;
      const uint32_t bits = static_cast<uint32_t>(Read<uint16_t>(element)) << 16;
      out->real = Read<float>(reinterpret_cast<const uint8_t*>(&bits));
      return true;
    }
    case kF32:
      out->kind = ModelValue::kFloat;
      out->real = Read<float>(element);
      return true;
    case kF64:
      out->kind = ModelValue::kFloat;
      out->real = Read<double>(element);
      return true;
    default:
      return false;
  }
}

ModelScratch ModelScratchRequest(DLDataType dtype, const std::vector<int64_t>& shape) {
  using Wide = unsigned __int128;
  ModelScratch model;
  const Wide bits = Wide{dtype.bits} * dtype.lanes;
  if (bits == 0) {
    model.verdict = ModelScratch::kZeroBits;
    model.message = "the dtype has zero bits";
    return model;
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      model.verdict = ModelScratch::kNegativeDim;
      model.message = "dimension " + std::to_string(i) + " is " + std::to_string(shape[i]);
      return model;
    }
  }
  // Elements in 128 bits, saturated at 2^100: exact below it, and anything near it is far past
  // the limit. Any zero makes the tensor empty.
  constexpr Wide kSaturated = Wide{1} << 100;
  Wide elements = 1;
  for (int64_t dim : shape) {
    if (dim == 0) return model;  // Served, 0 bytes.
  }
  for (int64_t dim : shape) {
    elements = elements > kSaturated / static_cast<Wide>(dim) ? kSaturated
                                                              : elements * static_cast<Wide>(dim);
  }
  const Wide total_bits = elements >= kSaturated ? kSaturated * 8 : elements * bits;
  model.true_bytes = (total_bits + 7) / 8;
  if (model.true_bytes <= kModelMaxScratchBytes) {
    model.bytes = static_cast<uint64_t>(model.true_bytes);
    return model;
  }
  model.verdict = ModelScratch::kTooLarge;
  auto decimal = [](Wide value) {
    std::string digits;
    do {
      digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
      value /= 10;
    } while (value != 0);
    return digits;
  };
  model.message = elements > std::numeric_limits<uint64_t>::max()
                      ? "is too large: more than 2^64 elements"
                      : "is too large: " + decimal(elements) + " elements, " +
                            decimal(model.true_bytes) + " bytes";
  return model;
}

}  // namespace fuzz
}  // namespace jax_tvm_ffi

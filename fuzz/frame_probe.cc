/*!
 * \file frame_probe.cc
 * \brief The function every fuzzed target is registered with (see frame_probe.h).
 */
#include "frame_probe.h"

#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/string.h>

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "jax_tvm_ffi/scratch.h"

namespace jax_tvm_ffi {
namespace fuzz {
namespace {

using tvm::ffi::AnyView;

Call* current = nullptr;

std::string CompareValue(const AnyView& got, const ModelValue& want, const std::string& where) {
  const int32_t type = got.type_index();
  switch (want.kind) {
    case ModelValue::kBool:
      if (type != TVMFFITypeIndex::kTVMFFIBool || got.cast<bool>() != want.boolean) {
        return where + ": expected bool " + std::to_string(want.boolean);
      }
      return "";
    case ModelValue::kInt:
      if (type != TVMFFITypeIndex::kTVMFFIInt || got.cast<int64_t>() != want.integer) {
        return where + ": expected int " + std::to_string(want.integer);
      }
      return "";
    case ModelValue::kFloat: {
      if (type != TVMFFITypeIndex::kTVMFFIFloat) return where + ": expected a float";
      const double value = got.cast<double>();
      const bool same = (std::isnan(value) && std::isnan(want.real)) ||
                        std::memcmp(&value, &want.real, sizeof(double)) == 0;
      return same ? "" : where + ": expected float " + std::to_string(want.real);
    }
    case ModelValue::kString: {
      if (type != TVMFFITypeIndex::kTVMFFISmallStr && type != TVMFFITypeIndex::kTVMFFIStr) {
        return where + ": expected a string";
      }
      tvm::ffi::String value = got.cast<tvm::ffi::String>();
      return std::string(value.data(), value.size()) == want.string
                 ? ""
                 : where + ": the string differs";
    }
    case ModelValue::kArray: {
      if (type != TVMFFITypeIndex::kTVMFFIArray) return where + ": expected an array";
      auto array = got.cast<tvm::ffi::Array<tvm::ffi::Any>>();
      if (array.size() != want.elements.size()) return where + ": the array size differs";
      for (size_t i = 0; i < want.elements.size(); ++i) {
        const tvm::ffi::Any element = array[i];
        std::string problem =
            CompareValue(AnyView(element), want.elements[i], where + "[" + std::to_string(i) + "]");
        if (!problem.empty()) return problem;
      }
      return "";
    }
    case ModelValue::kMap: {
      if (type != TVMFFITypeIndex::kTVMFFIMap) return where + ": expected a map";
      auto map = got.cast<tvm::ffi::Map<tvm::ffi::String, tvm::ffi::Any>>();
      if (map.size() != want.entries.size()) return where + ": the map size differs";
      for (const auto& [key, value] : want.entries) {
        auto found = map.find(tvm::ffi::String(key));
        if (found == map.end()) return where + ": the map lacks '" + key + "'";
        std::string problem = CompareValue(AnyView((*found).second), value, where + "." + key);
        if (!problem.empty()) return problem;
      }
      return "";
    }
  }
  return where + ": unknown model kind";
}

std::string CompareTensor(const Call& call, const AnyView& got, const Expected& want,
                          const std::string& where) {
  const DLTensor* tensor = nullptr;
  if (call.owned) {
    if (got.type_index() != TVMFFITypeIndex::kTVMFFITensor) return where + ": not an owned tensor";
    tensor = got.cast<tvm::ffi::Tensor>().GetDLTensorPtr();
  } else {
    if (got.type_index() != TVMFFITypeIndex::kTVMFFIDLTensorPtr) return where + ": not a view";
    tensor = got.cast<DLTensor*>();
  }
  const Buffer& buffer = *want.buffer;
  const DLDataType& dtype = buffer.type.dtype;
  if (tensor->dtype.code != dtype.code || tensor->dtype.bits != dtype.bits ||
      tensor->dtype.lanes != dtype.lanes) {
    return where + ": wrong dtype for XLA code " + std::to_string(buffer.code);
  }
  if (tensor->device.device_type != call.device.device_type ||
      tensor->device.device_id != call.device.device_id) {
    return where + ": wrong device";
  }
  if (tensor->ndim != static_cast<int>(buffer.shape.size())) return where + ": wrong rank";
  if (tensor->byte_offset != 0) return where + ": non-zero byte offset";
  if (tensor->strides == nullptr && !call.owned) return where + ": null strides";
  int64_t stride = 1;
  for (int i = tensor->ndim - 1; i >= 0; --i) {
    if (tensor->shape[i] != buffer.shape[i]) return where + ": wrong shape";
    if (tensor->strides != nullptr && tensor->strides[i] != stride) return where + ": strides";
    stride *= buffer.shape[i];
  }
  const void* xla_data = buffer.data.data();
  if (call.owned && call.host) {
    if (tensor->data == xla_data) return where + ": an owned CPU tensor points into XLA memory";
    if (!want.is_result && buffer.bytes > 0 &&
        std::memcmp(tensor->data, xla_data, buffer.bytes) != 0) {
      return where + ": the private copy differs from the argument";
    }
  } else if (tensor->data != xla_data) {
    return where + ": the view does not point at XLA's buffer";
  }
  return "";
}

std::string DescribeRequest(const ScratchRequest& request) {
  std::string text = "scratch request (code " + std::to_string(request.dtype.code) + ", " +
                     std::to_string(request.dtype.bits) + " bits, " +
                     std::to_string(request.dtype.lanes) + " lanes)[";
  for (size_t i = 0; i < request.shape.size(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(request.shape[i]);
  }
  return text + "]";
}

// Makes one request and checks the bridge's answer against the model's: a tensor of the
// request's dtype and shape whose every promised byte can be written (`hold` fills it), or a
// ValueError naming the problem.
template <typename Hold>
void CheckScratchRequest(Call& call, const ScratchRequest& request, Hold& hold) {
  const ModelScratch& model = request.model;
  tvm::ffi::Tensor tensor;
  try {
    tensor = tvm::ffi::Tensor::FromEnvAlloc(
        TVMFFIEnvTensorAlloc, tvm::ffi::ShapeView(request.shape.data(), request.shape.size()),
        request.dtype, DLDevice{kDLCPU, 0});
  } catch (const tvm::ffi::Error& error) {
    if (model.verdict == ModelScratch::kServed) {
      Violation(call, DescribeRequest(request) + " of " + std::to_string(model.bytes) +
                          " bytes was refused: " + error.message());
    } else if (error.kind() != "ValueError" ||
               error.message().find("invalid scratch tensor: ") == std::string::npos ||
               error.message().find(model.message) == std::string::npos) {
      Violation(call, DescribeRequest(request) + " was refused with " + error.kind() + ": " +
                          error.message() + "; expected a ValueError containing \"" +
                          model.message + "\"");
    }
    return;
  }
  if (model.verdict != ModelScratch::kServed) {
    Violation(call,
              DescribeRequest(request) + " was served; the model refuses it: " + model.message);
    return;
  }
  const DLTensor* served = tensor.GetDLTensorPtr();
  bool same = served->ndim == static_cast<int>(request.shape.size()) &&
              served->dtype.code == request.dtype.code &&
              served->dtype.bits == request.dtype.bits &&
              served->dtype.lanes == request.dtype.lanes;
  for (int i = 0; same && i < served->ndim; ++i) same = served->shape[i] == request.shape[i];
  if (!same) Violation(call, DescribeRequest(request) + " was served with another dtype or shape");
  hold(std::move(tensor), static_cast<size_t>(model.bytes));
}

void OnCall(tvm::ffi::PackedArgs args, tvm::ffi::Any* ret) {
  Call& call = *current;
  ++call.calls;
  const std::string problem = CheckArguments(call, args);
  if (!problem.empty()) {
    // Writing the results would trust what did not match.
    Violation(call, problem);
    return;
  }
  if (!call.host &&
      TVMFFIEnvGetStream(call.device.device_type, call.device.device_id) != call.stream) {
    Violation(call, "XLA's stream is not installed during the call");
  }
  size_t result = 0;
  for (size_t i = 0; i < call.args.size(); ++i) {
    const Expected& want = call.args[i];
    if (want.kind != Expected::kTensor) continue;
    if (call.owned && call.kept == nullptr &&
        (call.action == Action::kKeep || call.action == Action::kKeepAndReturn)) {
      call.kept = args[i];
      call.kept_index = i;
    }
    if (!want.is_result || want.buffer->bytes == 0) continue;
    const DLTensor* tensor =
        call.owned ? args[i].cast<tvm::ffi::Tensor>().GetDLTensorPtr() : args[i].cast<DLTensor*>();
    auto* data = static_cast<uint8_t*>(tensor->data);
    for (size_t b = 0; b < want.buffer->bytes; ++b) data[b] = ResultPattern(result, b);
    ++result;
  }
  // Scratch memory the bridge serves: each tensor filled, then checked once all are allocated,
  // so that overlapping blocks (or blocks shorter than promised) show; all released by the
  // bridge's accounting at the call's end.
  std::vector<std::pair<tvm::ffi::Tensor, size_t>> scratch;
  auto hold = [&](tvm::ffi::Tensor tensor, size_t bytes) {
    if (reinterpret_cast<uintptr_t>(tensor.data_ptr()) % kCpuScratchAlignment != 0) {
      Violation(call, "a scratch tensor is not aligned");
    }
    std::memset(tensor.data_ptr(), static_cast<int>(scratch.size() + 1), bytes);
    scratch.emplace_back(std::move(tensor), bytes);
  };
  for (size_t i = 0; i < call.scratch_tensors; ++i) {
    const int64_t bytes = static_cast<int64_t>(call.scratch_bytes + 37 * i);
    hold(tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, {bytes}, DLDataType{kDLUInt, 8, 1},
                                        DLDevice{kDLCPU, 0}),
         static_cast<size_t>(bytes));
  }
  if (call.scratch_requests != nullptr) {
    for (const ScratchRequest& request : *call.scratch_requests)
      CheckScratchRequest(call, request, hold);
  }
  for (size_t i = 0; i < scratch.size(); ++i) {
    const auto* data = static_cast<const uint8_t*>(scratch[i].first.data_ptr());
    for (size_t b = 0; b < scratch[i].second; ++b) {
      if (data[b] != static_cast<uint8_t>(i + 1)) {
        Violation(call, "scratch tensors overlap");
        break;
      }
    }
  }
  if (call.action == Action::kThrow) throw tvm::ffi::Error(call.throw_kind, "fuzz failure", "");
  if (call.action == Action::kReturnValue || call.action == Action::kKeepAndReturn) {
    *ret = int64_t{7};
  }
}

}  // namespace

std::string CheckArguments(const Call& call, tvm::ffi::PackedArgs args) {
  if (args.size() != static_cast<int>(call.args.size())) {
    return "the function got " + std::to_string(args.size()) + " arguments, expected " +
           std::to_string(call.args.size());
  }
  for (size_t i = 0; i < call.args.size(); ++i) {
    const Expected& want = call.args[i];
    const std::string where = "argument " + std::to_string(i);
    std::string problem;
    switch (want.kind) {
      case Expected::kTensor:
        problem = CompareTensor(call, args[i], want, where);
        break;
      case Expected::kValue:
        problem = CompareValue(args[i], want.value, where);
        break;
      case Expected::kInteger:
        if (args[i].type_index() != TVMFFITypeIndex::kTVMFFIInt ||
            args[i].cast<int64_t>() != want.integer) {
          problem = where + ": expected the integer " + std::to_string(want.integer);
        }
        break;
      case Expected::kNone:
        if (args[i].type_index() != TVMFFITypeIndex::kTVMFFINone) {
          problem =
              where + ": expected None, got type index " + std::to_string(args[i].type_index());
        }
        break;
    }
    if (!problem.empty()) return problem;
  }
  return "";
}

const tvm::ffi::Function& Probe() {
  static const tvm::ffi::Function probe = tvm::ffi::Function::FromPacked(&OnCall);
  return probe;
}

void SetCurrentCall(Call* call) { current = call; }

void Violation(Call& call, const std::string& what) {
  if (call.violation.empty()) call.violation = what;
}

uint8_t ResultPattern(size_t result, size_t i) {
  return static_cast<uint8_t>(0x5a + 3 * result + i);
}

}  // namespace fuzz
}  // namespace jax_tvm_ffi

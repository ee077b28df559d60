/*!
 * \file frame_case.cc
 * \brief Running one call-frame fuzz case and judging it against the model (see frame_case.h).
 */
#include "frame_case.h"

#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <xla/ffi/api/c_api.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "base/error.h"
#include "call/call_site_plan.h"
#include "call/fast_path.h"
#include "call/general_path.h"
#include "call/stream_scope.h"
#include "fake_xla_api.h"
#include "frame_input.h"
#include "frame_model.h"
#include "frame_probe.h"
#include "jax_tvm_ffi/scratch.h"
#include "jax_tvm_ffi/target.h"
#include "registration/binding.h"
#include "spec_case.h"

namespace jax_tvm_ffi {
namespace fuzz {
namespace {

XLA_FFI_Error_Code CodeForKind(const std::string& kind) {
  if (kind == "ValueError" || kind == "TypeError" || kind == "AttributeError") {
    return XLA_FFI_Error_Code_INVALID_ARGUMENT;
  }
  if (kind == "KeyError" || kind == "IndexError") return XLA_FFI_Error_Code_OUT_OF_RANGE;
  if (kind == "NotImplementedError") return XLA_FFI_Error_Code_UNIMPLEMENTED;
  if (kind == "MemoryError") return XLA_FFI_Error_Code_RESOURCE_EXHAUSTED;
  if (kind == "InternalError") return XLA_FFI_Error_Code_INTERNAL;
  return XLA_FFI_Error_Code_UNKNOWN;
}

// Registrations live as long as the process, so a long fuzzing run stops making new ones here.
constexpr size_t kMaxHandlers = 100000;

// One handler per distinct registration, reused by later cases with the same one; null once
// kMaxHandlers registrations exist and this one is new.
XLA_FFI_Handler* HandlerFor(const std::vector<std::string>& items, const ArgSpec& spec,
                            const TargetOptions& options, std::string* name) {
  static std::map<std::string, XLA_FFI_Handler*>* handlers =
      new std::map<std::string, XLA_FFI_Handler*>();
  *name = "fuzz." + std::to_string(static_cast<int>(options.platform)) +
          (options.pass_owned_tensor ? "o" : "v") + (options.allow_cuda_graph ? "g" : "n");
  for (const std::string& item : items) *name += "." + std::to_string(item.size()) + ":" + item;
  auto found = handlers->find(*name);
  if (found != handlers->end()) return found->second;
  if (handlers->size() >= kMaxHandlers) return nullptr;
  XLA_FFI_Handler* handler = RegisterTarget(*name, Probe(), spec, options);
  handlers->emplace(*name, handler);
  return handler;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// What the model says the handler must do with a case.
struct Verdict {
  bool buffers_ok = true;
  bool placement_ok = true;
  bool duplicate = false;  // The frame passes an attribute name twice.
  std::vector<std::string> missing;
  std::vector<std::string> extra;
  std::vector<std::string> undecodable;
  // The items of which the counts error must name one (spec_case.h); empty when counts pass.
  std::vector<std::string> count_problems;
  // What the function's slots exercise, should it be called.
  FrameCoverage coverage;
  bool reaches_function = false;
  bool keeps = false;    // The function keeps an owned tensor.
  bool returns = false;  // The function returns a value.
};

// Applies the model to a case; fills `call` with what the function must receive.
Verdict Model(FrameInput& input, Call* call) {
  Verdict verdict;
  for (const Buffer& buffer : input.args) {
    verdict.buffers_ok &= !buffer.raw && (buffer.type.token || buffer.has_view);
  }
  for (const Buffer& buffer : input.rets) {
    verdict.buffers_ok &= buffer.type.token || buffer.has_view;
  }
  const std::vector<std::string>& names = input.spec.sorted_attr_names();
  const std::set<std::string> wanted(names.begin(), names.end());
  std::map<std::string, const Attr*> passed;
  for (const Attr& attr : input.attrs) {
    verdict.duplicate |= !passed.emplace(attr.name, &attr).second;
  }
  for (const std::string& name : wanted) {
    if (!passed.count(name)) verdict.missing.push_back(name);
  }
  for (const auto& [name, attr] : passed) {
    if (!wanted.count(name)) verdict.extra.push_back(name);
  }
  const bool match_ok = verdict.missing.empty() && verdict.extra.empty() && !verdict.duplicate;
  std::map<std::string, ModelValue> values;
  if (match_ok) {
    for (const std::string& name : wanted) {
      if (!ModelDecodeAttr(*passed[name], &values[name])) verdict.undecodable.push_back(name);
    }
  }
  // Buffers named by index count the list's buffers without its tokens, which carry no data.
  std::vector<Buffer*> inputs;
  std::vector<Buffer*> outputs;
  for (Buffer& buffer : input.args) {
    if (!buffer.raw && !buffer.type.token) inputs.push_back(&buffer);
  }
  for (Buffer& buffer : input.rets) {
    if (!buffer.type.token) outputs.push_back(&buffer);
  }
  if (verdict.buffers_ok) {
    verdict.count_problems = ModelCountProblems(input.items, inputs.size(), outputs.size());
  }
  const bool host = input.options.platform == Platform::kCpu;
  verdict.placement_ok =
      host || (!input.context.fail_stream_get && !input.context.fail_device_ordinal_get);
  verdict.reaches_function = verdict.placement_ok && verdict.buffers_ok &&
                             verdict.count_problems.empty() && match_ok &&
                             verdict.undecodable.empty();

  call->owned = input.options.pass_owned_tensor;
  call->host = host;
  call->action = input.action;
  call->throw_kind = input.throw_kind;
  // Scratch requests vary with the case without widening its encoding.
  size_t buffer_bytes = 0;
  for (const Buffer& buffer : input.args) buffer_bytes += buffer.bytes;
  call->scratch_tensors = (input.args.size() + 2 * input.rets.size()) % 4;
  call->scratch_bytes = buffer_bytes % 5000;
  call->scratch_requests = &input.scratch;
  call->device = DLDevice{host                                        ? kDLCPU
                          : input.options.platform == Platform::kCuda ? kDLCUDA
                                                                      : kDLROCM,
                          host ? 0 : input.context.device_ordinal};
  call->stream = host ? nullptr : input.context.stream;
  // The model's items, not the core's: what each slot receives follows from the item's text.
  std::vector<ModelItem> items;
  std::set<size_t> named_inputs;
  std::set<size_t> named_outputs;
  for (const std::string& text : input.items) {
    items.push_back(ModelParseItem(text));
    if (items.back().kind == ModelItem::kArg) named_inputs.insert(items.back().index);
    if (items.back().kind == ModelItem::kRet) named_outputs.insert(items.back().index);
  }
  size_t tensors = 0;
  auto tensor = [&](Buffer* buffer, bool is_result, bool optional) {
    Expected want;
    const bool empty =
        std::find(buffer->shape.begin(), buffer->shape.end(), 0) != buffer->shape.end();
    if (optional && empty) {
      want.kind = Expected::kNone;
      verdict.coverage.optional_none = true;
    } else {
      want.kind = Expected::kTensor;
      want.buffer = buffer;
      want.is_result = is_result;
      verdict.coverage.optional_tensor |= optional;
      ++tensors;
    }
    call->args.push_back(want);
  };
  for (const ModelItem& item : items) {
    Expected want;
    switch (item.kind) {
      case ModelItem::kArgs:
      case ModelItem::kRets: {
        const bool is_result = item.kind == ModelItem::kRets;
        const std::vector<Buffer*>& list = is_result ? outputs : inputs;
        const std::set<size_t>& named = is_result ? named_outputs : named_inputs;
        for (size_t i = 0; i < list.size(); ++i) {
          if (!named.count(i)) tensor(list[i], is_result, /*optional=*/false);
        }
        continue;
      }
      case ModelItem::kArg:
      case ModelItem::kRet: {
        const bool is_result = item.kind == ModelItem::kRet;
        const std::vector<Buffer*>& list = is_result ? outputs : inputs;
        // Past the count the call is refused: the slot is never checked.
        if (item.index >= list.size()) break;
        verdict.coverage.index_at_last |= item.index + 1 == list.size();
        tensor(list[item.index], is_result, item.optional);
        continue;
      }
      case ModelItem::kNone:
        want.kind = Expected::kNone;
        verdict.coverage.none_item = true;
        break;
      case ModelItem::kAttr:
        want.kind = Expected::kValue;
        want.value = values[item.attr_name];
        break;
      case ModelItem::kStream:
        want.integer = static_cast<int64_t>(reinterpret_cast<intptr_t>(call->stream));
        break;
      case ModelItem::kDeviceId:
        want.integer = call->device.device_id;
        break;
      case ModelItem::kInvalid:
        break;  // The spec parsed: the model refusing it fails the case (RunFrameCase).
    }
    call->args.push_back(want);
  }
  // The function keeps its first tensor (frame_probe.cc). That fails the call if it is a result,
  // or on GPUs; a kept CPU argument is a harmless private copy (owned_tensor.h).
  const auto first_tensor =
      std::find_if(call->args.begin(), call->args.end(),
                   [](const Expected& e) { return e.kind == Expected::kTensor; });
  verdict.keeps = call->owned && tensors > 0 &&
                  (input.action == Action::kKeep || input.action == Action::kKeepAndReturn) &&
                  (!host || first_tensor->is_result);
  verdict.returns = input.action == Action::kReturnValue || input.action == Action::kKeepAndReturn;
  return verdict;
}

// What the handler did.
struct Outcome {
  bool failed = false;
  testing::ErrorInfo error{XLA_FFI_Error_Code_OK, ""};
  XLA_FFI_Metadata metadata = testing::EmptyMetadata();
};

// Runs the case's frame through the handler XLA would hold, checking the stream scope (GPU) and
// that no XLA error object leaks.
template <typename Handler>
Outcome Run(FrameInput& input, const Handler& handler, Call* call) {
  testing::CallFrameBuilder builder;
  BuildFrame(input, &builder);
  void* const sentinel = reinterpret_cast<void*>(uintptr_t{0xfeed0});
  const DLDevice device = call->device;
  if (!call->host) TVMFFIEnvSetStream(device.device_type, device.device_id, sentinel, nullptr);
  const int live_errors = testing::LiveErrorCount();
  Outcome outcome;
  SetCurrentCall(call);
  XLA_FFI_Error* error = nullptr;
  if (input.stage == 0) {
    error = handler(builder.BuildMetadataQuery(&outcome.metadata));
  } else {
    builder.set_stage(input.stage == 1   ? XLA_FFI_ExecutionStage_INSTANTIATE
                      : input.stage == 2 ? XLA_FFI_ExecutionStage_PREPARE
                      : input.stage == 3 ? XLA_FFI_ExecutionStage_INITIALIZE
                                         : XLA_FFI_ExecutionStage_EXECUTE);
    error = handler(builder.Build(input.context.get()));
  }
  SetCurrentCall(nullptr);
  outcome.failed = error != nullptr;
  if (error != nullptr) outcome.error = testing::TakeError(error);
  if (!call->host) {
    if (TVMFFIEnvGetStream(device.device_type, device.device_id) != sentinel) {
      Violation(*call, "the environment stream was not restored after the call");
    }
    TVMFFIEnvSetStream(device.device_type, device.device_id, nullptr, nullptr);
  }
  if (testing::LiveErrorCount() != live_errors) Violation(*call, "an XLA error object leaked");
  return outcome;
}

// Checks a failure: its code, a text it must contain, and that it names the target.
std::string ExpectFailure(const Outcome& outcome, const std::string& target,
                          XLA_FFI_Error_Code code, const std::string& part) {
  const std::string& message = outcome.error.message;
  if (!outcome.failed) return "the call succeeded; expected a failure containing \"" + part + "\"";
  if (outcome.error.code != code) {
    return "error code " + std::to_string(outcome.error.code) + " instead of " +
           std::to_string(code) + ": " + message;
  }
  if (!Contains(message, part)) return "the error lacks \"" + part + "\": " + message;
  if (!Contains(message, "jax_tvm_ffi target '" + target + "'")) {
    return "the error does not name the target: " + message;
  }
  return "";
}

// Checks the error of a frame refused before the call: it names a faulty attribute.
std::string CheckRefusal(const Verdict& verdict, const Outcome& outcome,
                         const std::string& target) {
  std::string problem = ExpectFailure(outcome, target, XLA_FFI_Error_Code_INVALID_ARGUMENT, "");
  if (!problem.empty() || !verdict.buffers_ok) return problem;
  const std::string& message = outcome.error.message;
  auto names_one = [&](const std::vector<std::string>& attrs, const std::string& before,
                       const std::string& after) {
    for (const std::string& attr : attrs) {
      if (Contains(message, before + attr + after)) return true;
    }
    return false;
  };
  if (!verdict.count_problems.empty()) {
    for (const std::string& item : verdict.count_problems) {
      if (Contains(message, "\"" + item + "\"")) return "";
    }
    // Several problems at once: naming an attribute's is as good.
    const bool attrs_ok = verdict.missing.empty() && verdict.extra.empty() && !verdict.duplicate &&
                          verdict.undecodable.empty();
    if (attrs_ok) return "the error names no arg_spec item of the buffer counts: " + message;
  }
  if (!verdict.missing.empty()) {
    return names_one(verdict.missing, "missing attribute '", "'")
               ? ""
               : "the error names no missing attribute: " + message;
  }
  if (!verdict.extra.empty()) {
    return names_one(verdict.extra, "unexpected attribute '", "'")
               ? ""
               : "the error names no unexpected attribute: " + message;
  }
  if (verdict.duplicate) {
    return ExpectFailure(outcome, target, XLA_FFI_Error_Code_INVALID_ARGUMENT, "more than once");
  }
  return names_one(verdict.undecodable, "attribute '", "")
             ? ""
             : "the error names no undecodable attribute: " + message;
}

// Checks a tensor the function kept: a private copy safe to read on CPU, emptied on GPUs.
std::string CheckKeptTensor(const Call& call) {
  const DLTensor* kept = call.kept.cast<tvm::ffi::Tensor>().GetDLTensorPtr();
  const Buffer& buffer = *call.args[call.kept_index].buffer;
  if (call.host) {
    if (kept->data == buffer.data.data()) return "a kept CPU tensor points into XLA memory";
    std::vector<uint8_t> copy(buffer.bytes);  // AddressSanitizer checks every byte read.
    if (buffer.bytes > 0) std::memcpy(copy.data(), kept->data, buffer.bytes);
    if (!call.args[call.kept_index].is_result && buffer.bytes > 0 &&
        std::memcmp(copy.data(), buffer.data.data(), buffer.bytes) != 0) {
      return "a kept CPU argument differs from the argument";
    }
    return "";
  }
  if (kept->data != nullptr) return "a kept GPU tensor still points at XLA's buffer";
  for (int i = 0; i < kept->ndim; ++i) {
    if (kept->shape[i] != 0) return "a kept GPU tensor still has elements";
  }
  return "";
}

// Checks that what the function wrote into its results reached XLA's buffers.
std::string CheckResults(const Call& call) {
  size_t result = 0;
  for (const Expected& want : call.args) {
    if (want.kind != Expected::kTensor || !want.is_result || want.buffer->bytes == 0) continue;
    for (size_t b = 0; b < want.buffer->bytes; ++b) {
      if (want.buffer->data[b] != ResultPattern(result, b)) {
        return "result bytes written by the function did not reach XLA's buffer";
      }
    }
    ++result;
  }
  return "";
}

std::string Judge(const FrameInput& input, const Verdict& verdict, const Call& call,
                  const Outcome& outcome, const std::string& target, FrameOutcome* result) {
  const std::string& message = outcome.error.message;
  if (input.stage == 0) {
    *result = FrameOutcome::kMetadata;
    if (outcome.failed || call.calls != 0) return "the metadata query ran the call: " + message;
    const XLA_FFI_Handler_Traits traits =
        input.options.allow_cuda_graph ? XLA_FFI_HANDLER_TRAITS_COMMAND_BUFFER_COMPATIBLE : 0;
    if (outcome.metadata.traits != traits) return "the metadata query reported the wrong traits";
    if (outcome.metadata.api_version.major_version != XLA_FFI_API_MAJOR ||
        outcome.metadata.api_version.minor_version != XLA_FFI_API_MINOR) {
      return "the metadata query reported the wrong API version";
    }
    return "";
  }
  if (input.stage < 4) {
    *result = FrameOutcome::kOtherStage;
    if (outcome.failed || call.calls != 0) return "a non-execute stage did something: " + message;
    return "";
  }
  if (!verdict.reaches_function) {
    *result = verdict.placement_ok ? FrameOutcome::kFrameRefused : FrameOutcome::kPlacementFailed;
    if (call.calls != 0) return "the function ran although the frame is invalid";
    if (!verdict.placement_ok) {
      return ExpectFailure(outcome, target, XLA_FFI_Error_Code_INTERNAL, "XLA could not provide");
    }
    return CheckRefusal(verdict, outcome, target);
  }
  if (call.calls != 1) return "the function ran " + std::to_string(call.calls) + " times";
  if (call.action == Action::kThrow) {
    *result = FrameOutcome::kFunctionThrew;
    return ExpectFailure(outcome, target, CodeForKind(call.throw_kind),
                         call.throw_kind + ": fuzz failure");
  }
  if (verdict.keeps) {
    *result = FrameOutcome::kTensorKept;
    std::string problem =
        ExpectFailure(outcome, target, XLA_FFI_Error_Code_FAILED_PRECONDITION, "kept a reference");
    return problem.empty() ? CheckKeptTensor(call) : problem;
  }
  if (verdict.returns) {
    *result = FrameOutcome::kValueReturned;
    return ExpectFailure(outcome, target, XLA_FFI_Error_Code_INVALID_ARGUMENT, "returned a value");
  }
  *result = FrameOutcome::kSucceeded;
  if (outcome.failed) return "the call failed: " + message;
  if (call.kept != nullptr) {
    const std::string problem = CheckKeptTensor(call);
    if (!problem.empty()) return problem;
  }
  return CheckResults(call);
}

// Every scratch tensor of the call was counted, with the bytes the model says, and given back.
std::string CheckScratch(const Call& call, const std::string& target, Platform platform) {
  const ScratchUsage usage = GetScratchUsage(target, platform);
  // The probe holds every tensor it gets until its end: the peak is the sum.
  uint64_t allocations = call.scratch_tensors;
  uint64_t bytes = 0;
  for (size_t i = 0; i < call.scratch_tensors; ++i) bytes += call.scratch_bytes + 37 * i;
  for (const ScratchRequest& request : *call.scratch_requests) {
    if (request.model.verdict != ModelScratch::kServed) continue;
    ++allocations;
    bytes += request.model.bytes;
  }
  if (usage.last_call_allocations != allocations) {
    return "the target reports " + std::to_string(usage.last_call_allocations) +
           " scratch allocations for a call that made " + std::to_string(allocations);
  }
  if (usage.last_call_peak_bytes != bytes) {
    return "the target reports a peak of " + std::to_string(usage.last_call_peak_bytes) +
           " scratch bytes for a call that held " + std::to_string(bytes);
  }
  if (usage.outstanding_allocations != 0) return "scratch tensors outstanding after the call";
  return "";
}

// Whether the spec names buffers of a list by index, and has its catch-all.
void IndexUse(const std::vector<std::string>& items, bool* named, bool* catch_all) {
  *named = *catch_all = false;
  for (const std::string& text : items) {
    const ModelItem item = ModelParseItem(text);
    *named |= item.kind == ModelItem::kArg || item.kind == ModelItem::kRet;
    *catch_all |= item.kind == ModelItem::kArgs || item.kind == ModelItem::kRets;
  }
}

// Marks the result buffers the function receives so that results it did not write show.
void ScrambleResults(const Call& call) {
  size_t result = 0;
  for (const Expected& want : call.args) {
    if (want.kind != Expected::kTensor || !want.is_result || want.buffer->bytes == 0) continue;
    for (size_t b = 0; b < want.buffer->bytes; ++b) {
      want.buffer->data[b] = static_cast<uint8_t>(ResultPattern(result, b) ^ 0xff);
    }
    ++result;
  }
}

// The general path on its own, judged like the handler (whose errors name the target).
std::string CheckGeneralPath(FrameInput& input, const Binding& binding) {
  Call call;
  const Verdict verdict = Model(input, &call);
  ScrambleResults(call);
  const Placement placement{call.stream, call.device.device_id};
  auto general = [&](XLA_FFI_CallFrame* frame) -> XLA_FFI_Error* {
    Status status;
    try {
      status = ExecuteGeneral(binding, *frame, placement, nullptr);
    } catch (const tvm::ffi::Error& error) {
      status = Status::Error(XLA_FFI_Error_Code_INTERNAL, error.kind() + ": " + error.message());
    }
    return status.ok() ? nullptr : MakeXlaError(frame->api, binding.name, status);
  };
  const Outcome result = Run(input, general, &call);
  if (!call.violation.empty()) return "general path: " + call.violation;
  FrameOutcome ignored;
  const std::string problem = Judge(input, verdict, call, result, binding.name, &ignored);
  return problem.empty() ? "" : "general path: " + problem;
}

// The straight path on its own: a call it takes is one the model accepts, packed as the model
// says. Whether it takes one is its own choice (the general path serves the rest).
std::string CheckStraightPath(FrameInput& input, const Binding& binding, FrameCoverage* coverage) {
  Call call;
  const Verdict verdict = Model(input, &call);
  testing::CallFrameBuilder builder;
  BuildFrame(input, &builder);
  builder.set_stage(XLA_FFI_ExecutionStage_EXECUTE);
  auto fast = std::make_unique<FastPath>();
  if (!fast->Pack(binding, *builder.Build(input.context.get()), call.device,
                  static_cast<int64_t>(reinterpret_cast<intptr_t>(call.stream)))) {
    return "";
  }
  coverage->straight = true;
  if (!verdict.reaches_function) return "straight path: packed a call the model refuses";
  std::string problem = CheckArguments(
      call, tvm::ffi::PackedArgs(reinterpret_cast<const tvm::ffi::AnyView*>(fast->packed()),
                                 static_cast<int32_t>(fast->num_packed())));
  if (!problem.empty()) return "straight path: " + problem;
  // A call-site plan made from this call packs the same call as the model says too.
  std::unique_ptr<CallSitePlan> plan =
      CallSitePlan::Make(binding, *builder.Build(input.context.get()));
  if (plan == nullptr) return "";
  auto planned = std::make_unique<PlannedCall>();
  if (!plan->Pack(*builder.Build(input.context.get()), call.device.device_id,
                  static_cast<int64_t>(reinterpret_cast<intptr_t>(call.stream)), planned.get())) {
    return "call-site plan: refused the call it was made from";
  }
  problem = CheckArguments(
      call, tvm::ffi::PackedArgs(reinterpret_cast<const tvm::ffi::AnyView*>(planned->packed),
                                 static_cast<int32_t>(plan->num_packed())));
  return problem.empty() ? "" : "call-site plan: " + problem;
}

}  // namespace

std::string RunFrameCase(const uint8_t* data, size_t size, FrameOutcome* outcome,
                         FrameCoverage* coverage) {
  FrameOutcome ignored;
  if (outcome == nullptr) outcome = &ignored;
  FrameCoverage unused;
  if (coverage == nullptr) coverage = &unused;
  *coverage = FrameCoverage{};
  *outcome = FrameOutcome::kSpecRefused;
  FrameInput input = ReadFrameInput(data, size);
  if (!input.spec_valid) return "";
  for (const std::string& item : input.items) {
    if (ModelParseItem(item).kind == ModelItem::kInvalid) {
      return "the spec parsed, but the model refuses its item \"" + item + "\"";
    }
  }
  Call call;
  const Verdict verdict = Model(input, &call);
  std::string target;
  XLA_FFI_Handler* handler = HandlerFor(input.items, input.spec, input.options, &target);
  if (handler == nullptr) return "";
  const Outcome result = Run(input, handler, &call);
  if (!call.violation.empty()) return call.violation;
  std::string problem = Judge(input, verdict, call, result, target, outcome);
  if (!problem.empty()) return problem;
  bool named = false;
  bool catch_all = false;
  IndexUse(input.items, &named, &catch_all);
  if (input.stage >= 4 && verdict.placement_ok && verdict.buffers_ok) {
    for (const std::string& item : verdict.count_problems) {
      const bool past = Contains(result.error.message, "\"" + item + "\" names");
      coverage->index_past |= past;
      coverage->unpassed |= !past && Contains(result.error.message, "(\"" + item + "\")");
    }
  }
  if (call.calls != 0) {
    const FrameCoverage& slots = verdict.coverage;
    coverage->optional_none = slots.optional_none;
    coverage->optional_tensor = slots.optional_tensor;
    coverage->none_item = slots.none_item;
    coverage->index_at_last = slots.index_at_last;
    coverage->index_only = named && !catch_all;
    coverage->index_and_rest = named && catch_all;
    problem = CheckScratch(call, target, input.options.platform);
    if (!problem.empty()) return problem;
  }
  // Borrowed views may take either path: check each on its own. (Owned tensors take only the
  // general path, which the handler's call has just checked.)
  if (input.stage < 4 || !verdict.placement_ok || input.options.pass_owned_tensor) return "";
  const Binding binding(target, Probe(), input.spec, input.options);
  problem = CheckStraightPath(input, binding, coverage);
  return problem.empty() ? CheckGeneralPath(input, binding) : problem;
}

}  // namespace fuzz
}  // namespace jax_tvm_ffi

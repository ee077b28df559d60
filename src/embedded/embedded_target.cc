/*!
 * \file embedded_target.cc
 * \brief The generic targets of embedded kernels (see embedded_target.h).
 */
#include "embedded/embedded_target.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/api_version.h"
#include "base/error.h"
#include "base/predict.h"
#include "base/status.h"
#include "call/attr_decoder.h"
#include "call/call_site_plan.h"
#include "call/handler.h"
#include "embedded/kernel_cache.h"
#include "embedded/payload.h"
#include "registration/binding.h"

namespace jax_tvm_ffi {
namespace {

std::atomic<long> call_sites_alive{0};

/*! \brief What one embedded call site keeps between XLA's stages: its kernel and binding. */
struct CallSite {
  EmbeddedKernel kernel;
  std::optional<Binding> binding;
  /*! \brief The payload's attributes, at the front of the frame's: hidden from the binding. */
  size_t num_payload_attrs = 0;
  /*! \brief The call site's plan, made by its first execution (MakePlan); null until then. */
  std::atomic<const CallSitePlan*> plan{nullptr};
  /*! \brief The first execution found that the site cannot have a plan. */
  std::atomic<bool> no_plan{false};
  std::mutex plan_mutex;
  std::unique_ptr<const CallSitePlan> plan_owner;

  CallSite() { call_sites_alive.fetch_add(1, std::memory_order_relaxed); }
  ~CallSite() { call_sites_alive.fetch_sub(1, std::memory_order_relaxed); }
};

void DeleteCallSite(void* state) { delete static_cast<CallSite*>(state); }

// The XLA type of the state. XLA's state API changed after FFI API 0.1: since then the type
// carries its deleter (XLA_FFI_Type_Register with XLA_FFI_TypeInfo) and the state calls name the
// stage; before, XLA_FFI_TypeId_Register took a name only and XLA_FFI_State_Set took the deleter.
// The headers compiled against decide which this build speaks; a newer XLA keeps accepting the
// older layouts (it tells them apart by struct_size).
#if XLA_FFI_API_MAJOR == 0 && XLA_FFI_API_MINOR < 2
#define JAX_TVM_FFI_STATE_TYPE_HAS_INFO 0
#else
#define JAX_TVM_FFI_STATE_TYPE_HAS_INFO 1
#endif
#if XLA_FFI_API_MAJOR == 0 && XLA_FFI_API_MINOR < 3
#define JAX_TVM_FFI_STATE_HAS_STAGE 0
#else
#define JAX_TVM_FFI_STATE_HAS_STAGE 1
#endif

// The oldest XLA FFI API whose state calls have the layout this build speaks.
constexpr int32_t kStateLayoutMinor =
    JAX_TVM_FFI_STATE_HAS_STAGE ? 3 : (JAX_TVM_FFI_STATE_TYPE_HAS_INFO ? 2 : 1);

// The state type's registration, once per process.
struct StateType {
  std::once_flag once;
  Status status;
};

StateType& TheStateType() {
  static StateType* type = new StateType();
  return *type;
}

// The state type's id, apart from StateType so that executions read it with no guard: written
// once, before the first instantiation's State_Set, which happens before any execution.
XLA_FFI_TypeId state_type_id{0};

Status RegisterStateType(const XLA_FFI_Api* api) {
  StateType& type = TheStateType();
  std::call_once(type.once, [&] {
    static constexpr char kName[] = "jax_tvm_ffi.EmbeddedCallSite";
    XLA_FFI_ByteSpan name{kName, sizeof(kName) - 1};
    XLA_FFI_Error* error = nullptr;
#if JAX_TVM_FFI_STATE_TYPE_HAS_INFO
    static XLA_FFI_TypeInfo info{XLA_FFI_TypeInfo_STRUCT_SIZE, nullptr, &DeleteCallSite};
    XLA_FFI_Type_Register_Args args{XLA_FFI_Type_Register_Args_STRUCT_SIZE, nullptr, name,
                                    &state_type_id, &info};
    error = api->XLA_FFI_Type_Register(&args);
#else
    XLA_FFI_TypeId_Register_Args args{XLA_FFI_TypeId_Register_Args_STRUCT_SIZE, nullptr, name,
                                      &state_type_id};
    error = api->XLA_FFI_TypeId_Register(&args);
#endif
    if (error != nullptr)
      type.status = TakeXlaError(api, error, "register the call-site state type");
  });
  if (!type.status.ok()) return Status::Error(type.status.code(), type.status.message());
  return Status();
}

Status SetState(const XLA_FFI_CallFrame& frame, CallSite* site) {
  XLA_FFI_State_Set_Args args{};
  args.struct_size = XLA_FFI_State_Set_Args_STRUCT_SIZE;
  args.ctx = frame.ctx;
#if JAX_TVM_FFI_STATE_HAS_STAGE
  args.stage = XLA_FFI_ExecutionStage_INSTANTIATE;
#endif
#if !JAX_TVM_FFI_STATE_TYPE_HAS_INFO
  args.deleter = &DeleteCallSite;
#endif
  args.type_id = &state_type_id;
  args.state = site;
  XLA_FFI_Error* error = frame.api->XLA_FFI_State_Set(&args);
  if (error != nullptr) return TakeXlaError(frame.api, error, "keep the call site's state");
  return Status();
}

// The attributes after the payload's `hidden` ones.
XLA_FFI_Attrs WithoutPayload(const XLA_FFI_Attrs& attrs, size_t hidden) {
  XLA_FFI_Attrs rest = attrs;
  rest.size -= static_cast<int64_t>(hidden);
  rest.types += hidden;
  rest.names += hidden;
  rest.attrs += hidden;
  return rest;
}

// The payload's name when it has one, for errors before the binding exists.
std::string NameForErrors(const XLA_FFI_CallFrame& frame) {
  const auto size = static_cast<size_t>(frame.attrs.size);
  const std::string key = std::string(kPayloadPrefix) + "name";
  for (size_t i = 0; i < size; ++i) {
    const XLA_FFI_ByteSpan& name = *frame.attrs.names[i];
    if (frame.attrs.types[i] == XLA_FFI_AttrType_STRING && name.len == key.size() &&
        std::memcmp(name.ptr, key.data(), key.size()) == 0) {
      const auto& value = *static_cast<const XLA_FFI_ByteSpan*>(frame.attrs.attrs[i]);
      return std::string(value.ptr, value.len);
    }
  }
  return kEmbeddedTarget;
}

Status Instantiate(const XLA_FFI_CallFrame& frame, bool cuda_graph) {
  EmbeddedPayload payload;
  Status status = DecodePayload(frame.attrs, &payload);
  if (!status.ok()) return status;
  if (payload.options.allow_cuda_graph != cuda_graph) {
    return Status::InvalidArgument(
        std::string("allow_cuda_graph=") + (payload.options.allow_cuda_graph ? "True" : "False") +
        " calls go to '" +
        (payload.options.allow_cuda_graph ? kEmbeddedCudaGraphTarget : kEmbeddedTarget) +
        "', not this target");
  }
  if (payload.options.python_backed) {
    return Status::InvalidArgument("a Python function cannot be embedded");
  }
  // Each layout of the state calls is read right by some XLAs only: 0.1's by 0.1 alone (later XLAs
  // take a 48-byte State_Set for their own, staged layout), later ones by their version and newer.
  // Any other pairing would crash inside XLA: refuse instead.
  const ApiVersion running = RuntimeApiVersion(frame.api);
  const bool layout_read_right = running.major == 0 && running.minor >= kStateLayoutMinor &&
                                 (kStateLayoutMinor > 1 || running.minor == 1);
  if (!layout_read_right) {
    return Status::Error(XLA_FFI_Error_Code_FAILED_PRECONDITION,
                         "embedded kernels need a jax_tvm_ffi built against the installed "
                         "jaxlib's XLA FFI API (this one was built against " +
                             std::to_string(kCompiledApiVersion.major) + "." +
                             std::to_string(kCompiledApiVersion.minor) +
                             ", the running jaxlib speaks " + std::to_string(running.major) + "." +
                             std::to_string(running.minor) +
                             "): rebuild jax_tvm_ffi against the installed jaxlib");
  }
  status = RegisterStateType(frame.api);
  if (!status.ok()) return status;
  auto site = std::make_unique<CallSite>();
  status = LoadEmbeddedKernel(payload, &site->kernel);
  if (!status.ok()) return status;
  try {
    site->binding.emplace(payload.name, site->kernel.function, ArgSpec::Parse(payload.arg_spec),
                          payload.options);
  } catch (const tvm::ffi::Error& error) {
    return Status::InvalidArgument("the embedded kernel's arg spec is refused: " + error.message());
  }
  site->num_payload_attrs = payload.num_attrs;
  // XLA passes a call site the same attributes at every stage: when they are the spec's now,
  // executions need not compare their names again.
  site->binding->attrs_checked_at_instantiate = site->binding->pack_plan.attr_names.MatchInOrder(
      WithoutPayload(frame.attrs, payload.num_attrs));
  status = SetState(frame, site.get());
  if (!status.ok()) return status;
  site.release();  // XLA owns it now, and deletes it with the executable.
  return Status();
}

// An execution that finds no state: its instantiate stage did not run, or failed.
[[gnu::noinline, gnu::cold]] XLA_FFI_Error* RefuseWithoutState(XLA_FFI_CallFrame* frame,
                                                               XLA_FFI_Error* error) {
  const char* const why =
      "find the embedded kernel of this call (its instantiate stage did not run: register the "
      "target with an \"instantiate\" handler)";
  const Status status =
      error != nullptr ? TakeXlaError(frame->api, error, why)
                       : Status::Error(XLA_FFI_Error_Code_INTERNAL, std::string("cannot ") + why);
  return MakeXlaError(frame->api, NameForErrors(*frame), status);
}

// The first execution of a call site makes its plan, from a frame whose payload is hidden.
[[gnu::noinline]] const CallSitePlan* MakePlan(CallSite* site, const XLA_FFI_CallFrame& frame) {
  std::lock_guard<std::mutex> lock(site->plan_mutex);
  if (const CallSitePlan* plan = site->plan.load(std::memory_order_acquire)) return plan;
  if (site->no_plan.load(std::memory_order_relaxed)) return nullptr;
  try {
    site->plan_owner = CallSitePlan::Make(*site->binding, frame);
  } catch (const std::exception&) {
    return nullptr;  // Out of memory: this call goes the usual way, a later one tries again.
  }
  if (site->plan_owner == nullptr) {
    site->no_plan.store(true, std::memory_order_relaxed);
    return nullptr;
  }
  site->plan.store(site->plan_owner.get(), std::memory_order_release);
  return site->plan_owner.get();
}

// Every execution: kept short, since it is what an embedded kernel costs over a registered one.
XLA_FFI_Error* Execute(XLA_FFI_CallFrame* frame) {
  XLA_FFI_State_Get_Args args;
  args.struct_size = XLA_FFI_State_Get_Args_STRUCT_SIZE;
  args.extension_start = nullptr;
  args.ctx = frame->ctx;
#if JAX_TVM_FFI_STATE_HAS_STAGE
  args.stage = XLA_FFI_ExecutionStage_INSTANTIATE;
#endif
  args.type_id = &state_type_id;
  args.state = nullptr;
  XLA_FFI_Error* error = frame->api->XLA_FFI_State_Get(&args);
  auto* site = static_cast<CallSite*>(args.state);
  if (JAX_TVM_FFI_UNLIKELY(error != nullptr || site == nullptr)) {
    return RefuseWithoutState(frame, error);
  }
  const Binding& binding = *site->binding;
  // A planned call reads no attribute: the plan holds them, packed.
  const CallSitePlan* plan = site->plan.load(std::memory_order_acquire);
  if (JAX_TVM_FFI_LIKELY(plan != nullptr) && HandlePlannedCall(binding, *plan, frame, &error)) {
    return error;
  }
  // The binding sees the frame without the payload's attributes, which come first: the frame is
  // this call's alone, so it is changed in place for the call and put back after it.
  const XLA_FFI_Attrs attrs = frame->attrs;
  frame->attrs = WithoutPayload(attrs, site->num_payload_attrs);
  if (plan == nullptr && !site->no_plan.load(std::memory_order_relaxed) &&
      (plan = MakePlan(site, *frame)) != nullptr &&
      HandlePlannedCall(binding, *plan, frame, &error)) {
    frame->attrs = attrs;
    return error;
  }
  error = HandleExecution(binding, frame);
  frame->attrs = attrs;
  return error;
}

[[gnu::noinline, gnu::cold]] XLA_FFI_Error* RefuseShortFrame(XLA_FFI_CallFrame* frame) {
  if (frame->api == nullptr) return nullptr;
  return MakeXlaError(frame->api, kEmbeddedTarget,
                      Status::InvalidArgument("the call frame from XLA is older than this "
                                              "build's; embedded kernels need a newer jaxlib"));
}

// The instantiate stage, off the execution's path.
[[gnu::noinline]] XLA_FFI_Error* HandleInstantiate(XLA_FFI_CallFrame* frame, bool cuda_graph) {
  Status status;
  try {
    status = Instantiate(*frame, cuda_graph);
  } catch (const std::exception& error) {
    status = Status::Error(XLA_FFI_Error_Code_INTERNAL, error.what());
  }
  if (!status.ok()) return MakeXlaError(frame->api, NameForErrors(*frame), status);
  return nullptr;
}

template <bool kCudaGraph>
XLA_FFI_Error* Handle(XLA_FFI_CallFrame* frame) {
  if (JAX_TVM_FFI_UNLIKELY(frame->extension_start != nullptr &&
                           frame->extension_start->type == XLA_FFI_Extension_Metadata)) {
    return AnswerMetadataQuery(kCudaGraph ? XLA_FFI_HANDLER_TRAITS_COMMAND_BUFFER_COMPATIBLE : 0,
                               kCudaGraph ? kEmbeddedCudaGraphTarget : kEmbeddedTarget, frame);
  }
  // HandleExecution reads the frame whole: an XLA older than these headers would have a shorter
  // one.
  if (JAX_TVM_FFI_UNLIKELY(frame->struct_size < XLA_FFI_CallFrame_STRUCT_SIZE)) {
    return RefuseShortFrame(frame);
  }
  if (JAX_TVM_FFI_LIKELY(frame->stage == XLA_FFI_ExecutionStage_EXECUTE)) return Execute(frame);
  if (frame->stage == XLA_FFI_ExecutionStage_INSTANTIATE)
    return HandleInstantiate(frame, kCudaGraph);
  return nullptr;
}

}  // namespace

XLA_FFI_Error* EmbeddedHandler(XLA_FFI_CallFrame* frame) { return Handle<false>(frame); }

XLA_FFI_Error* EmbeddedCudaGraphHandler(XLA_FFI_CallFrame* frame) { return Handle<true>(frame); }

int32_t EmbeddedStateApiMinor() { return kStateLayoutMinor; }

long EmbeddedCallSitesAlive() { return call_sites_alive.load(std::memory_order_relaxed); }

}  // namespace jax_tvm_ffi

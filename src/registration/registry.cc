/*!
 * \file registry.cc
 * \brief The process-wide registry of targets: one entry point per (name, platform), and the
 *        release of a replaced registration once no call can still be running it.
 */
#include "registration/registry.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/predict.h"
#include "call/buffer_decoder.h"
#include "call/handler.h"
#include "call/python_guard.h"
#include "jax_tvm_ffi/scratch.h"
#include "jax_tvm_ffi/target.h"
#include "registration/binding.h"
#include "registration/entry_points.h"
#include "scratch/scratch_stats.h"

namespace jax_tvm_ffi {
namespace {

// How a binding is released once a re-registration replaced it: the function (and everything it
// captures, say a Python callback holding a model) goes when no call can still be running it.
//
// Each registration lives in a Slot; a target's calls use the slot in Target::current. A slot's
// `state` counts the calls that may be using it, plus kRetired once it is no longer current.
// A call (DispatchToTarget):
//   (A) loads current, adds 1 to that slot's state, (B) loads current again and uses the slot
//   only if it is still current; otherwise it takes the 1 back and starts over with the new one.
//   When it is done it takes the 1 back; if that leaves kRetired and no calls, it reclaims.
//   (A "1" is kCall: the count lives above the kRetired bit.)
// A re-registration (Register), under the registry mutex:
//   (C) stores the new slot in current, marks the old slot retired (kRetired in state, kRetired
//   status), then reclaims it.
// Reclaim, under the registry mutex: (D) if the slot is retired and its count is 0, moves its
// function out, destroys the rest and puts the slot on the target's free list; the function is
// released after the mutex is let go.
//
// Why no call can use a released function: A, B, C and D are sequentially consistent, so they
// have one total order. Take a call that used the slot: its B saw the slot current. If its A came
// before D, D saw its 1 unless the call had already taken it back, i.e. was done (that take-back
// releases and D acquires, so the call's reads of the function happen before the release). If
// its A came after D, then C (before D) came before B, so B saw another slot in current and the
// call did not use this one; the slot can be current again only after it was released and
// reused, which needs the registry mutex that D holds. A call that loaded a slot long ago and
// only adds to its count after the slot was released, put on the free list, even reused, is
// harmless: slots are never freed (the registry lives as long as the process), the count is all
// such a call touches before B, and B sends it away unless the slot is current again, in which
// case its binding is a complete new registration published by C's release store.
//
// Why the function is released at all: once kRetired is set, the count can reach 0 only through
// a call's take-back that sees exactly kRetired | kCall, and that call reclaims; if the count was
// already 0 at C, Register reclaims. Reclaim re-checks the count under the mutex, so a reclaim
// that finds calls still running (they arrived after the take-back that triggered it) does
// nothing: the last of those calls reclaims in turn.
//
// Cost per call: two locked instructions (the add and the take-back) and one more load; see
// README "Robustness" for the instruction counts.
constexpr uint64_t kRetired = 1;
constexpr uint64_t kCall = 2;

struct Target;

struct Slot {
  enum class Status { kCurrent, kRetired, kFree };
  explicit Slot(Target* target) : target(target) {}
  // kCall times the calls that may be using this slot, plus kRetired while it is not current.
  std::atomic<uint64_t> state{0};
  // The target the slot belongs to, for the reclaim on the way out of a call.
  Target* const target;
  // Guarded by the registry mutex; calls read the binding only after B.
  Status status = Status::kCurrent;
  // Const: made complete by emplace and never written until reset.
  std::optional<const Binding> binding;
};

// A registered target. Its entry point never changes; re-registration swaps its current slot.
struct Target {
  std::atomic<Slot*> current{nullptr};
  XLA_FFI_Handler* handler = nullptr;
  ScratchStats scratch_stats;
  // Every slot made for this target, and those free for reuse. Guarded by the registry mutex.
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<Slot*> free_slots;
};

XLA_FFI_Error* DispatchToTarget(XLA_FFI_CallFrame* frame, void* context);

class Registry {
 public:
  static Registry& Global() {
    // Never destroyed: XLA keeps our entry points until the process ends, and functions backed
    // by Python must not be released after the interpreter is gone.
    static Registry* registry = new Registry();
    return *registry;
  }

  XLA_FFI_Handler* Register(const std::string& name, tvm::ffi::Function function, ArgSpec spec,
                            TargetOptions options) {
    Target* target = nullptr;
    Slot* replaced = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto key = std::make_pair(options.platform, name);
      auto found = targets_.find(key);
      if (found == targets_.end()) {
        auto made = std::make_unique<Target>();
        Slot* slot = NewSlot(*made);
        slot->binding.emplace(name, std::move(function), std::move(spec), options,
                              &made->scratch_stats);
        made->current.store(slot, std::memory_order_seq_cst);
        made->handler = entry_points_.Create(made.get());
        return targets_.emplace(key, std::move(made)).first->second->handler;
      }
      target = found->second.get();
      replaced = target->current.load(std::memory_order_relaxed);
      const TargetOptions& old = replaced->binding->options;
      if (old.allow_cuda_graph != options.allow_cuda_graph) {
        TVM_FFI_THROW(ValueError)
            << "target '" << name << "' is already registered for platform "
            << XlaPlatformName(options.platform)
            << " with allow_cuda_graph=" << (old.allow_cuda_graph ? "True" : "False")
            << "; XLA cannot change a registered handler's traits, so re-register it with the "
               "same allow_cuda_graph or use a new name";
      }
      Slot* slot = FreeOrNewSlot(*target);
      slot->binding.emplace(name, std::move(function), std::move(spec), options,
                            &target->scratch_stats);
      target->current.store(slot, std::memory_order_seq_cst);  // C
      replaced->status = Slot::Status::kRetired;
      replaced->state.fetch_or(kRetired, std::memory_order_seq_cst);
    }
    // Usually no call is running: the replaced function goes now, on the registering thread
    // (the reclaimed function is dropped at the end of this statement).
    Reclaim(*target, replaced);
    return target->handler;
  }

  /*!
   * Step D: if `slot` is retired and no call may use it, takes its function (returned, to be
   * released by the caller after the mutex is let go, since releasing a Python callable takes
   * the GIL) and puts the slot on the free list. Otherwise returns null.
   */
  tvm::ffi::Function Reclaim(Target& target, Slot* slot) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (slot->status != Slot::Status::kRetired) return tvm::ffi::Function(nullptr);
    if (slot->state.load(std::memory_order_seq_cst) != kRetired) {
      return tvm::ffi::Function(nullptr);  // a call still runs; the last one out reclaims
    }
    // A second reference, so that the binding's goes with it and the function is released where
    // the caller drops this one.
    tvm::ffi::Function function = slot->binding->function;
    slot->binding.reset();
    slot->status = Slot::Status::kFree;
    target.free_slots.push_back(slot);
    return function;
  }

  ScratchUsage Usage(const std::string& name, Platform platform) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = targets_.find(std::make_pair(platform, name));
    if (found == targets_.end()) {
      TVM_FFI_THROW(ValueError) << "no target '" << name << "' is registered for platform "
                                << XlaPlatformName(platform);
    }
    return found->second->scratch_stats.Read();
  }

  size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return targets_.size();
  }

  RegistrationSlots Slots(const std::string& name, Platform platform) {
    std::lock_guard<std::mutex> lock(mutex_);
    RegistrationSlots slots;
    auto found = targets_.find(std::make_pair(platform, name));
    if (found == targets_.end()) return slots;
    for (const std::unique_ptr<Slot>& slot : found->second->slots) {
      ++slots.made;
      slots.holding_a_function += slot->status != Slot::Status::kFree;
    }
    return slots;
  }

 private:
  Registry() : entry_points_(&DispatchToTarget) {}

  static Slot* NewSlot(Target& target) {
    target.slots.push_back(std::make_unique<Slot>(&target));
    return target.slots.back().get();
  }

  // A released slot if there is one: its count may be raised by calls that loaded it long ago
  // (they leave again at B), so only kRetired is cleared, never the count.
  static Slot* FreeOrNewSlot(Target& target) {
    if (target.free_slots.empty()) return NewSlot(target);
    Slot* slot = target.free_slots.back();
    target.free_slots.pop_back();
    slot->status = Slot::Status::kCurrent;
    slot->state.fetch_and(~kRetired, std::memory_order_seq_cst);
    return slot;
  }

  std::mutex mutex_;
  EntryPointPool entry_points_;
  std::map<std::pair<Platform, std::string>, std::unique_ptr<Target>> targets_;
};

// The last call out of a retired slot reclaims it, on the call's thread, perhaps while the
// interpreter exits: see ReleaseOffPythonThread.
[[gnu::noinline, gnu::cold]] void ReclaimAfterLastCall(Slot* slot) {
  tvm::ffi::Function released = Registry::Global().Reclaim(*slot->target, slot);
  if (released != nullptr) ReleaseOffPythonThread(std::move(released));
}

// Gives back a call's count on `slot`.
inline void LeaveSlot(Slot* slot) {
  if (JAX_TVM_FFI_UNLIKELY(slot->state.fetch_sub(kCall, std::memory_order_seq_cst) ==
                           (kRetired | kCall))) {
    ReclaimAfterLastCall(slot);
  }
}

XLA_FFI_Error* DispatchToTarget(XLA_FFI_CallFrame* frame, void* context);

// Step B failed: `slot` was replaced after step A loaded it. Gives its count back and starts
// the call over with the current slot.
[[gnu::noinline]] XLA_FFI_Error* DispatchReplaced(Slot* slot, XLA_FFI_CallFrame* frame,
                                                  void* context) {
  LeaveSlot(slot);
  return DispatchToTarget(frame, context);
}

// Steps A and B, the call, and the count given back (see the top of this file). Only `slot` is
// live across the call, which keeps the instructions added to each call few.
XLA_FFI_Error* DispatchToTarget(XLA_FFI_CallFrame* frame, void* context) {
  Target& target = *static_cast<Target*>(context);
  Slot* slot = target.current.load(std::memory_order_acquire);
  slot->state.fetch_add(kCall, std::memory_order_seq_cst);
  if (JAX_TVM_FFI_UNLIKELY(target.current.load(std::memory_order_seq_cst) != slot)) {
    return DispatchReplaced(slot, frame, context);
  }
  XLA_FFI_Error* error = HandleCall(*slot->binding, frame);
  LeaveSlot(slot);
  return error;
}

}  // namespace

XLA_FFI_Handler* RegisterTarget(const std::string& name, tvm::ffi::Function function, ArgSpec spec,
                                TargetOptions options) {
  if (name.empty()) TVM_FFI_THROW(ValueError) << "The target name must not be empty";
  if (function == nullptr) {
    TVM_FFI_THROW(ValueError) << "target '" << name << "': the function is null";
  }
  CheckLayouts(name, options);
  return Registry::Global().Register(name, std::move(function), std::move(spec), options);
}

ScratchUsage GetScratchUsage(const std::string& name, Platform platform) {
  return Registry::Global().Usage(name, platform);
}

size_t RegisteredTargetCount() { return Registry::Global().size(); }

RegistrationSlots GetRegistrationSlots(const std::string& name, Platform platform) {
  return Registry::Global().Slots(name, platform);
}

}  // namespace jax_tvm_ffi

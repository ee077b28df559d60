/*!
 * \file python_guard.cc
 * \brief The exit guard of Python-backed targets (see python_guard.h).
 */
#include "call/python_guard.h"

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "base/error.h"
#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {
namespace {

std::atomic<bool> python_calls_blocked{false};
std::atomic<size_t> python_calls_in_flight{0};

// Counts a call of a Python-backed target for its duration; refuses it once calls are blocked.
// Sequentially consistent: either BlockPythonCalls sees this call in flight, or the call sees the
// block.
class PythonCallScope {
 public:
  PythonCallScope() { python_calls_in_flight.fetch_add(1); }
  ~PythonCallScope() { python_calls_in_flight.fetch_sub(1); }
  PythonCallScope(const PythonCallScope&) = delete;
  PythonCallScope& operator=(const PythonCallScope&) = delete;
  bool refused() const { return python_calls_blocked.load(); }
};

}  // namespace

void BlockPythonCalls() { python_calls_blocked.store(true); }

size_t PythonCallsInFlight() { return python_calls_in_flight.load(); }

void ReleaseOffPythonThread(tvm::ffi::Function function) {
  PythonCallScope python_call;  // so that the exit handler waits for the release
  // Dropped before the scope ends (the caller destroys the parameter only after the return).
  tvm::ffi::Function released = std::move(function);
  if (!python_call.refused()) return;
  // Once the interpreter exits, dropping a Python callable would enter it: keep the function
  // for the rest of the process (reachable, never destroyed).
  static std::mutex kept_mutex;
  static auto* kept = new std::vector<tvm::ffi::Function>();
  std::lock_guard<std::mutex> lock(kept_mutex);
  kept->push_back(std::move(released));
}

XLA_FFI_Error* HandleGuardedCall(const Binding& binding, XLA_FFI_CallFrame* frame,
                                 XLA_FFI_Error* (*call)(const Binding&, XLA_FFI_CallFrame*)) {
  PythonCallScope python_call;
  if (python_call.refused()) {
    return MakeXlaError(
        frame->api, binding.name,
        Status::Error(XLA_FFI_Error_Code_CANCELLED,
                      "the Python interpreter is shutting down; the function was not called"));
  }
  return call(binding, frame);
}

}  // namespace jax_tvm_ffi

/*!
 * \file jax_tvm_ffi/target.h
 * \brief Turning a tvm::ffi::Function into an XLA FFI handler, and the process-wide registry of
 *        such targets. This is the core's public entry point; it needs no Python.
 *
 * \code{.cpp}
 *   tvm::ffi::Function fn = ...;  // any TVM FFI function taking (TensorView x, TensorView y)
 *   XLA_FFI_Handler* handler = jax_tvm_ffi::RegisterTarget(
 *       "my.add_one", fn, jax_tvm_ffi::ArgSpec::Default(), jax_tvm_ffi::TargetOptions{});
 *   // Register `handler` with XLA for the "Host" platform (XLA_FFI_Handler_Register).
 * \endcode
 */
#ifndef JAX_TVM_FFI_TARGET_H_
#define JAX_TVM_FFI_TARGET_H_

#include <tvm/ffi/function.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "jax_tvm_ffi/arg_spec.h"

namespace jax_tvm_ffi {

/*! \brief The XLA platform a target runs on; decides the tensors' DLPack device. */
enum class Platform {
  kCpu,   //!< XLA "Host"; tensors are (kDLCPU, 0).
  kCuda,  //!< XLA "CUDA"; tensors are (kDLCUDA, ordinal) and the XLA stream is installed.
  kRocm,  //!< XLA "ROCM"; tensors are (kDLROCM, ordinal) and the XLA stream is installed.
};

/*!
 * \brief Parses a platform name: "cpu", "gpu" or "cuda", "rocm" (case-insensitive).
 * \throws tvm::ffi::Error of kind ValueError listing the choices for any other name.
 */
Platform ParsePlatform(const std::string& name);

/*! \brief The platform name XLA registers handlers under: "Host", "CUDA" or "ROCM". */
const char* XlaPlatformName(Platform platform);

/*! \brief Options fixed at registration. */
struct TargetOptions {
  Platform platform = Platform::kCpu;
  /*! \brief Report the handler as command-buffer (CUDA graph) compatible to XLA. */
  bool allow_cuda_graph = false;
  /*!
   * \brief Pass tensors as owned tvm::ffi::Tensor objects instead of borrowed DLTensor views,
   *        so that Python callbacks can export them with DLPack. See owned_tensor.h for how a
   *        tensor kept past the call is handled.
   */
  bool pass_owned_tensor = false;
  /*!
   * \brief The function runs Python code. Calls of such targets are refused, without calling
   *        the function, once BlockPythonCalls() has been called: see there.
   */
  bool python_backed = false;
  /*!
   * \brief The call's last result is a workspace, not an output: a 1-D uint8 buffer the caller
   *        sizes. It is not passed to the function; during the call every TVMFFIEnvTensorAlloc
   *        request on the call's device is carved out of it (see jax_tvm_ffi/scratch.h).
   */
  bool last_result_is_workspace = false;
  /*! \brief The checks of the checking mode to run around every call: CheckFlags, or'ed. */
  uint32_t check = 0;
  /*!
   * \brief The memory order of each input (output) buffer, for a caller that asks XLA for
   *        non-default layouts (jax.ffi.ffi_call's input_layouts / output_layouts): entry i lists
   *        buffer i's dimensions from minor-most to major-most, as XLA's minor_to_major does. An
   *        empty entry, or none, means dense row-major. The views passed to the function then
   *        carry the strides of that memory. A buffer with more dimensions than its entry names
   *        (vmap's batch dimension) has the extra leading dimensions major-most, in row-major
   *        order. Each entry must be a permutation of 0..n-1; a buffer with fewer dimensions fails
   *        the call. XLA's call frame carries no layout: these must match what the caller asked.
   */
  std::vector<std::vector<int64_t>> input_layouts;
  std::vector<std::vector<int64_t>> output_layouts;
};

/*! \brief The checks of the checking mode (TargetOptions::check), for kernel development. */
enum CheckFlags : uint32_t {
  kCheckNone = 0,
  /*! \brief On CPU, surround every buffer with guard bytes and verify them after the call. */
  kCheckGuards = 1u << 0,
  /*! \brief On CPU, verify that inputs the function does not alias with an output are unchanged. */
  kCheckInputs = 1u << 1,
  /*! \brief On CPU, fail the call when a floating-point output holds a NaN or an infinity. */
  kCheckNonFinite = 1u << 2,
  /*! \brief Print one line per call to stderr: target, shapes, dtypes, stream and time. */
  kCheckTrace = 1u << 3,
};

/*!
 * \brief Registers a target and returns its XLA FFI handler.
 *
 * Each (name, platform) pair owns one handler for the life of the process. Registering a pair
 * again replaces the function, spec and options in place and returns the same handler, so
 * re-registering it with XLA is accepted; calls already running finish with the old function.
 * The old function (and all it captures) is released as soon as no call can still be running
 * it: by this call when none runs, else by the last running call as it returns, on that call's
 * thread (such a release is counted in PythonCallsInFlight(), and skipped, keeping the function,
 * once BlockPythonCalls() has been called). Memory stays flat however often a pair is
 * re-registered. There is no limit on the number of targets other than memory. Thread-safe.
 *
 * \param name The target name, as given to jax.ffi.ffi_call. Must not be empty.
 * \param function The function to call; the registry keeps it alive while it is registered or
 *        running.
 * \param spec What the function receives, in order.
 * \param options Platform and flags.
 * \return The handler: pass it to XLA's handler registration for XlaPlatformName(platform).
 * \throws tvm::ffi::Error (ValueError) for an empty name or a null function, a layout that is
 *         not a permutation (or one given with owned tensors), or when the pair is already
 *         registered with a different allow_cuda_graph (XLA would refuse the changed traits).
 */
XLA_FFI_Handler* RegisterTarget(const std::string& name, tvm::ffi::Function function, ArgSpec spec,
                                TargetOptions options);

/*! \brief The number of distinct (name, platform) targets registered in this process. */
size_t RegisteredTargetCount();

/*!
 * \brief Makes every later call of a python_backed target fail at once (CANCELLED) instead of
 *        calling its function. For the Python package at interpreter exit: computations still
 *        queued in XLA run on XLA's threads while the interpreter finalizes, and a thread that
 *        enters a finalizing interpreter is ended by it mid-call, which aborts the process.
 *        Irreversible; thread-safe.
 */
void BlockPythonCalls();

/*! \brief The number of calls of python_backed targets running now (to wait for at exit). */
size_t PythonCallsInFlight();

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_TARGET_H_

/*!
 * \file checked_call.h
 * \brief The checking mode (TargetOptions::check): a call of a target run on shadow copies of its
 *        buffers, so that a kernel's out-of-bounds writes, writes to inputs and non-finite
 *        outputs fail the call with a message naming the buffer, before XLA's memory is touched;
 *        and a trace line per call.
 *
 * On CPU targets, with any of kCheckGuards, kCheckInputs or kCheckNonFinite set, every buffer of
 * the frame (arguments and results) gets a shadow in host memory: its bytes (copied from XLA's
 * buffer, outputs included, so a partial write leaves what XLA would have had) between a leading
 * guard of kLeadingGuardBytes and a trailing guard as large as the buffer, at least
 * kMinTrailingGuardBytes and at most kMaxTrailingGuardBytes, both filled with kGuardByte. Buffers
 * with the same data pointer (an input aliased to an output through input_output_aliases, or one
 * buffer passed twice) share one shadow. The function runs on a copy of the call frame whose
 * buffers point at the shadows. After it returns, in this order:
 * - kCheckGuards: every guard is verified; a changed byte fails the call naming the buffer
 *   ("output 0 (f32[4], 16 bytes)"), which side, and the distance of the corrupted byte nearest to
 * the buffer from its end (0 = the first byte past it) or its start (1 = the byte just before it).
 * - kCheckInputs: each input that shares no shadow with an output must equal XLA's buffer
 *   byte for byte; the first changed byte and element are named.
 * - kCheckNonFinite: each F16, BF16, F32, F64, C64 or C128 output must hold no NaN or infinity;
 *   the first one found is named with its index.
 * - Only when all pass are the outputs copied back to XLA's buffers. (An output element the
 *   function leaves unwritten keeps the bytes XLA's buffer held, as without the checking mode.)
 * When the function itself fails, its error is the call's error and nothing is verified or
 * copied back: XLA's buffers were never handed to it, so no corruption can have reached them.
 * Not caught: a write further from the buffer than its guard reaches (a kernel writing up to
 * twice the length of an output of at most 1 MiB is caught), and a byte written with kGuardByte's
 * own value. Buffers that are not plain buffers (tokens, non-buffer arguments, types or shapes
 * the call path refuses) are passed through unshadowed, for the call path to handle.
 *
 * On GPU targets only kCheckTrace has an effect: the core links no GPU runtime, so it can neither
 * allocate nor compare device memory (run the kernel on CPU, or under compute-sanitizer, for the
 * memory checks).
 *
 * kCheckTrace prints one line per call to stderr, after it:
 *   jax_tvm_ffi trace: target 'NAME' args (f32[4,8], s32[]) rets (f32[4]) stream 0 time 12.5 us ok
 * with the stream as XLA gave it (0 on CPU, else hexadecimal), the wall time of the call in
 * microseconds (the call path and the function, without the checking mode's own copies; on GPUs
 * the time to launch it, kernels running asynchronously), and "ok" or "failed".
 */
#ifndef JAX_TVM_FFI_SRC_CALL_CHECKED_CALL_H_
#define JAX_TVM_FFI_SRC_CALL_CHECKED_CALL_H_

#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>

#include "registration/binding.h"

namespace jax_tvm_ffi {

/*! \brief The value every guard byte holds. */
constexpr uint8_t kGuardByte = 0xA5;
/*! \brief The size of the guard before each shadow (a multiple of 64: the data stays aligned). */
constexpr size_t kLeadingGuardBytes = 256;
/*! \brief The bounds of the guard after each shadow, which is as large as the buffer itself. */
constexpr size_t kMinTrailingGuardBytes = 256;
constexpr size_t kMaxTrailingGuardBytes = size_t{1} << 20;

/*! \brief A handler of the call path without checks: what a checked call runs. */
using UncheckedHandler = XLA_FFI_Error* (*)(const Binding& binding, XLA_FFI_CallFrame* frame);

/*!
 * \brief Runs one execute-stage call of a target with binding.options.check != 0.
 * \param binding The target.
 * \param frame XLA's call frame.
 * \param call The unchecked handler, called once, with XLA's frame or with a shadow copy of it.
 * \return nullptr on success; the function's own error; or an error naming the target, the buffer
 *         and the problem a check found.
 *
 * Never inlined: merged into the handler (link-time optimization does it), its stack frame and
 * registers would cost every unchecked call too.
 */
[[gnu::noinline]] XLA_FFI_Error* HandleCheckedCall(const Binding& binding, XLA_FFI_CallFrame* frame,
                                                   UncheckedHandler call);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_CHECKED_CALL_H_

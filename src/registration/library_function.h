/*!
 * \file library_function.h
 * \brief Functions of compiled modules (tvm_ffi.load_module, tvm_ffi.cpp.load_inline) seen
 *        through to the symbol they call, so that the call path can call it directly.
 *
 * tvm_ffi wraps each `__tvm_ffi_<name>` a loaded library exports in a FunctionObj whose
 * safe_call is one trampoline, shared by all of them, that calls the symbol stored right after
 * the FunctionObj. tvm_ffi documents neither, so both are learned from a probe: a function of a
 * library whose symbol is known, called once through its trampoline. A tvm_ffi that stores or
 * calls its symbols otherwise teaches nothing, and every function is then called through its
 * safe_call as before.
 */
#ifndef JAX_TVM_FFI_SRC_REGISTRATION_LIBRARY_FUNCTION_H_
#define JAX_TVM_FFI_SRC_REGISTRATION_LIBRARY_FUNCTION_H_

#include <tvm/ffi/c_api.h>
#include <tvm/ffi/function.h>

namespace jax_tvm_ffi {

/*!
 * \brief Learns the layout of library functions from `probe`, the function tvm_ffi made for the
 *        exported `symbol`, which must answer the `self` it is called with as an opaque pointer
 *        (see __tvm_ffi_call_probe in python_module.cc). Not thread-safe: call it before any
 *        binding is made.
 */
void LearnLibraryFunctionLayout(const tvm::ffi::Function& probe, TVMFFISafeCallType symbol);

/*! \brief Forgets what was learned, for tests: nothing is seen through until learned again. */
void ForgetLibraryFunctionLayout();

/*!
 * \brief The symbol a library function calls, or nullptr for any other function (made in C++ or
 *        Python) or while the layout is unknown.
 */
TVMFFISafeCallType LibrarySymbolOf(const tvm::ffi::FunctionObj* function);

/*!
 * \brief The symbol to call in place of the function's safe_call, or nullptr: a library
 *        function whose trampoline was seen passing a null `self` and nothing else, so that
 *        `symbol(nullptr, args, num_args, result)` is the same call without the trampoline.
 */
TVMFFISafeCallType DirectEntryOf(const tvm::ffi::FunctionObj* function);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_REGISTRATION_LIBRARY_FUNCTION_H_

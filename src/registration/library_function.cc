/*!
 * \file library_function.cc
 * \brief Library functions seen through to their symbols (see library_function.h).
 */
#include "registration/library_function.h"

namespace jax_tvm_ffi {
namespace {

struct LibraryFunctionLayout {
  /*! \brief The safe_call of every library function; nullptr while unknown. */
  TVMFFISafeCallType trampoline = nullptr;
  /*! \brief The trampoline was seen calling its symbol with a null `self`. */
  bool null_self = false;
};

LibraryFunctionLayout layout;

// Read only of an object whose safe_call is the trampoline, or of the probe, which the caller
// vouches for: other FunctionObj classes may store nothing there.
TVMFFISafeCallType StoredSymbolOf(const tvm::ffi::FunctionObj* function) {
  return *reinterpret_cast<const TVMFFISafeCallType*>(reinterpret_cast<const char*>(function) +
                                                      sizeof(tvm::ffi::FunctionObj));
}

}  // namespace

void LearnLibraryFunctionLayout(const tvm::ffi::Function& probe, TVMFFISafeCallType symbol) {
  const tvm::ffi::FunctionObj* function = probe.get();
  if (function == nullptr || symbol == nullptr || function->safe_call == symbol ||
      StoredSymbolOf(function) != symbol) {
    return;
  }
  layout.trampoline = function->safe_call;
  // What `self` the symbol gets: the probe answers it. Anything but a clean null leaves the
  // trampoline in place.
  TVMFFIAny result{};
  result.type_index = kTVMFFINone;
  const int rc =
      function->safe_call(const_cast<tvm::ffi::FunctionObj*>(function), nullptr, 0, &result);
  if (rc != 0) {
    TVMFFIObjectHandle error = nullptr;
    TVMFFIErrorMoveFromRaised(&error);
    if (error != nullptr) TVMFFIObjectDecRef(error);
    return;
  }
  layout.null_self = result.type_index == kTVMFFIOpaquePtr && result.v_ptr == nullptr;
}

void ForgetLibraryFunctionLayout() { layout = LibraryFunctionLayout{}; }

TVMFFISafeCallType LibrarySymbolOf(const tvm::ffi::FunctionObj* function) {
  if (function == nullptr || layout.trampoline == nullptr ||
      function->safe_call != layout.trampoline) {
    return nullptr;
  }
  return StoredSymbolOf(function);
}

TVMFFISafeCallType DirectEntryOf(const tvm::ffi::FunctionObj* function) {
  return layout.null_self ? LibrarySymbolOf(function) : nullptr;
}

}  // namespace jax_tvm_ffi

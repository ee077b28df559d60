/*!
 * \file packed_args.h
 * \brief Building the TVMFFIAny slots a TVM FFI function is called with.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_PACKED_ARGS_H_
#define JAX_TVM_FFI_SRC_CALL_PACKED_ARGS_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/c_api.h>
#include <tvm/ffi/object.h>

#include <cstdint>

namespace jax_tvm_ffi {

/*! \brief A borrowed tensor view: what a tvm::ffi::TensorView parameter accepts. */
inline TVMFFIAny ViewSlot(DLTensor* tensor) {
  TVMFFIAny slot;
  slot.type_index = kTVMFFIDLTensorPtr;
  slot.zero_padding = 0;
  slot.v_ptr = tensor;
  return slot;
}

/*! \brief An integer. */
inline TVMFFIAny IntSlot(int64_t value) {
  TVMFFIAny slot;
  slot.type_index = kTVMFFIInt;
  slot.zero_padding = 0;
  slot.v_int64 = value;
  return slot;
}

/*! \brief A borrowed reference to an object the caller keeps alive during the call. */
inline TVMFFIAny ObjectSlot(const tvm::ffi::ObjectRef& object) {
  TVMFFIAny slot;
  slot.type_index = object->type_index();
  slot.zero_padding = 0;
  slot.v_obj = tvm::ffi::details::ObjectUnsafe::GetHeader(object.get());
  return slot;
}

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_PACKED_ARGS_H_

/*!
 * \file jax_tvm_ffi/jax_tvm_ffi.h
 * \brief Umbrella header of the jax-tvm-ffi core.
 */
#ifndef JAX_TVM_FFI_JAX_TVM_FFI_H_
#define JAX_TVM_FFI_JAX_TVM_FFI_H_

#include "jax_tvm_ffi/arg_spec.h"  // IWYU pragma: export
#include "jax_tvm_ffi/dtype.h"     // IWYU pragma: export
#include "jax_tvm_ffi/scratch.h"   // IWYU pragma: export
#include "jax_tvm_ffi/target.h"    // IWYU pragma: export

#endif  // JAX_TVM_FFI_JAX_TVM_FFI_H_

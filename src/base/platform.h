/*!
 * \file platform.h
 * \brief What each Platform is called and where its tensors live: the only place the core
 *        knows platform names (ParsePlatform and XlaPlatformName are declared in target.h).
 */
#ifndef JAX_TVM_FFI_SRC_BASE_PLATFORM_H_
#define JAX_TVM_FFI_SRC_BASE_PLATFORM_H_

#include <dlpack/dlpack.h>

#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {

/*! \brief The DLPack device type of a platform's tensors: kDLCPU, kDLCUDA or kDLROCM. */
DLDeviceType DeviceTypeOf(Platform platform);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_BASE_PLATFORM_H_

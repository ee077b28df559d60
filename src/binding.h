/*!
 * \file binding.h
 * \brief Everything a target's calls need that depends only on its registration, computed once.
 */
#ifndef JAX_TVM_FFI_SRC_BINDING_H_
#define JAX_TVM_FFI_SRC_BINDING_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/function.h>
#include <xla/ffi/api/c_api.h>

#include <string>
#include <vector>

#include "jax_tvm_ffi/arg_spec.h"
#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {

/*! \brief An immutable registration of a target: the plan its calls follow. */
struct Binding {
  Binding(std::string name, tvm::ffi::Function function, ArgSpec spec, TargetOptions options);

  std::string name;
  tvm::ffi::Function function;
  ArgSpec spec;
  TargetOptions options;
  /*! \brief kDLCPU, kDLCUDA or kDLROCM. */
  DLDeviceType device_type;
  /*! \brief True on GPU platforms: fetch stream and ordinal, install the stream. */
  bool uses_stream;
  /*! \brief The traits reported to XLA's metadata query. */
  XLA_FFI_Handler_Traits traits;
  /*! \brief For each attribute item of spec.items(), its index in spec.sorted_attr_names(). */
  std::vector<size_t> attr_slot_of_item;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_BINDING_H_

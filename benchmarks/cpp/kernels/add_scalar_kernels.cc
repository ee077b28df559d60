/*!
 * \file add_scalar_kernels.cc
 * \brief The kernel of the XLA loop benchmark, y = x + attr on float32, exported twice from one
 *        shared library: as a native XLA FFI handler written with XLA's typed binding, and as a
 *        TVM FFI function for the bridge. Both call the same body.
 */
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/function.h>
#include <xla/ffi/api/ffi.h>

#include <cstdint>

#include "../kernel_bodies.h"

namespace {

namespace ffi = xla::ffi;

ffi::Error AddScalarNative(ffi::Buffer<ffi::F32> x, ffi::ResultBuffer<ffi::F32> y, float attr) {
  jax_tvm_ffi_bench::AddScalar(x.typed_data(), y->typed_data(),
                               static_cast<int64_t>(x.element_count()), attr);
  return ffi::Error::Success();
}

void AddScalarTvm(tvm::ffi::TensorView x, tvm::ffi::TensorView y, double attr) {
  jax_tvm_ffi_bench::AddScalar(static_cast<const float*>(x.data_ptr()),
                               static_cast<float*>(y.data_ptr()), x.numel(),
                               static_cast<float>(attr));
}

}  // namespace

// The native handler: register it with jax.ffi.register_ffi_target(name, pycapsule(symbol)).
XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JaxTvmFfiBenchAddScalarNative, AddScalarNative,
    ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>().Attr<float>("attr"));

// The bridged function: tvm_ffi.load_module(path).add_scalar, spec [args, rets, attrs.attr].
TVM_FFI_DLL_EXPORT_TYPED_FUNC(add_scalar, AddScalarTvm);

/*!
 * \file add_scalar_kernels.cc
 * \brief The kernels of the XLA loop benchmarks, each exported twice from one shared library: as a
 *        native XLA FFI handler written with XLA's typed binding, and as a TVM FFI function for
 *        the bridge, both calling the same body. y = x + attr (one tensor in, one attribute) and
 *        y = a + b + c + d (four tensors in, no attribute), on float32.
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

ffi::Error Add4Native(ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b, ffi::Buffer<ffi::F32> c,
                      ffi::Buffer<ffi::F32> d, ffi::ResultBuffer<ffi::F32> y) {
  jax_tvm_ffi_bench::Add4(a.typed_data(), b.typed_data(), c.typed_data(), d.typed_data(),
                          y->typed_data(), static_cast<int64_t>(a.element_count()));
  return ffi::Error::Success();
}

void Add4Tvm(tvm::ffi::TensorView a, tvm::ffi::TensorView b, tvm::ffi::TensorView c,
             tvm::ffi::TensorView d, tvm::ffi::TensorView y) {
  jax_tvm_ffi_bench::Add4(
      static_cast<const float*>(a.data_ptr()), static_cast<const float*>(b.data_ptr()),
      static_cast<const float*>(c.data_ptr()), static_cast<const float*>(d.data_ptr()),
      static_cast<float*>(y.data_ptr()), a.numel());
}

}  // namespace

// The native handler: register it with jax.ffi.register_ffi_target(name, pycapsule(symbol)).
XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JaxTvmFfiBenchAddScalarNative, AddScalarNative,
    ffi::Ffi::Bind().Arg<ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>().Attr<float>("attr"));

// The bridged function: tvm_ffi.load_module(path).add_scalar, spec [args, rets, attrs.attr].
TVM_FFI_DLL_EXPORT_TYPED_FUNC(add_scalar, AddScalarTvm);

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxTvmFfiBenchAdd4Native, Add4Native,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

// Spec [args, rets].
TVM_FFI_DLL_EXPORT_TYPED_FUNC(add4, Add4Tvm);

/*!
 * \file predict.h
 * \brief Branch hints for the call path: failures are rare, and their code is kept off the
 *        straight line the success path runs through.
 */
#ifndef JAX_TVM_FFI_SRC_BASE_PREDICT_H_
#define JAX_TVM_FFI_SRC_BASE_PREDICT_H_

#if defined(__GNUC__)
#define JAX_TVM_FFI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define JAX_TVM_FFI_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define JAX_TVM_FFI_UNLIKELY(x) (x)
#define JAX_TVM_FFI_LIKELY(x) (x)
#endif

#endif  // JAX_TVM_FFI_SRC_BASE_PREDICT_H_

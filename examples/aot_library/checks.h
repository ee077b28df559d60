/*!
 * \file checks.h
 * \brief Input checks shared by the library's kernels: each throws a ValueError naming the
 *        function and the argument, so a caller sees which input was wrong and why.
 */
#ifndef AOT_KERNELS_CHECKS_H_
#define AOT_KERNELS_CHECKS_H_

#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/dtype.h>
#include <tvm/ffi/error.h>

#include <cstdint>
#include <sstream>
#include <string>

namespace aot_kernels {

inline constexpr DLDataType kFloat32{kDLFloat, 32, 1};
inline constexpr DLDataType kInt32{kDLInt, 32, 1};

/*!
 * \brief Formats a shape as "(2, 3)".
 * \param shape The shape.
 * \return The text.
 */
inline std::string ShapeString(tvm::ffi::ShapeView shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

/*!
 * \brief Checks that a tensor is a compact CPU tensor of the expected element type and rank.
 * \param func The kernel's name, for the message.
 * \param arg The argument's name, for the message.
 * \param t The tensor.
 * \param dtype The element type it must have.
 * \param ndim The rank it must have, or -1 for any rank.
 */
inline void CheckTensor(const char* func, const char* arg, const tvm::ffi::TensorView& t,
                        DLDataType dtype, int ndim = -1) {
  if (t.device().device_type != kDLCPU) {
    TVM_FFI_THROW(ValueError) << func << ": " << arg << " must be a CPU tensor, got device type "
                              << t.device().device_type;
  }
  if (t.dtype() != dtype) {
    TVM_FFI_THROW(ValueError) << func << ": " << arg << " must have dtype " << dtype << ", got "
                              << t.dtype();
  }
  if (ndim >= 0 && t.ndim() != ndim) {
    TVM_FFI_THROW(ValueError) << func << ": " << arg << " must be " << ndim << "-D, got shape "
                              << ShapeString(t.shape());
  }
  if (!t.IsContiguous()) {
    TVM_FFI_THROW(ValueError) << func << ": " << arg << " must be a compact row-major tensor";
  }
}

/*!
 * \brief Checks that an output has exactly the given shape.
 * \param func The kernel's name, for the message.
 * \param arg The output's name, for the message.
 * \param t The output.
 * \param shape The shape it must have.
 */
inline void CheckShape(const char* func, const char* arg, const tvm::ffi::TensorView& t,
                       tvm::ffi::ShapeView shape) {
  bool same = t.ndim() == static_cast<int>(shape.size());
  for (int i = 0; same && i < t.ndim(); ++i) same = t.size(i) == shape[i];
  if (!same) {
    TVM_FFI_THROW(ValueError) << func << ": " << arg << " must have shape " << ShapeString(shape)
                              << ", got " << ShapeString(t.shape());
  }
}

}  // namespace aot_kernels

#endif  // AOT_KERNELS_CHECKS_H_

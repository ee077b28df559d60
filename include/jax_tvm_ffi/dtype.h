/*!
 * \file jax_tvm_ffi/dtype.h
 * \brief The mapping from XLA element types to DLPack data types.
 */
#ifndef JAX_TVM_FFI_DTYPE_H_
#define JAX_TVM_FFI_DTYPE_H_

#include <dlpack/dlpack.h>
#include <xla/ffi/api/c_api.h>

namespace jax_tvm_ffi {

/*! \brief How an XLA element type appears to a TVM FFI function. */
struct DTypeMapping {
  /*! \brief False when the type has no DLPack equivalent (TOKEN, INVALID, unknown codes). */
  bool valid;
  DLDataType dtype;
  /*!
   * \brief True for packed 4-bit floats, which are described as 2-lane bytes: the tensor's
   *        last dimension is halved (rounded up) so the view covers whole bytes.
   */
  bool halve_last_dim;
};

/*! \brief Maps an XLA element type; never fails, check DTypeMapping::valid. */
DTypeMapping MapDataType(XLA_FFI_DataType type);

/*! \brief The XLA name of an element type ("F32", "BF16", ...), or "UNKNOWN" for a code it does not
 * know. */
const char* DataTypeName(XLA_FFI_DataType type);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_DTYPE_H_

/*!
 * \file buffer_decoder.h
 * \brief Decoding of a call frame's argument and result buffers into DLTensor views of XLA's
 *        memory (zero-copy), with compact row-major strides filled in, or the strides of the
 *        layouts the target was registered with (TargetOptions::input_layouts, output_layouts).
 */
#ifndef JAX_TVM_FFI_SRC_CALL_BUFFER_DECODER_H_
#define JAX_TVM_FFI_SRC_CALL_BUFFER_DECODER_H_

#include <dlpack/dlpack.h>
#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {

/*!
 * \brief The memory orders of a call's buffers, as TargetOptions::input_layouts and
 *        output_layouts give them (minor-most dimension first). Null: every buffer row-major.
 */
struct BufferLayouts {
  const std::vector<std::vector<int64_t>>* args = nullptr;
  const std::vector<std::vector<int64_t>>* rets = nullptr;
};

/*!
 * \brief Whether the options give any buffer a layout other than dense row-major (an entry that
 *        is neither empty nor the row-major order n-1, ..., 0).
 */
bool HasNonDefaultLayouts(const TargetOptions& options);

/*!
 * \brief Checks the options' layouts at registration: every entry a permutation of 0..n-1, and no
 *        layout on a target that passes owned tensors (those are allocated row-major).
 * \param target The target's name, for the message.
 * \throws tvm::ffi::Error (ValueError) naming the target, the operand and the problem.
 */
void CheckLayouts(const std::string& target, const TargetOptions& options);

/*!
 * \brief The tensors of one call: the arguments, then the results.
 *
 * A view's shape points at XLA's own dimension array (it lives as long as the call frame); only
 * strides, and the halved shapes of packed 4-bit floats, need storage. Storage for typical calls
 * (up to kInlineTensors tensors and kInlineDims stride/shape entries) lives inside the object, so
 * a decoder on the stack makes no heap allocation. Token buffers carry no data and are left out.
 */
class BufferDecoder {
 public:
  static constexpr size_t kInlineTensors = 16;
  static constexpr size_t kInlineDims = 128;

  BufferDecoder() = default;
  BufferDecoder(const BufferDecoder&) = delete;
  BufferDecoder& operator=(const BufferDecoder&) = delete;

  /*!
   * \brief Decodes the frame's buffers; views stay valid while this object and the frame live.
   * \param args The call frame's arguments.
   * \param rets The call frame's results.
   * \param device The device every view is placed on.
   * \param layouts The buffers' memory orders (see TargetOptions::input_layouts), indexed like
   *        the frame's buffers; nullptr: all row-major.
   * \return A failure naming the buffer for a non-buffer value, a negative rank, an element
   *         type with no DLPack equivalent, or a layout that names more dimensions than the
   *         buffer has (or any, for packed 4-bit floats).
   */
  Status Decode(const XLA_FFI_Args& args, const XLA_FFI_Rets& rets, DLDevice device,
                const BufferLayouts* layouts = nullptr);

  size_t num_args() const { return num_args_; }
  size_t num_rets() const { return num_rets_; }
  DLTensor* arg(size_t i) { return &tensors_[i]; }
  DLTensor* ret(size_t i) { return &tensors_[num_args_ + i]; }
  /*! \brief All tensors: num_args() arguments followed by num_rets() results. */
  DLTensor* tensors() { return tensors_; }

 private:
  // Decodes one list (arguments or results) into tensors_, counting views in *count.
  // `layouts` (may be null) gives the list's memory orders.
  Status DecodeList(int64_t size, const int32_t* types, void* const* values, bool is_result,
                    DLDevice device, const std::vector<std::vector<int64_t>>* layouts,
                    size_t* count);

  DLTensor inline_tensors_[kInlineTensors];
  int64_t inline_dims_[kInlineDims];
  std::unique_ptr<DLTensor[]> heap_tensors_;
  std::unique_ptr<int64_t[]> heap_dims_;
  DLTensor* tensors_ = inline_tensors_;
  size_t num_args_ = 0;
  size_t num_rets_ = 0;
  int64_t* next_dims_ = nullptr;
  int64_t* dims_end_ = nullptr;
  bool dims_overflow_ = false;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_BUFFER_DECODER_H_

/*!
 * \file entry_points.h
 * \brief Distinct XLA FFI handler entry points, made at run time, without limit.
 *
 * An XLA FFI handler is a bare function pointer with no user-data argument, so each target needs
 * a function of its own. Instead of a fixed table of precompiled functions (a hard cap), each
 * entry point is a few machine instructions written into an executable page: it loads the
 * address of its context slot into the second argument register and jumps to one shared
 * dispatcher. Pages are written once, then made read-only and executable (never writable and
 * executable at the same time). Supported on x86-64 and AArch64.
 */
#ifndef JAX_TVM_FFI_SRC_REGISTRATION_ENTRY_POINTS_H_
#define JAX_TVM_FFI_SRC_REGISTRATION_ENTRY_POINTS_H_

#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <memory>
#include <vector>

namespace jax_tvm_ffi {

/*!
 * \brief The function every entry point of a pool jumps to.
 * \param frame The call frame XLA passed to the entry point.
 * \param context The context pointer the entry point was created with.
 */
using Dispatcher = XLA_FFI_Error* (*)(XLA_FFI_CallFrame* frame, void* context);

/*! \brief A growing set of entry points that share one dispatcher. Not thread-safe. */
class EntryPointPool {
 public:
  explicit EntryPointPool(Dispatcher dispatcher);
  ~EntryPointPool();
  EntryPointPool(const EntryPointPool&) = delete;
  EntryPointPool& operator=(const EntryPointPool&) = delete;

  /*!
   * \brief Makes a new entry point; calling it calls dispatcher(frame, context). Entry points
   *        live as long as the pool.
   * \throws tvm::ffi::Error (RuntimeError) if executable memory cannot be had or the CPU
   *         architecture is not supported.
   */
  XLA_FFI_Handler* Create(void* context);

  /*! \brief The number of entry points made so far. */
  size_t size() const { return size_; }

 private:
  struct Page;
  void AddPage();

  Dispatcher dispatcher_;
  std::vector<std::unique_ptr<Page>> pages_;
  size_t size_ = 0;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_REGISTRATION_ENTRY_POINTS_H_

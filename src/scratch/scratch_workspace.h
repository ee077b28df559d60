/*!
 * \file scratch_workspace.h
 * \brief A caller-provided workspace that a call's scratch tensors are carved from (the
 *        use_last_output_for_alloc_workspace mode of the published jax-tvm-ffi 0.1.3).
 *
 * The caller sizes the workspace (the call's last result, a 1-D uint8 buffer); the bridge serves
 * every scratch request on the workspace's device from it, bumping an offset. Each tensor's
 * address is a multiple of kWorkspaceAlignment. A tensor released while it is the newest one
 * gives its bytes back, so scopes that allocate and release in stack order reuse memory.
 */
#ifndef JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_WORKSPACE_H_
#define JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_WORKSPACE_H_

#include <dlpack/dlpack.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace jax_tvm_ffi {

/*! \brief The alignment of every tensor's address in a workspace, in bytes. */
constexpr uint64_t kWorkspaceAlignment = 128;

/*! \brief One call's workspace: where it is, and how much of it is in use. */
class Workspace {
 public:
  /*!
   * \param base The workspace's memory (host or device, never dereferenced here).
   * \param capacity Its size in bytes.
   * \param device Where it lives: requests on this device are carved from it.
   */
  Workspace(void* base, uint64_t capacity, DLDevice device)
      : base_(reinterpret_cast<uintptr_t>(base)),
        capacity_(capacity),
        device_(device),
        lead_((kWorkspaceAlignment - base_ % kWorkspaceAlignment) % kWorkspaceAlignment),
        top_(lead_) {}

  /*! \brief Whether a request on `device` is served from this workspace. */
  bool Serves(DLDevice device) const {
    return device.device_type == device_.device_type && device.device_id == device_.device_id;
  }

  /*! \brief Where a carved tensor lies, to give it back with Release(). */
  struct Carved {
    void* data;
    /*! \brief The in-use offset before the tensor was carved, restored by Release(). */
    uint64_t previous_top;
    /*! \brief The offset one past the tensor. */
    uint64_t end;
  };

  /*!
   * \brief Carves `bytes` at the next aligned address.
   * \param request What was asked for ("float32[1000]"), for the error.
   * \param error Receives "Workspace overflow: ..." with the sizes when it does not fit.
   */
  bool Carve(uint64_t bytes, const std::string& request, Carved* out, std::string* error);

  /*! \brief Gives a carved tensor back; its bytes are reused only if it is the newest one. */
  void Release(const Carved& carved) {
    if (carved.end == top_) top_ = carved.previous_top;
  }

  /*!
   * \brief The most bytes in use at once, counted from the workspace's first 128-byte boundary
   *        (as the published bridge counts): the workspace a call needs when XLA's buffer is
   *        128-byte aligned, and up to 127 bytes less than it needs otherwise.
   */
  uint64_t peak() const { return peak_; }
  uint64_t capacity() const { return capacity_; }

 private:
  uintptr_t base_;
  uint64_t capacity_;
  DLDevice device_;
  /*! \brief The bytes before the first aligned address, never used. */
  uint64_t lead_;
  /*! \brief The offset of the first free byte. */
  uint64_t top_;
  uint64_t peak_ = 0;
};

/*! \brief Records the peak of the last call with a workspace on the calling thread. */
void SetLastWorkspacePeak(uint64_t bytes);

/*! \brief The peak of the last call with a workspace on the calling thread; 0 if none. */
uint64_t LastWorkspacePeak();

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_SCRATCH_SCRATCH_WORKSPACE_H_

/*!
 * \file scratch_workspace.cc
 * \brief Carving scratch tensors out of a caller-provided workspace (see scratch_workspace.h).
 */
#include "scratch/scratch_workspace.h"

#include <algorithm>
#include <string>

namespace jax_tvm_ffi {
namespace {

thread_local uint64_t last_workspace_peak = 0;

}  // namespace

bool Workspace::Carve(uint64_t bytes, const std::string& request, Carved* out, std::string* error) {
  // top_ + padding cannot wrap: top_ never passes capacity_ by more than lead_ (< 128), and a
  // buffer XLA made ends well below 2^64.
  const uint64_t address = base_ + top_;
  const uint64_t padding =
      (kWorkspaceAlignment - address % kWorkspaceAlignment) % kWorkspaceAlignment;
  const uint64_t free_bytes = top_ + padding <= capacity_ ? capacity_ - top_ - padding : 0;
  if (bytes > free_bytes) {
    *error = "Workspace overflow: " + request + " needs " + std::to_string(bytes) + " bytes at a " +
             std::to_string(kWorkspaceAlignment) + "-byte aligned address, but only " +
             std::to_string(free_bytes) + " of the workspace's " + std::to_string(capacity_) +
             " bytes are free (" + std::to_string(top_ > lead_ ? top_ - lead_ : 0) +
             " in use after " + std::to_string(lead_) +
             " bytes before its first aligned address); pass a larger workspace as the last "
             "result";
    return false;
  }
  out->previous_top = top_;
  out->data = reinterpret_cast<void*>(address + padding);
  top_ += padding + bytes;
  out->end = top_;
  peak_ = std::max(peak_, top_ - lead_);
  return true;
}

void SetLastWorkspacePeak(uint64_t bytes) { last_workspace_peak = bytes; }

uint64_t LastWorkspacePeak() { return last_workspace_peak; }

}  // namespace jax_tvm_ffi

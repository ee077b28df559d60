/*!
 * \file scratch_allocator.cc
 * \brief The bridge's TVM FFI environment allocator and the scratch memory of a call.
 *
 * A scratch tensor is one ScratchBlock: a header (the DLPack tensor TVM FFI wraps, and its shape)
 * followed, for host tensors, by the data, all in one bump of the call's arena. Device data comes
 * from XLA. The header outlives the call when the function keeps the tensor, so the arena is
 * reference counted by its live blocks (see ScratchArena).
 */
#include "scratch/scratch_allocator.h"

#include <tvm/ffi/extra/c_env_api.h>

#include <algorithm>
#include <atomic>
#include <new>
#include <string>
#include <utility>

#include "base/error.h"
#include "base/predict.h"
#include "base/round_up.h"
#include "base/tensor_bytes.h"
#include "jax_tvm_ffi/scratch.h"
#include "scratch/scratch_stats.h"

namespace jax_tvm_ffi {

struct ScratchBlock {
  DLManagedTensorVersioned managed;
  ScratchArena* arena;
  ScratchStats* stats;
  /*! \brief The call that made the block; only that call's thread ever sees it current. */
  uint64_t call_id;
  /*! \brief The tensor's size in bytes. */
  size_t bytes;
  /*! \brief The arena bytes of the block: header and shape, and host data. */
  size_t region_bytes;
  /*! \brief The data came from XLA's device allocator. */
  bool on_device;
  /*! \brief The data was carved from the call's workspace, at `carved`. */
  bool in_workspace;
  Workspace::Carved carved;
  /*! \brief The device data went back to XLA. */
  bool device_freed;
  /*! \brief Set when the tensor is released off the call's thread or after the call. */
  std::atomic<bool> released;
  ScratchBlock* prev;
  ScratchBlock* next;

  int64_t* shape() { return reinterpret_cast<int64_t*>(this + 1); }
};

// The friend of ScratchScope that the C callbacks below go through.
struct ScratchAccess {
  static bool Allocate(ScratchScope* scope, const DLTensor& prototype,
                       DLManagedTensorVersioned** out, ScratchScope::AllocError* error) {
    return scope->Allocate(prototype, out, error);
  }
  static bool OwnsBlock(const ScratchScope* scope, const ScratchBlock* block) {
    return scope->allocations_.has_value() && scope->allocations_->call_id == block->call_id;
  }
  static void ReleaseDuringCall(ScratchScope* scope, ScratchBlock* block) {
    scope->ReleaseDuringCall(block);
  }
};

namespace {

// Read and written twice by every call. The initial-exec model makes each access one
// thread-pointer-relative load instead of a __tls_get_addr call (about 30 instructions per call
// in the Python module); it takes 8 bytes of the static TLS space glibc keeps for libraries
// loaded with dlopen.
[[gnu::tls_model("initial-exec")]] thread_local ScratchThreadState thread_state = {nullptr};

// The arena the next call on this thread starts from, kept between calls.
struct IdleArena {
  ScratchArena* arena = nullptr;
  ~IdleArena() { delete arena; }
};
thread_local IdleArena idle_arena;

std::atomic<uint64_t> next_call_id{1};

// "cpu:0", "cuda:1", or "device type 12:0" for types without a short name.
std::string DeviceString(DLDevice device) {
  std::string name;
  switch (device.device_type) {
    case kDLCPU:
      name = "cpu";
      break;
    case kDLCUDA:
      name = "cuda";
      break;
    case kDLROCM:
      name = "rocm";
      break;
    case kDLCUDAHost:
      name = "cuda_host";
      break;
    case kDLCUDAManaged:
      name = "cuda_managed";
      break;
    default:
      name = "device type " + std::to_string(device.device_type);
  }
  return name + ":" + std::to_string(device.device_id);
}

void DeleteScratchBlock(DLManagedTensorVersioned* managed) {
  auto* block = static_cast<ScratchBlock*>(managed->manager_ctx);
  ScratchScope* scope = thread_state.current_scope;
  if (scope != nullptr && ScratchAccess::OwnsBlock(scope, block)) {
    ScratchAccess::ReleaseDuringCall(scope, block);
    return;
  }
  // Released on another thread, or after the call: the call's Finish() gives device memory back
  // (or already did), and the arena goes when its last block does.
  block->stats->RemoveOutstanding();
  ScratchArena* arena = block->arena;
  block->released.store(true, std::memory_order_release);
  if (arena->DropRef()) delete arena;
}

int ServeScratch(DLTensor* prototype, DLManagedTensorVersioned** out, void* error_ctx,
                 void (*set_error)(void* error_ctx, const char* kind, const char* message));

int ReportAllocError(void* error_ctx, void (*set_error)(void*, const char*, const char*),
                     const char* kind, const char* message) {
  if (set_error != nullptr) set_error(error_ctx, kind, message);
  return -1;
}

// A request reaching the bridge's allocator outside a call. The bridge's allocator stays on a
// thread between calls only where the thread had none of its own (see ScratchScope::Enter), so
// the request gets what TVM FFI gives such a thread: the global allocator, if any.
[[gnu::noinline]] int ServeOutsideCalls(DLTensor* prototype, DLManagedTensorVersioned** out,
                                        void* error_ctx,
                                        void (*set_error)(void*, const char*, const char*)) {
  // TVM FFI answers the thread's allocator before the global one and has no call for the global
  // one alone: empty the thread's slot for a moment to read it.
  DLPackManagedTensorAllocator global = nullptr;
  DLPackManagedTensorAllocator ours = nullptr;
  if (TVMFFIEnvSetDLPackManagedTensorAllocator(nullptr, 0, &ours) == 0) {
    global = TVMFFIEnvGetDLPackManagedTensorAllocator();
    TVMFFIEnvSetDLPackManagedTensorAllocator(ours, 0, nullptr);
  }
  if (global != nullptr && global != &ServeScratch) {
    return global(prototype, out, error_ctx, set_error);
  }
  if (global == &ServeScratch) {
    // Written there from a read of the allocator in effect, which answers this function during
    // a call and, between calls, on a thread it stays on. What it replaced is gone from TVM FFI,
    // and forwarding to the global one would loop. (Another copy of the core's, in a test binary
    // beside the Python module, ends up here too and stops.)
    return ReportAllocError(
        error_ctx, set_error, "RuntimeError",
        "TVM FFI's global tensor allocator is jax_tvm_ffi's own, which serves only during a "
        "jax_tvm_ffi call: it was written back globally after being read with "
        "TVMFFIEnvGetDLPackManagedTensorAllocator (or as the previous allocator) during a call, "
        "or on a thread that ran one, where it stands in for the global allocator; set the "
        "global allocator again with TVMFFIEnvSetDLPackManagedTensorAllocator");
  }
  return ReportAllocError(error_ctx, set_error, "RuntimeError",
                          "no TVM FFI tensor allocator is installed on this thread outside a "
                          "jax_tvm_ffi call (TVMFFIEnvSetDLPackManagedTensorAllocator was not "
                          "called, on this thread or globally)");
}

// The bridge's DLPackManagedTensorAllocator. No exception leaves it.
int ServeScratch(DLTensor* prototype, DLManagedTensorVersioned** out, void* error_ctx,
                 void (*set_error)(void* error_ctx, const char* kind, const char* message)) {
  auto report = [&](const char* kind, const char* message) {
    return ReportAllocError(error_ctx, set_error, kind, message);
  };
  ScratchScope* scope = thread_state.current_scope;
  if (scope == nullptr) return ServeOutsideCalls(prototype, out, error_ctx, set_error);
  if (prototype == nullptr || out == nullptr) {
    return report("ValueError", "scratch allocation with a null prototype or output");
  }
  try {
    ScratchScope::AllocError error{nullptr, {}};
    if (ScratchAccess::Allocate(scope, *prototype, out, &error)) return 0;
    return report(error.kind, error.message.c_str());
  } catch (const std::bad_alloc&) {
    return report("MemoryError", "out of host memory while allocating a scratch tensor");
  } catch (...) {
    return report("InternalError", "unexpected failure while allocating a scratch tensor");
  }
}

}  // namespace

Status ScratchScope::Enter() {
  ScratchThreadState& thread = thread_state;
  thread_ = &thread;
  // Any code on this thread may have set another allocator since the last call (a framework's
  // "set, call, restore" scope, or a global one), so every call looks at the one in effect: one
  // call into TVM FFI, and nothing more when it is ours.
  if (JAX_TVM_FFI_UNLIKELY(TVMFFIEnvGetDLPackManagedTensorAllocator() != &ServeScratch)) {
    DLPackManagedTensorAllocator previous = nullptr;
    if (TVMFFIEnvSetDLPackManagedTensorAllocator(&ServeScratch, /*write_to_global_context=*/0,
                                                 &previous) != 0) {
      return TakeRaisedTvmError();
    }
    // Where the thread had no allocator of its own, ours stays after the call: outside calls it
    // serves as an empty slot would (ServeOutsideCalls), and the next call finds it in effect.
    // Where it had one, that one is put back when the call ends, so that code around the call
    // (and whoever restores it later) sees exactly what it set.
    restore_allocator_ = previous;
  }
  enclosing_ = thread.current_scope;
  thread.current_scope = this;
  state_ = State::kEntered;
  return Status();
}

bool ScratchScope::AcquireArena() {
  ScratchArena* arena = idle_arena.arena;
  if (arena != nullptr) {
    idle_arena.arena = nullptr;
  } else {
    arena = new (std::nothrow) ScratchArena();
    if (arena == nullptr) return false;
  }
  allocations_.emplace();
  allocations_->arena = arena;
  allocations_->call_id = next_call_id.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool ScratchScope::Allocate(const DLTensor& prototype, DLManagedTensorVersioned** out,
                            AllocError* error) {
  Placement placement{};
  Sizes sizes{};
  char* region = nullptr;
  void* data = nullptr;
  Workspace::Carved carved{};
  if (!CheckDevice(prototype, &placement, error) ||
      !SizeRequest(prototype, placement, &sizes, error) || !TakeHeader(sizes, &region, error) ||
      !TakeData(prototype, placement, sizes, region, &data, &carved, error)) {
    return false;
  }
  *out = LinkBlock(prototype, placement, sizes, region, data, carved);
  return true;
}

bool ScratchScope::CheckDevice(const DLTensor& prototype, Placement* placement,
                               AllocError* error) const {
  const DLDevice device = prototype.device;
  const DLDevice call_device{binding_.device_type, device_id_};
  placement->in_workspace = workspace_ != nullptr && workspace_->Serves(device);
  // Host memory anywhere; device memory only on the device of a GPU call.
  placement->on_device = device.device_type != kDLCPU && !placement->in_workspace;
  if (!placement->on_device) return true;
  if (!(binding_.uses_stream && device.device_type == binding_.device_type)) {
    *error = {"ValueError", "no scratch memory on " + DeviceString(device) + " during a call on " +
                                DeviceString(call_device) + "; ask for cpu or the call's device"};
    return false;
  }
  if (device.device_id != device_id_) {
    *error = {"ValueError", "scratch tensor requested on " + DeviceString(device) +
                                " during a call on " + DeviceString(call_device) +
                                "; XLA serves memory only on the call's device"};
    return false;
  }
  return true;
}

bool ScratchScope::SizeRequest(const DLTensor& prototype, Placement placement, Sizes* sizes,
                               AllocError* error) {
  uint64_t bytes = 0;
  std::string problem;
  if (!ScratchTensorBytes(prototype, &bytes, &problem)) {
    *error = {"ValueError", "invalid scratch tensor: " + problem};
    return false;
  }
  static_assert(sizeof(size_t) >= sizeof(uint64_t), "kMaxScratchBytes must fit in size_t");
  sizes->data = static_cast<size_t>(bytes);
  // ndim is below 2^31, so the header (the block and its shape) is below 2^35 bytes, and host
  // data below 2^48 bytes: the region's sum and rounding cannot overflow.
  RoundUp(sizeof(ScratchBlock) + sizeof(int64_t) * static_cast<size_t>(prototype.ndim),
          kCpuScratchAlignment, &sizes->header);
  const bool host_data = !placement.on_device && !placement.in_workspace;
  sizes->region = sizes->header + (host_data ? sizes->data : 0);
  return true;
}

bool ScratchScope::TakeHeader(const Sizes& sizes, char** region, AllocError* error) {
  if (!allocations_.has_value() && !AcquireArena()) {
    *error = {"MemoryError", "out of host memory for the scratch arena"};
    return false;
  }
  *region = static_cast<char*>(allocations_->arena->Allocate(sizes.region));
  if (*region == nullptr) {
    *error = {"MemoryError", "out of host memory: a scratch tensor of " +
                                 std::to_string(sizes.data) + " bytes does not fit"};
    return false;
  }
  return true;
}

bool ScratchScope::TakeData(const DLTensor& prototype, Placement placement, const Sizes& sizes,
                            char* region, void** data, Workspace::Carved* carved,
                            AllocError* error) {
  if (placement.in_workspace) {
    std::string overflow;
    if (!workspace_->Carve(sizes.data, DescribeTensor(prototype), carved, &overflow)) {
      allocations_->arena->Release(region, sizes.region);
      *error = {"MemoryError", std::move(overflow)};
      return false;
    }
    *data = carved->data;
    return true;
  }
  if (placement.on_device) {
    XLA_FFI_DeviceMemory_Allocate_Args args{XLA_FFI_DeviceMemory_Allocate_Args_STRUCT_SIZE,
                                            nullptr,
                                            ctx_,
                                            std::max<size_t>(sizes.data, 1),
                                            kGpuScratchAlignment,
                                            nullptr};
    if (XLA_FFI_Error* xla_error = api_->XLA_FFI_DeviceMemory_Allocate(&args)) {
      allocations_->arena->Release(region, sizes.region);
      Status status = TakeXlaError(api_, xla_error,
                                   ("allocate " + std::to_string(sizes.data) +
                                    " bytes of scratch on " + DeviceString(prototype.device))
                                       .c_str());
      *error = {"MemoryError", status.message()};
      return false;
    }
    *data = args.data;
    return true;
  }
  *data = region + sizes.header;  // Host data follows the header in the same region.
  return true;
}

DLManagedTensorVersioned* ScratchScope::LinkBlock(const DLTensor& prototype, Placement placement,
                                                  const Sizes& sizes, char* region, void* data,
                                                  const Workspace::Carved& carved) {
  ScratchAllocations& call = *allocations_;
  auto* block = new (region) ScratchBlock();
  block->arena = call.arena;
  block->stats = binding_.scratch_stats;
  block->call_id = call.call_id;
  block->bytes = sizes.data;
  block->region_bytes = sizes.region;
  block->on_device = placement.on_device;
  block->in_workspace = placement.in_workspace;
  block->carved = carved;
  block->device_freed = false;
  block->released.store(false, std::memory_order_relaxed);
  std::copy(prototype.shape, prototype.shape + prototype.ndim, block->shape());

  DLManagedTensorVersioned& managed = block->managed;
  managed.version.major = DLPACK_MAJOR_VERSION;
  managed.version.minor = DLPACK_MINOR_VERSION;
  managed.manager_ctx = block;
  managed.deleter = &DeleteScratchBlock;
  managed.flags = 0;
  managed.dl_tensor.data = data;
  managed.dl_tensor.device = prototype.device;
  managed.dl_tensor.ndim = prototype.ndim;
  managed.dl_tensor.dtype = prototype.dtype;
  managed.dl_tensor.shape = prototype.ndim > 0 ? block->shape() : nullptr;
  managed.dl_tensor.strides = nullptr;  // Compact row-major.
  managed.dl_tensor.byte_offset = 0;

  block->prev = nullptr;
  block->next = call.blocks;
  if (call.blocks != nullptr) call.blocks->prev = block;
  call.blocks = block;
  call.arena->AddRef();
  block->stats->AddOutstanding();
  ++call.count;
  call.live_bytes += sizes.data;
  call.peak_bytes = std::max(call.peak_bytes, call.live_bytes);
  return &managed;
}

bool ScratchScope::FreeDeviceMemory(ScratchBlock* block) {
  block->device_freed = true;
  XLA_FFI_DeviceMemory_Free_Args args{XLA_FFI_DeviceMemory_Free_Args_STRUCT_SIZE, nullptr, ctx_,
                                      std::max<size_t>(block->bytes, 1),
                                      block->managed.dl_tensor.data};
  if (XLA_FFI_Error* error = api_->XLA_FFI_DeviceMemory_Free(&args)) {
    Status status = TakeXlaError(api_, error, "take scratch device memory back");
    if (allocations_->free_error.ok()) allocations_->free_error = std::move(status);
    return false;
  }
  return true;
}

void ScratchScope::ReleaseDuringCall(ScratchBlock* block) {
  if (block->prev != nullptr) block->prev->next = block->next;
  if (block->next != nullptr) block->next->prev = block->prev;
  ScratchAllocations& call = *allocations_;
  if (call.blocks == block) call.blocks = block->next;
  if (block->on_device) FreeDeviceMemory(block);
  if (block->in_workspace) workspace_->Release(block->carved);
  call.live_bytes -= block->bytes;
  block->stats->RemoveOutstanding();
  call.arena->Release(block, block->region_bytes);
  call.arena->DropRef();  // Never the last reference: this call holds one.
}

void ScratchScope::RestoreAllocator() {
  // Cannot fail: the thread's TVM FFI context exists since Enter() used it.
  TVMFFIEnvSetDLPackManagedTensorAllocator(restore_allocator_, /*write_to_global_context=*/0,
                                           nullptr);
}

Status ScratchScope::FinishAllocations() {
  ScratchStats& stats = *binding_.scratch_stats;
  uint64_t kept = 0;
  uint64_t kept_in_workspace = 0;
  ScratchAllocations& call = *allocations_;
  for (ScratchBlock* block = call.blocks; block != nullptr; block = block->next) {
    if (block->on_device && !block->device_freed) FreeDeviceMemory(block);
    if (!block->released.load(std::memory_order_acquire)) {
      ++kept;
      kept_in_workspace += block->in_workspace ? 1 : 0;
    }
  }
  call.blocks = nullptr;
  stats.RecordCall(call.count, call.peak_bytes);
  ScratchArena* arena = call.arena;
  if (arena->sole_owner()) {
    arena->Reset();
    if (idle_arena.arena == nullptr) {
      idle_arena.arena = arena;
    } else {
      delete arena;  // Calls nested on this thread: one idle arena is enough.
    }
  } else if (arena->DropRef()) {
    delete arena;  // The kept tensors were released in the meantime.
  }
  Status free_error = std::move(call.free_error);
  allocations_.reset();
  if (kept_in_workspace != 0) {
    // The published bridge's words, which code written for it looks for, then ours.
    return Status::Error(
        XLA_FFI_Error_Code_FAILED_PRECONDITION,
        "Leaked workspace allocations: the function kept " + std::to_string(kept_in_workspace) +
            " tensor(s) carved from the workspace (the call's last result) past the end of the "
            "call; workspace memory is the caller's and lives for one call");
  }
  if (kept != 0) {
    return Status::Error(
        XLA_FFI_Error_Code_FAILED_PRECONDITION,
        "the function kept " + std::to_string(kept) +
            " scratch tensor(s) from TVMFFIEnvTensorAlloc past the end of the call; scratch "
            "memory lives for one call (host memory stays valid until the tensor is released, "
            "device memory went back to XLA)");
  }
  return free_error;
}

}  // namespace jax_tvm_ffi

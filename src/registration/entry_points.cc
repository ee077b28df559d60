/*!
 * \file entry_points.cc
 * \brief Run-time generated entry points (see entry_points.h).
 */
#include "registration/entry_points.h"

#include <sys/mman.h>
#include <tvm/ffi/error.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace jax_tvm_ffi {
namespace {

// Bytes per entry point: room for the longest sequence below, one cache line.
constexpr size_t kEntryBytes = 64;

#if defined(__x86_64__)
// endbr64; movabs rsi, <slot>; mov rsi, [rsi]; movabs rax, <dispatcher>; jmp rax
// The return address XLA pushed stays on the stack, so the dispatcher returns straight to XLA.
size_t WriteEntry(uint8_t* out, void* const* slot, Dispatcher dispatcher) {
  const uint64_t slot_address = reinterpret_cast<uint64_t>(slot);
  const uint64_t target = reinterpret_cast<uint64_t>(dispatcher);
  uint8_t* p = out;
  const uint8_t endbr64[] = {0xF3, 0x0F, 0x1E, 0xFA};
  std::memcpy(p, endbr64, sizeof(endbr64)), p += sizeof(endbr64);
  *p++ = 0x48, *p++ = 0xBE;
  std::memcpy(p, &slot_address, 8), p += 8;
  *p++ = 0x48, *p++ = 0x8B, *p++ = 0x36;
  *p++ = 0x48, *p++ = 0xB8;
  std::memcpy(p, &target, 8), p += 8;
  *p++ = 0xFF, *p++ = 0xE0;
  return static_cast<size_t>(p - out);
}
constexpr uint8_t kFiller = 0xCC;  // int3
#elif defined(__aarch64__)
// bti c; ldr x1, <slot literal>; ldr x1, [x1]; ldr x16, <dispatcher literal>; br x16; nop;
// then the two 64-bit literals at offsets 24 and 32.
size_t WriteEntry(uint8_t* out, void* const* slot, Dispatcher dispatcher) {
  const uint32_t code[] = {0xD503245F, 0x580000A1, 0xF9400021, 0x580000B0, 0xD61F0200, 0xD503201F};
  const uint64_t slot_address = reinterpret_cast<uint64_t>(slot);
  const uint64_t target = reinterpret_cast<uint64_t>(dispatcher);
  std::memcpy(out, code, sizeof(code));
  std::memcpy(out + 24, &slot_address, 8);
  std::memcpy(out + 32, &target, 8);
  return 40;
}
constexpr uint8_t kFiller = 0x00;  // udf
#else
#define JAX_TVM_FFI_NO_ENTRY_POINTS 1
#endif

size_t PageBytes() {
  long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<size_t>(page) : 4096;
}

}  // namespace

struct EntryPointPool::Page {
  ~Page() {
    if (code != nullptr) munmap(code, code_bytes);
  }
  uint8_t* code = nullptr;
  size_t code_bytes = 0;
  std::unique_ptr<void*[]> slots;
  size_t capacity = 0;
  size_t used = 0;
};

EntryPointPool::EntryPointPool(Dispatcher dispatcher) : dispatcher_(dispatcher) {}

EntryPointPool::~EntryPointPool() = default;

void EntryPointPool::AddPage() {
#ifdef JAX_TVM_FFI_NO_ENTRY_POINTS
  TVM_FFI_THROW(RuntimeError) << "jax_tvm_ffi cannot make handler entry points on this CPU "
                                 "architecture (supported: x86-64, AArch64)";
#else
  auto page = std::make_unique<Page>();
  page->code_bytes = PageBytes();
  page->capacity = page->code_bytes / kEntryBytes;
  page->slots.reset(new void*[page->capacity]());
  void* memory =
      mmap(nullptr, page->code_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    TVM_FFI_THROW(RuntimeError) << "cannot map memory for handler entry points: "
                                << std::strerror(errno);
  }
  page->code = static_cast<uint8_t*>(memory);
  std::memset(page->code, kFiller, page->code_bytes);
  for (size_t i = 0; i < page->capacity; ++i) {
    WriteEntry(page->code + i * kEntryBytes, &page->slots[i], dispatcher_);
  }
  __builtin___clear_cache(reinterpret_cast<char*>(page->code),
                          reinterpret_cast<char*>(page->code + page->code_bytes));
  if (mprotect(page->code, page->code_bytes, PROT_READ | PROT_EXEC) != 0) {
    TVM_FFI_THROW(RuntimeError) << "cannot make handler entry points executable: "
                                << std::strerror(errno);
  }
  pages_.push_back(std::move(page));
#endif
}

XLA_FFI_Handler* EntryPointPool::Create(void* context) {
  if (pages_.empty() || pages_.back()->used == pages_.back()->capacity) AddPage();
  Page& page = *pages_.back();
  const size_t index = page.used++;
  page.slots[index] = context;
  ++size_;
  return reinterpret_cast<XLA_FFI_Handler*>(page.code + index * kEntryBytes);
}

}  // namespace jax_tvm_ffi

/*!
 * \file kernel_cache.cc
 * \brief Loading embedded kernels (see kernel_cache.h).
 */
#include "embedded/kernel_cache.h"

#include <link.h>
#include <sys/stat.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/module.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "embedded/sha256.h"

namespace jax_tvm_ffi {

struct LoadedLibrary {
  explicit LoadedLibrary(tvm::ffi::Module module) : module(std::move(module)) {}
  tvm::ffi::Module module;
};

namespace {

std::atomic<int>& AllowedState() {
  // -1: not decided yet (the environment is read on first use), 0: refused, 1: allowed.
  static std::atomic<int> state{-1};
  return state;
}

struct Cache {
  std::mutex mutex;
  // digest -> the library, while some call site holds it.
  std::map<std::string, std::weak_ptr<LoadedLibrary>> libraries;
};

Cache& TheCache() {
  static Cache* cache = new Cache();  // Never destroyed: executables may outlive static data.
  return *cache;
}

// A library already loaded in this process whose file holds exactly the payload's bytes: the
// process built or loaded the kernel itself and now runs a program that carries it. Loading a
// second copy would run its static initializers again, and a library that registers TVM FFI
// global functions there fails inside the loader; the loaded one is shared instead.
std::string FindLoadedCopy(const EmbeddedPayload& payload) {
  std::vector<std::string> paths;
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* out) {
        if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0') {
          static_cast<std::vector<std::string>*>(out)->emplace_back(info->dlpi_name);
        }
        return 0;
      },
      &paths);
  for (const std::string& path : paths) {
    struct stat file {};
    if (stat(path.c_str(), &file) != 0 || !S_ISREG(file.st_mode) ||
        static_cast<uint64_t>(file.st_size) != payload.library_size) {
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> bytes(payload.library_size);
    if (!in.read(reinterpret_cast<char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()))) {
      continue;
    }
    if (Sha256Hex(bytes.data(), bytes.size()) == payload.digest) return path;
  }
  return "";
}

// Writes the bytes to a new file with a ".so" name (the TVM FFI loader picks the loader by the
// extension), loads it and removes the name again: the loaded library needs no file name, and
// nothing is left behind.
Status LoadLibraryBytes(const EmbeddedPayload& payload, std::optional<tvm::ffi::Module>* out) {
  const std::string loaded = FindLoadedCopy(payload);
  if (!loaded.empty()) {
    try {
      out->emplace(tvm::ffi::Module::LoadFromFile(loaded));
      return Status();
    } catch (const tvm::ffi::Error&) {
      // Not loadable as a module after all (say, a plain dependency): load the bytes below.
    }
  }
  const char* tmpdir = std::getenv("TMPDIR");
  std::string path = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
                     "/jax_tvm_ffi_embedded_" + payload.digest.substr(0, 16) + "_XXXXXX.so";
  const int fd = mkstemps(path.data(), 3);
  if (fd < 0) {
    return Status::Error(
        XLA_FFI_Error_Code_INTERNAL,
        "cannot write the embedded kernel's library to " + path + ": " + std::strerror(errno));
  }
  size_t written = 0;
  while (written < payload.library_size) {
    const ssize_t n = write(fd, payload.library + written, payload.library_size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      close(fd);
      unlink(path.c_str());
      return Status::Error(XLA_FFI_Error_Code_INTERNAL,
                           "cannot write the embedded kernel's library to " + path + ": " + why);
    }
    written += static_cast<size_t>(n);
  }
  close(fd);
  Status status;
  try {
    out->emplace(tvm::ffi::Module::LoadFromFile(path));
  } catch (const tvm::ffi::Error& error) {
    status = Status::InvalidArgument("the embedded kernel's library does not load here: " +
                                     error.kind() + ": " + error.message());
  }
  unlink(path.c_str());
  return status;
}

}  // namespace

bool EmbeddedKernelsAllowed() {
  int state = AllowedState().load(std::memory_order_acquire);
  if (state < 0) {
    const char* refuse = std::getenv("JAX_TVM_FFI_REFUSE_EMBEDDED_KERNELS");
    int decided = refuse != nullptr && std::strcmp(refuse, "1") == 0 ? 0 : 1;
    // Another thread (or SetEmbeddedKernelsAllowed) may have decided first: its answer stands.
    AllowedState().compare_exchange_strong(state, decided, std::memory_order_acq_rel);
    state = AllowedState().load(std::memory_order_acquire);
  }
  return state == 1;
}

void SetEmbeddedKernelsAllowed(bool allowed) {
  AllowedState().store(allowed ? 1 : 0, std::memory_order_release);
}

Status LoadEmbeddedKernel(const EmbeddedPayload& payload, EmbeddedKernel* out) {
  if (!EmbeddedKernelsAllowed()) {
    return Status::Error(
        XLA_FFI_Error_Code_FAILED_PRECONDITION,
        "loading embedded kernels is refused in this process (jax_tvm_ffi.allow_embedded_kernels("
        "False) or JAX_TVM_FFI_REFUSE_EMBEDDED_KERNELS=1): the program carries native code "
        "that would run here");
  }
  Cache& cache = TheCache();
  std::shared_ptr<LoadedLibrary> library;
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto found = cache.libraries.find(payload.digest);
    if (found != cache.libraries.end()) library = found->second.lock();
    if (library == nullptr) {
      const std::string digest = Sha256Hex(payload.library, payload.library_size);
      if (digest != payload.digest) {
        return Status::InvalidArgument(
            "the embedded kernel's library does not match its digest (SHA-256 " + digest +
            ", the program says " + payload.digest + "): the program was altered or damaged");
      }
      std::optional<tvm::ffi::Module> module;
      Status status = LoadLibraryBytes(payload, &module);
      if (!status.ok()) return status;
      library = std::make_shared<LoadedLibrary>(*std::move(module));
      cache.libraries[payload.digest] = library;
    }
  }
  tvm::ffi::Optional<tvm::ffi::Function> function;
  try {
    function = library->module->GetFunction(payload.function);
  } catch (const tvm::ffi::Error& error) {
    return Status::InvalidArgument("cannot look up the embedded kernel's function '" +
                                   payload.function + "': " + error.message());
  }
  if (!function.has_value()) {
    return Status::InvalidArgument("the embedded kernel's library exports no function '" +
                                   payload.function + "'");
  }
  out->function = *std::move(function);
  out->library = std::move(library);
  return Status();
}

size_t EmbeddedLibrariesLoaded() {
  Cache& cache = TheCache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  size_t live = 0;
  for (auto it = cache.libraries.begin(); it != cache.libraries.end();) {
    if (it->second.expired()) {
      it = cache.libraries.erase(it);
    } else {
      ++live, ++it;
    }
  }
  return live;
}

}  // namespace jax_tvm_ffi

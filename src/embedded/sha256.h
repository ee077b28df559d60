/*!
 * \file sha256.h
 * \brief SHA-256 (FIPS 180-4), for the digest an embedded kernel's library travels with: the
 *        loading process checks the bytes it got against it before they are loaded.
 */
#ifndef JAX_TVM_FFI_SRC_EMBEDDED_SHA256_H_
#define JAX_TVM_FFI_SRC_EMBEDDED_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace jax_tvm_ffi {

/*! \brief The SHA-256 digest of `size` bytes at `data`. */
std::array<uint8_t, 32> Sha256(const uint8_t* data, size_t size);

/*! \brief The digest as 64 lowercase hexadecimal digits, as Python's hashlib hexdigest() writes it.
 */
std::string Sha256Hex(const uint8_t* data, size_t size);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_EMBEDDED_SHA256_H_

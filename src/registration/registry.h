/*!
 * \file registry.h
 * \brief What the registry keeps per target, for tests: how many registrations it holds.
 */
#ifndef JAX_TVM_FFI_SRC_REGISTRATION_REGISTRY_H_
#define JAX_TVM_FFI_SRC_REGISTRATION_REGISTRY_H_

#include <cstddef>
#include <string>

#include "jax_tvm_ffi/target.h"

namespace jax_tvm_ffi {

/*! \brief The registration slots of one target (see registry.cc). */
struct RegistrationSlots {
  /*! \brief Slots made for the target so far; released slots are reused, so this stays small. */
  size_t made = 0;
  /*! \brief Slots still holding a function: the current one, plus replaced ones in use. */
  size_t holding_a_function = 0;
};

/*!
 * \brief The registration slots of the target (name, platform); zeros if it is not registered.
 *        Thread-safe.
 */
RegistrationSlots GetRegistrationSlots(const std::string& name, Platform platform);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_REGISTRATION_REGISTRY_H_

/*!
 * \file api_version.h
 * \brief The XLA FFI API version a handler reports to the XLA that runs it.
 *
 * pip builds the core in an isolated environment with the newest jaxlib, so the headers it was
 * compiled against are often newer or older than the jaxlib that loads it. XLA accepts a handler
 * only if the version it reports is one XLA supports: since API 0.2 a range back to 0.1, before
 * that exactly its own. Within major version 0 every API entry and struct field the core uses has
 * existed since 0.1, and XLA reads only the fields its own struct sizes cover, so the core can
 * speak the version of whichever XLA runs it.
 */
#ifndef JAX_TVM_FFI_SRC_BASE_API_VERSION_H_
#define JAX_TVM_FFI_SRC_BASE_API_VERSION_H_

#include <xla/ffi/api/c_api.h>

#include <cstdint>

namespace jax_tvm_ffi {

/*! \brief A major.minor XLA FFI API version. */
struct ApiVersion {
  int32_t major;
  int32_t minor;
};

/*! \brief The version of the XLA FFI headers the core was compiled against. */
constexpr ApiVersion kCompiledApiVersion{XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR};

/*!
 * \brief Records the API version of the XLA in this process, for XLAs that query a handler's
 *        metadata without passing their API (before 0.2). Python reads it from the installed
 *        jaxlib's headers at import; C++ programs embedding XLA may call it themselves.
 */
void SetRuntimeApiVersion(ApiVersion version);

/*!
 * \brief The version of the XLA running: the one in its API table when the table has the field,
 *        else the one SetRuntimeApiVersion recorded, else the compiled one.
 */
ApiVersion RuntimeApiVersion(const XLA_FFI_Api* runtime_api);

/*!
 * \brief The version to report in a metadata query.
 * \param runtime_api The API in the query's call frame; null for XLAs before 0.2.
 * \return The compiled version, or the running XLA's own when that is older with the same major.
 */
ApiVersion ReportedApiVersion(const XLA_FFI_Api* runtime_api);

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_BASE_API_VERSION_H_

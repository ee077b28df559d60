/*!
 * \file jax_tvm_ffi/arg_spec.h
 * \brief The argument spec: which values of an XLA call frame a TVM FFI function receives, in
 *        which order. Parsed and validated once, at registration.
 */
#ifndef JAX_TVM_FFI_ARG_SPEC_H_
#define JAX_TVM_FFI_ARG_SPEC_H_

#include <cstddef>
#include <string>
#include <vector>

namespace jax_tvm_ffi {

/*! \brief What one arg_spec item stands for. */
enum class ArgKind {
  kArgs,      //!< "args": every input buffer, in order.
  kRets,      //!< "rets": every output buffer, in order.
  kAttr,      //!< "attrs.<name>": one attribute, looked up by name.
  kStream,    //!< "ctx.stream": the platform stream as an integer (0 on CPU).
  kDeviceId,  //!< "ctx.device_id": the device ordinal as an integer.
};

/*! \brief One parsed arg_spec item. */
struct ArgSpecItem {
  ArgKind kind;
  /*! \brief The attribute name, for kAttr only. */
  std::string attr_name;
};

/*!
 * \brief A validated arg_spec.
 *
 * Beyond the items themselves it precomputes what a call needs to match XLA's attributes, which
 * XLA passes sorted by name: the attribute names in that order and, for each, the item it feeds.
 */
class ArgSpec {
 public:
  /*!
   * \brief Parses and validates arg_spec items.
   * \param items The items, e.g. {"args", "attrs.eps", "rets"}.
   * \return The spec.
   * \throws tvm::ffi::Error of kind ValueError naming the offending item (with a suggestion
   *         for a near miss such as "ret") on an unknown, empty or repeated item.
   */
  static ArgSpec Parse(const std::vector<std::string>& items);

  /*! \brief The default spec, {"args", "rets"}. */
  static ArgSpec Default();

  /*! \brief The items in the order the function receives them. */
  const std::vector<ArgSpecItem>& items() const { return items_; }

  /*! \brief Attribute names, sorted bytewise as XLA sorts the call frame's attributes. */
  const std::vector<std::string>& sorted_attr_names() const { return sorted_attr_names_; }

  /*! \brief For each entry of sorted_attr_names(), the index of its item in items(). */
  const std::vector<size_t>& sorted_attr_items() const { return sorted_attr_items_; }

  /*! \brief The spec written back as items, e.g. "[args, attrs.eps, rets]", for messages. */
  std::string ToString() const;

 private:
  std::vector<ArgSpecItem> items_;
  std::vector<std::string> sorted_attr_names_;
  std::vector<size_t> sorted_attr_items_;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_ARG_SPEC_H_

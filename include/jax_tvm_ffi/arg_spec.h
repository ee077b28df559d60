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
  kArgs,      //!< "args": every input buffer not named by index, in order.
  kRets,      //!< "rets": every output buffer not named by index, in order.
  kArg,       //!< "args.<i>" / "args.<i>?": the i-th input buffer.
  kRet,       //!< "rets.<i>" / "rets.<i>?": the i-th output buffer.
  kNone,      //!< "none": None, for an optional parameter the target never uses.
  kAttr,      //!< "attrs.<name>": one attribute, looked up by name.
  kStream,    //!< "ctx.stream": the platform stream as an integer (0 on CPU).
  kDeviceId,  //!< "ctx.device_id": the device ordinal as an integer.
};

/*! \brief One parsed arg_spec item. */
struct ArgSpecItem {
  ArgKind kind;
  /*! \brief The attribute name, for kAttr only. */
  std::string attr_name;
  /*! \brief The buffer's index among the inputs (kArg) or outputs (kRet). */
  size_t index = 0;
  /*! \brief kArg / kRet written with "?": None when the buffer has zero elements. */
  bool optional = false;
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
   * \param items The items, e.g. {"args", "attrs.eps", "rets"} or {"rets.0", "args.1",
   *        "args.0?", "none"}.
   * \return The spec.
   * \throws tvm::ffi::Error of kind ValueError naming the offending item (with a suggestion
   *         for a near miss such as "ret") on an unknown, empty or repeated item, a malformed
   *         index, or a buffer named twice.
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

  /*! \brief The input indices named by "args.<i>" items, ascending. */
  const std::vector<size_t>& named_args() const { return named_args_; }
  /*! \brief The output indices named by "rets.<i>" items, ascending. */
  const std::vector<size_t>& named_rets() const { return named_rets_; }

  /*!
   * \brief Whether a call with these buffer counts passes every buffer exactly once, as a spec
   *        that names buffers by index requires. A list (inputs or outputs) the spec names no
   *        buffer of by index is not checked: "args" passes all of it, its absence none of it.
   * \return An empty string when it does; else what is wrong, naming the item ("arg_spec item
   *         \"args.2\" names input 2, but the call has 2 inputs").
   */
  std::string CheckBufferCounts(size_t num_args, size_t num_rets) const;
  /*! \brief CheckBufferCounts(...) is empty, decided without making a message. */
  bool BufferCountsOk(size_t num_args, size_t num_rets) const {
    return ListOk(named_args_, has_args_, num_args) && ListOk(named_rets_, has_rets_, num_rets);
  }

  /*! \brief The spec written back as items, e.g. "[args, attrs.eps, rets]", for messages. */
  std::string ToString() const;

  /*! \brief One item written back, e.g. "args.0?". */
  static std::string ItemText(const ArgSpecItem& item);

 private:
  static bool ListOk(const std::vector<size_t>& named, bool has_rest, size_t count) {
    return named.empty() || (named.back() < count && (has_rest || named.size() == count));
  }

  std::vector<ArgSpecItem> items_;
  std::vector<size_t> named_args_;
  std::vector<size_t> named_rets_;
  bool has_args_ = false;
  bool has_rets_ = false;
  std::vector<std::string> sorted_attr_names_;
  std::vector<size_t> sorted_attr_items_;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_ARG_SPEC_H_

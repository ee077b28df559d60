/*!
 * \file attr_names.cc
 * \brief Preparing attribute names for the call path (see attr_names.h).
 */
#include "call/attr_names.h"

namespace jax_tvm_ffi {

AttrNames::AttrNames(const std::vector<std::string>& sorted_names) : names_(sorted_names) {
  keys_.reserve(names_.size());
  for (const std::string& name : names_) {
    Key key{name.size(), Words{0, 0}};
    if (name.size() <= kMaxWordBytes) key.words = Read(name.data(), name.size());
    keys_.push_back(key);
  }
}

}  // namespace jax_tvm_ffi

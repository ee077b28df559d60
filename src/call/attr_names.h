/*!
 * \file attr_names.h
 * \brief The spec's attribute names, prepared at registration so that a call compares each name
 *        in a few loads and compares, not a call of memcmp: the straight path checks every
 *        call's attribute names against the spec's.
 */
#ifndef JAX_TVM_FFI_SRC_CALL_ATTR_NAMES_H_
#define JAX_TVM_FFI_SRC_CALL_ATTR_NAMES_H_

#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/predict.h"

namespace jax_tvm_ffi {

/*!
 * \brief Attribute names in XLA's sorted order. A name of up to 16 bytes is read as two words
 *        that together cover every byte (overlapping where it is shorter than both): for a given
 *        length, equal words mean equal names. Longer names are compared with memcmp.
 */
class AttrNames {
 public:
  AttrNames() = default;
  explicit AttrNames(const std::vector<std::string>& sorted_names);

  size_t size() const { return keys_.size(); }

  /*!
   * \brief Whether `attrs` are exactly these names, in this order: then attribute w of the frame
   *        is name w. Names are compared whole, as XLA's own binding compares them.
   */
  bool MatchInOrder(const XLA_FFI_Attrs& attrs) const {
    if (static_cast<size_t>(attrs.size) != keys_.size()) return false;
    for (size_t w = 0; w < keys_.size(); ++w) {
      const XLA_FFI_ByteSpan& name = *attrs.names[w];
      const Key& key = keys_[w];
      if (name.len != key.len) return false;
      if (JAX_TVM_FFI_UNLIKELY(key.len > kMaxWordBytes)) {
        if (std::memcmp(name.ptr, names_[w].data(), key.len) != 0) return false;
        continue;
      }
      const Words words = Read(name.ptr, key.len);
      if (words.head != key.words.head || words.tail != key.words.tail) return false;
    }
    return true;
  }

 private:
  /*! \brief The longest name read as words. */
  static constexpr size_t kMaxWordBytes = 16;

  struct Words {
    uint64_t head;
    uint64_t tail;
  };
  struct Key {
    size_t len;
    Words words;
  };

  /*! \brief The words of a name of `len` <= kMaxWordBytes bytes; reads only those bytes. */
  static Words Read(const char* ptr, size_t len) {
    Words words{0, 0};
    if (len >= 8) {
      std::memcpy(&words.head, ptr, 8);
      std::memcpy(&words.tail, ptr + len - 8, 8);
    } else if (len >= 4) {
      uint32_t first;
      uint32_t last;
      std::memcpy(&first, ptr, 4);
      std::memcpy(&last, ptr + len - 4, 4);
      words.head = first | (static_cast<uint64_t>(last) << 32);
    } else if (len > 0) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(ptr);
      words.head = bytes[0] | (static_cast<uint64_t>(bytes[len / 2]) << 8) |
                   (static_cast<uint64_t>(bytes[len - 1]) << 16);
    }
    return words;
  }

  std::vector<Key> keys_;
  std::vector<std::string> names_;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_CALL_ATTR_NAMES_H_

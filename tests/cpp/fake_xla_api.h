/*!
 * \file fake_xla_api.h
 * \brief A fake XLA FFI API table and a call-frame builder, so the core can be driven exactly as
 *        XLA drives it, with no XLA runtime and no GPU.
 *
 * The fake API implements the entries the core uses: errors (recording code and message),
 * the stream and the device ordinal (read from a FakeExecutionContext, optionally failing), and
 * device memory (host memory standing for it, recorded in the FakeExecutionContext).
 * Every other entry is null, so a core that starts using one crashes loudly in the tests.
 */
#ifndef JAX_TVM_FFI_TESTS_CPP_FAKE_XLA_API_H_
#define JAX_TVM_FFI_TESTS_CPP_FAKE_XLA_API_H_

#include <xla/ffi/api/c_api.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace jax_tvm_ffi {
namespace testing {

/*! \brief The execution context the fake API reads; pass it as the frame's ctx. */
struct FakeExecutionContext {
  /*! \brief What XLA_FFI_Stream_Get returns. */
  void* stream = nullptr;
  /*! \brief What XLA_FFI_DeviceOrdinal_Get returns. */
  int32_t device_ordinal = 0;
  /*! \brief Make XLA_FFI_Stream_Get return an error. */
  bool fail_stream_get = false;
  /*! \brief Make XLA_FFI_DeviceOrdinal_Get return an error. */
  bool fail_device_ordinal_get = false;
  /*! \brief Calls of XLA_FFI_Stream_Get with this context. */
  int stream_get_calls = 0;
  /*! \brief Calls of XLA_FFI_DeviceOrdinal_Get with this context. */
  int device_ordinal_get_calls = 0;
  /*! \brief Make XLA_FFI_DeviceMemory_Allocate return an error. */
  bool fail_device_allocate = false;
  /*! \brief Device memory allocated and not yet freed: address to size. */
  std::map<void*, size_t> device_allocations;
  /*! \brief Calls of XLA_FFI_DeviceMemory_Allocate and XLA_FFI_DeviceMemory_Free. */
  int device_allocate_calls = 0;
  int device_free_calls = 0;
  /*! \brief Frees of an address not allocated, or with another size (each an error). */
  int bad_device_frees = 0;
  /*! \brief The alignment of the last allocation request. */
  size_t last_device_alignment = 0;

  ~FakeExecutionContext();

  /*! \brief This context as the opaque pointer a call frame carries. */
  XLA_FFI_ExecutionContext* get() { return reinterpret_cast<XLA_FFI_ExecutionContext*>(this); }
};

/*! \brief The message XLA_FFI_Stream_Get fails with when asked to. */
constexpr const char* kFakeStreamFailure = "fake stream is unavailable";

/*! \brief The code and message of an XLA error, read back from the fake API. */
struct ErrorInfo {
  XLA_FFI_Error_Code code;
  std::string message;
};

/*! \brief The process-wide fake API table. */
const XLA_FFI_Api* FakeApi();

/*!
 * \brief Reads and destroys an error made by the fake API.
 * \param error A non-null error returned by the core.
 */
ErrorInfo TakeError(XLA_FFI_Error* error);

/*! \brief Errors made by the fake API and not yet destroyed, to check that none leak. */
int LiveErrorCount();

/*!
 * \brief A set of attributes as XLA passes them: sorted by name, each a scalar, string, 1-D
 *        array or nested dictionary. Owns every value it points to.
 */
class AttrsBuilder {
 public:
  AttrsBuilder();
  ~AttrsBuilder();
  AttrsBuilder(const AttrsBuilder&) = delete;
  AttrsBuilder& operator=(const AttrsBuilder&) = delete;

  /*! \brief Adds a scalar whose value is the bytes of `value` (e.g. uint16_t bits for F16). */
  template <typename T>
  AttrsBuilder& Scalar(const std::string& name, XLA_FFI_DataType dtype, T value) {
    return ScalarBytes(name, dtype, &value, sizeof(T));
  }
  /*! \brief Adds a scalar from raw bytes. */
  AttrsBuilder& ScalarBytes(const std::string& name, XLA_FFI_DataType dtype, const void* bytes,
                            size_t size);
  /*! \brief Adds a string. */
  AttrsBuilder& String(const std::string& name, const std::string& value);
  /*! \brief Adds a 1-D array whose elements are the bytes of `values`. */
  template <typename T>
  AttrsBuilder& Array(const std::string& name, XLA_FFI_DataType dtype,
                      const std::vector<T>& values) {
    return ArrayBytes(name, dtype, values.data(), values.size(), sizeof(T));
  }
  /*! \brief Adds a 1-D array from raw bytes. */
  AttrsBuilder& ArrayBytes(const std::string& name, XLA_FFI_DataType dtype, const void* data,
                           size_t size, size_t element_size);
  /*! \brief Adds a dictionary and returns it, to be filled by the caller. */
  AttrsBuilder& Dictionary(const std::string& name);

  /*!
   * \brief Builds the XLA view of the attributes; valid while this builder lives and is not
   *        changed.
   * \param sorted Sort by name as XLA does; false keeps insertion order.
   */
  const XLA_FFI_Attrs& Build(bool sorted = true);

  size_t size() const;

 private:
  struct Entry;
  Entry& Add(const std::string& name, XLA_FFI_AttrType type);

  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<XLA_FFI_AttrType> types_;
  std::vector<XLA_FFI_ByteSpan*> names_;
  std::vector<void*> values_;
  XLA_FFI_Attrs attrs_;
};

/*!
 * \brief Builds call frames: owns the buffers and attributes a frame points to.
 *
 * \code{.cpp}
 *   CallFrameBuilder builder;
 *   builder.AddArg(XLA_FFI_DataType_F32, x.data(), {4});
 *   builder.AddRet(XLA_FFI_DataType_F32, y.data(), {4});
 *   builder.attrs().Scalar<float>("eps", XLA_FFI_DataType_F32, 1e-5f);
 *   XLA_FFI_Error* error = handler(builder.Build(context.get()));
 * \endcode
 */
class CallFrameBuilder {
 public:
  CallFrameBuilder();
  ~CallFrameBuilder();
  CallFrameBuilder(const CallFrameBuilder&) = delete;
  CallFrameBuilder& operator=(const CallFrameBuilder&) = delete;

  /*! \brief Adds an argument buffer; the data is not copied. Returns the buffer. */
  XLA_FFI_Buffer& AddArg(XLA_FFI_DataType dtype, void* data, std::vector<int64_t> dims);
  /*! \brief Adds a result buffer; the data is not copied. Returns the buffer. */
  XLA_FFI_Buffer& AddRet(XLA_FFI_DataType dtype, void* data, std::vector<int64_t> dims);
  /*! \brief Adds an argument of a given value type pointing to `value` (for malformed frames). */
  void AddRawArg(XLA_FFI_ArgType type, void* value);

  /*! \brief The frame's attributes. */
  AttrsBuilder& attrs() { return attrs_; }
  /*! \brief Whether Build sorts the attributes by name (as XLA does); default true. */
  void set_sort_attrs(bool sort) { sort_attrs_ = sort; }
  /*! \brief The stage Build puts in the frame; default EXECUTE. */
  void set_stage(XLA_FFI_ExecutionStage stage) { stage_ = stage; }

  /*! \brief Builds an execute frame using the fake API; valid while this builder lives. */
  XLA_FFI_CallFrame* Build(XLA_FFI_ExecutionContext* ctx);

  /*!
   * \brief Builds a metadata query frame: its extension_start points at a metadata extension
   *        whose answer goes to `metadata`.
   */
  XLA_FFI_CallFrame* BuildMetadataQuery(XLA_FFI_Metadata* metadata);

 private:
  struct OwnedBuffer;
  XLA_FFI_Buffer& NewBuffer(XLA_FFI_DataType dtype, void* data, std::vector<int64_t> dims);

  std::vector<std::unique_ptr<OwnedBuffer>> buffers_;
  std::vector<XLA_FFI_ArgType> arg_types_;
  std::vector<void*> args_;
  std::vector<XLA_FFI_RetType> ret_types_;
  std::vector<void*> rets_;
  AttrsBuilder attrs_;
  bool sort_attrs_ = true;
  XLA_FFI_ExecutionStage stage_ = XLA_FFI_ExecutionStage_EXECUTE;
  XLA_FFI_Metadata_Extension metadata_extension_;
  XLA_FFI_CallFrame frame_;
};

/*! \brief A fresh metadata answer slot, with struct_size set and everything else zero. */
inline XLA_FFI_Metadata EmptyMetadata() {
  XLA_FFI_Metadata metadata;
  std::memset(&metadata, 0, sizeof(metadata));
  metadata.struct_size = XLA_FFI_Metadata_STRUCT_SIZE;
  return metadata;
}

}  // namespace testing
}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_TESTS_CPP_FAKE_XLA_API_H_

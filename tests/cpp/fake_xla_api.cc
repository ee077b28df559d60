/*!
 * \file fake_xla_api.cc
 * \brief The fake XLA FFI API table and the call-frame builder (see fake_xla_api.h).
 */
#include "fake_xla_api.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <utility>

namespace jax_tvm_ffi {
namespace testing {
namespace {

// What an XLA_FFI_Error* made by the fake API points to.
struct FakeError {
  XLA_FFI_Error_Code code;
  std::string message;
};

std::atomic<int> live_errors{0};

FakeError* AsFake(XLA_FFI_Error* error) { return reinterpret_cast<FakeError*>(error); }

XLA_FFI_Error* NewError(XLA_FFI_Error_Code code, std::string message) {
  ++live_errors;
  return reinterpret_cast<XLA_FFI_Error*>(new FakeError{code, std::move(message)});
}

FakeExecutionContext* AsFake(XLA_FFI_ExecutionContext* ctx) {
  return reinterpret_cast<FakeExecutionContext*>(ctx);
}

XLA_FFI_Error* ErrorCreate(XLA_FFI_Error_Create_Args* args) {
  return NewError(args->errc, args->message != nullptr ? args->message : "");
}

// API 0.4 renamed GetMessage to GetDetails (same slot) and added the error's code.
#if XLA_FFI_API_MAJOR == 0 && XLA_FFI_API_MINOR < 4
void ErrorGetMessage(XLA_FFI_Error_GetMessage_Args* args) {
  args->message = AsFake(args->error)->message.c_str();
}
#else
void ErrorGetDetails(XLA_FFI_Error_GetDetails_Args* args) {
  args->message = AsFake(args->error)->message.c_str();
  args->errc = AsFake(args->error)->code;
}
#endif

void ErrorDestroy(XLA_FFI_Error_Destroy_Args* args) {
  --live_errors;
  delete AsFake(args->error);
}

XLA_FFI_Error* StreamGet(XLA_FFI_Stream_Get_Args* args) {
  FakeExecutionContext* ctx = AsFake(args->ctx);
  ++ctx->stream_get_calls;
  if (ctx->fail_stream_get) return NewError(XLA_FFI_Error_Code_UNAVAILABLE, kFakeStreamFailure);
  args->stream = ctx->stream;
  return nullptr;
}

XLA_FFI_Error* DeviceOrdinalGet(XLA_FFI_DeviceOrdinal_Get_Args* args) {
  FakeExecutionContext* ctx = AsFake(args->ctx);
  ++ctx->device_ordinal_get_calls;
  if (ctx->fail_device_ordinal_get) {
    return NewError(XLA_FFI_Error_Code_UNAVAILABLE, "fake device ordinal is unavailable");
  }
  args->device_ordinal = ctx->device_ordinal;
  return nullptr;
}

XLA_FFI_Error* DeviceMemoryAllocate(XLA_FFI_DeviceMemory_Allocate_Args* args) {
  FakeExecutionContext* ctx = AsFake(args->ctx);
  ++ctx->device_allocate_calls;
  ctx->last_device_alignment = args->alignment;
  if (ctx->fail_device_allocate) {
    return NewError(XLA_FFI_Error_Code_RESOURCE_EXHAUSTED, "fake device is out of memory");
  }
  const size_t alignment = std::max<size_t>(args->alignment, alignof(std::max_align_t));
  void* data = std::aligned_alloc(alignment, (args->size + alignment - 1) / alignment * alignment);
  if (data == nullptr) return NewError(XLA_FFI_Error_Code_RESOURCE_EXHAUSTED, "aligned_alloc");
  ctx->device_allocations[data] = args->size;
  args->data = data;
  return nullptr;
}

XLA_FFI_Error* DeviceMemoryFree(XLA_FFI_DeviceMemory_Free_Args* args) {
  FakeExecutionContext* ctx = AsFake(args->ctx);
  ++ctx->device_free_calls;
  auto found = ctx->device_allocations.find(args->data);
  if (found == ctx->device_allocations.end() || found->second != args->size) {
    ++ctx->bad_device_frees;
    return NewError(XLA_FFI_Error_Code_INVALID_ARGUMENT, "fake device: bad free");
  }
  std::free(found->first);
  ctx->device_allocations.erase(found);
  return nullptr;
}

XLA_FFI_Api MakeApi() {
  XLA_FFI_Api api;
  std::memset(&api, 0, sizeof(api));
  api.struct_size = XLA_FFI_Api_STRUCT_SIZE;
  api.api_version = {XLA_FFI_Api_Version_STRUCT_SIZE, nullptr, XLA_FFI_API_MAJOR,
                     XLA_FFI_API_MINOR};
  api.XLA_FFI_Error_Create = &ErrorCreate;
#if XLA_FFI_API_MAJOR == 0 && XLA_FFI_API_MINOR < 4
  api.XLA_FFI_Error_GetMessage = &ErrorGetMessage;
#else
  api.XLA_FFI_Error_GetDetails = &ErrorGetDetails;
#endif
  api.XLA_FFI_Error_Destroy = &ErrorDestroy;
  api.XLA_FFI_Stream_Get = &StreamGet;
  api.XLA_FFI_DeviceOrdinal_Get = &DeviceOrdinalGet;
  api.XLA_FFI_DeviceMemory_Allocate = &DeviceMemoryAllocate;
  api.XLA_FFI_DeviceMemory_Free = &DeviceMemoryFree;
  return api;
}

}  // namespace

FakeExecutionContext::~FakeExecutionContext() {
  // Memory the core failed to give back: freed so the leak shows in the test, not in ASan.
  for (const auto& [data, size] : device_allocations) std::free(data);
}

const XLA_FFI_Api* FakeApi() {
  static const XLA_FFI_Api api = MakeApi();
  return &api;
}

ErrorInfo TakeError(XLA_FFI_Error* error) {
  ErrorInfo info{AsFake(error)->code, AsFake(error)->message};
  XLA_FFI_Error_Destroy_Args args{XLA_FFI_Error_Destroy_Args_STRUCT_SIZE, nullptr, error};
  FakeApi()->XLA_FFI_Error_Destroy(&args);
  return info;
}

int LiveErrorCount() { return live_errors.load(); }

// ---------------------------------------------------------------------------------------------
// AttrsBuilder

struct AttrsBuilder::Entry {
  std::string name;
  XLA_FFI_ByteSpan name_span;
  XLA_FFI_AttrType type;
  std::vector<char> bytes;  // scalar value or array elements
  std::string string;
  XLA_FFI_ByteSpan string_span;
  XLA_FFI_Scalar scalar;
  XLA_FFI_Array array;
  std::unique_ptr<AttrsBuilder> dictionary;
};

AttrsBuilder::AttrsBuilder() { std::memset(&attrs_, 0, sizeof(attrs_)); }

AttrsBuilder::~AttrsBuilder() = default;

size_t AttrsBuilder::size() const { return entries_.size(); }

AttrsBuilder::Entry& AttrsBuilder::Add(const std::string& name, XLA_FFI_AttrType type) {
  entries_.push_back(std::make_unique<Entry>());
  Entry& entry = *entries_.back();
  entry.name = name;
  entry.type = type;
  return entry;
}

AttrsBuilder& AttrsBuilder::ScalarBytes(const std::string& name, XLA_FFI_DataType dtype,
                                        const void* bytes, size_t size) {
  Entry& entry = Add(name, XLA_FFI_AttrType_SCALAR);
  entry.bytes.assign(static_cast<const char*>(bytes), static_cast<const char*>(bytes) + size);
  entry.scalar.dtype = dtype;
  return *this;
}

AttrsBuilder& AttrsBuilder::String(const std::string& name, const std::string& value) {
  Entry& entry = Add(name, XLA_FFI_AttrType_STRING);
  entry.string = value;
  return *this;
}

AttrsBuilder& AttrsBuilder::ArrayBytes(const std::string& name, XLA_FFI_DataType dtype,
                                       const void* data, size_t size, size_t element_size) {
  Entry& entry = Add(name, XLA_FFI_AttrType_ARRAY);
  const char* begin = static_cast<const char*>(data);
  entry.bytes.assign(begin, begin + size * element_size);
  entry.array.dtype = dtype;
  entry.array.size = size;
  return *this;
}

AttrsBuilder& AttrsBuilder::Dictionary(const std::string& name) {
  Entry& entry = Add(name, XLA_FFI_AttrType_DICTIONARY);
  entry.dictionary = std::make_unique<AttrsBuilder>();
  return *entry.dictionary;
}

const XLA_FFI_Attrs& AttrsBuilder::Build(bool sorted) {
  std::vector<Entry*> order;
  for (auto& entry : entries_) order.push_back(entry.get());
  if (sorted) {
    std::stable_sort(order.begin(), order.end(),
                     [](const Entry* a, const Entry* b) { return a->name < b->name; });
  }
  types_.clear();
  names_.clear();
  values_.clear();
  for (Entry* entry : order) {
    entry->name_span = {entry->name.data(), entry->name.size()};
    types_.push_back(entry->type);
    names_.push_back(&entry->name_span);
    switch (entry->type) {
      case XLA_FFI_AttrType_SCALAR:
        entry->scalar.value = entry->bytes.data();
        values_.push_back(&entry->scalar);
        break;
      case XLA_FFI_AttrType_STRING:
        entry->string_span = {entry->string.data(), entry->string.size()};
        values_.push_back(&entry->string_span);
        break;
      case XLA_FFI_AttrType_ARRAY:
        entry->array.data = entry->bytes.empty() ? nullptr : entry->bytes.data();
        values_.push_back(&entry->array);
        break;
      case XLA_FFI_AttrType_DICTIONARY:
        // XLA passes a dictionary's value as an XLA_FFI_Attrs*.
        values_.push_back(const_cast<XLA_FFI_Attrs*>(&entry->dictionary->Build(sorted)));
        break;
    }
  }
  attrs_.struct_size = XLA_FFI_Attrs_STRUCT_SIZE;
  attrs_.extension_start = nullptr;
  attrs_.size = static_cast<int64_t>(order.size());
  attrs_.types = types_.data();
  attrs_.names = names_.data();
  attrs_.attrs = values_.data();
  return attrs_;
}

// ---------------------------------------------------------------------------------------------
// CallFrameBuilder

struct CallFrameBuilder::OwnedBuffer {
  XLA_FFI_Buffer buffer;
  std::vector<int64_t> dims;
};

CallFrameBuilder::CallFrameBuilder() {
  std::memset(&metadata_extension_, 0, sizeof(metadata_extension_));
  std::memset(&frame_, 0, sizeof(frame_));
}

CallFrameBuilder::~CallFrameBuilder() = default;

XLA_FFI_Buffer& CallFrameBuilder::NewBuffer(XLA_FFI_DataType dtype, void* data,
                                            std::vector<int64_t> dims) {
  buffers_.push_back(std::make_unique<OwnedBuffer>());
  OwnedBuffer& owned = *buffers_.back();
  owned.dims = std::move(dims);
  owned.buffer.struct_size = XLA_FFI_Buffer_STRUCT_SIZE;
  owned.buffer.extension_start = nullptr;
  owned.buffer.dtype = dtype;
  owned.buffer.data = data;
  owned.buffer.rank = static_cast<int64_t>(owned.dims.size());
  owned.buffer.dims = owned.dims.empty() ? nullptr : owned.dims.data();
  return owned.buffer;
}

XLA_FFI_Buffer& CallFrameBuilder::AddArg(XLA_FFI_DataType dtype, void* data,
                                         std::vector<int64_t> dims) {
  XLA_FFI_Buffer& buffer = NewBuffer(dtype, data, std::move(dims));
  arg_types_.push_back(XLA_FFI_ArgType_BUFFER);
  args_.push_back(&buffer);
  return buffer;
}

XLA_FFI_Buffer& CallFrameBuilder::AddRet(XLA_FFI_DataType dtype, void* data,
                                         std::vector<int64_t> dims) {
  XLA_FFI_Buffer& buffer = NewBuffer(dtype, data, std::move(dims));
  ret_types_.push_back(XLA_FFI_RetType_BUFFER);
  rets_.push_back(&buffer);
  return buffer;
}

void CallFrameBuilder::AddRawArg(XLA_FFI_ArgType type, void* value) {
  arg_types_.push_back(type);
  args_.push_back(value);
}

XLA_FFI_CallFrame* CallFrameBuilder::Build(XLA_FFI_ExecutionContext* ctx) {
  std::memset(&frame_, 0, sizeof(frame_));
  frame_.struct_size = XLA_FFI_CallFrame_STRUCT_SIZE;
  frame_.extension_start = nullptr;
  frame_.api = FakeApi();
  frame_.ctx = ctx;
  frame_.stage = stage_;
  frame_.args = {XLA_FFI_Args_STRUCT_SIZE, nullptr, static_cast<int64_t>(args_.size()),
                 arg_types_.data(), args_.data()};
  frame_.rets = {XLA_FFI_Rets_STRUCT_SIZE, nullptr, static_cast<int64_t>(rets_.size()),
                 ret_types_.data(), rets_.data()};
  frame_.attrs = attrs_.Build(sort_attrs_);
  frame_.future = nullptr;
  return &frame_;
}

XLA_FFI_CallFrame* CallFrameBuilder::BuildMetadataQuery(XLA_FFI_Metadata* metadata) {
  // XLA's metadata query carries no execution context; the stage is left as EXECUTE so that a
  // handler that ignored the extension would run the function.
  Build(nullptr);
  metadata_extension_.extension_base = {XLA_FFI_Metadata_Extension_STRUCT_SIZE,
                                        XLA_FFI_Extension_Metadata, nullptr};
  metadata_extension_.metadata = metadata;
  frame_.extension_start = &metadata_extension_.extension_base;
  return &frame_;
}

}  // namespace testing
}  // namespace jax_tvm_ffi

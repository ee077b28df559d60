/*!
 * \file test_handler.cc
 * \brief Tests of a target's call path, driven through registered handlers with the fake XLA API:
 *        results written in place, spec order, the metadata query, stages, error translation,
 *        the GPU stream scope (with fake streams and pointers) and owned tensors.
 */
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/string.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/api_version.h"
#include "call/handler.h"
#include "fake_xla_api.h"
#include "jax_tvm_ffi/target.h"
#include "registration/binding.h"

namespace jax_tvm_ffi {
namespace {

using testing::CallFrameBuilder;
using ::testing::ElementsAre;
using testing::ErrorInfo;
using testing::FakeExecutionContext;
using ::testing::HasSubstr;
using testing::LiveErrorCount;
using testing::TakeError;
using tvm::ffi::AnyView;
using tvm::ffi::Function;
using tvm::ffi::PackedArgs;
using tvm::ffi::Tensor;
using tvm::ffi::TensorView;

// A target name unique to the running test.
std::string TargetName() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("handler.") + info->test_suite_name() + "." + info->name();
}

TargetOptions On(Platform platform) {
  TargetOptions options;
  options.platform = platform;
  return options;
}

XLA_FFI_Handler* Register(Function function, const std::vector<std::string>& spec,
                          TargetOptions options = TargetOptions{}) {
  return RegisterTarget(TargetName(), std::move(function), ArgSpec::Parse(spec), options);
}

// One argument as the function saw it.
struct SeenArg {
  int32_t type_index = -1;
  int64_t integer = 0;
  double real = 0;
  std::string string;
  void* data = nullptr;
  DLDevice device{kDLExtDev, -1};
  std::vector<int64_t> shape;
};

// What a recording function saw in its calls.
struct Record {
  int calls = 0;
  std::vector<SeenArg> args;
  // TVMFFIEnvGetStream(device_type, device_id) during the call, for `stream_query`.
  DLDevice stream_query{kDLCPU, 0};
  void* stream = nullptr;
};

SeenArg See(const AnyView& arg) {
  SeenArg seen;
  seen.type_index = arg.type_index();
  switch (seen.type_index) {
    case TVMFFITypeIndex::kTVMFFIInt:
      seen.integer = arg.cast<int64_t>();
      break;
    case TVMFFITypeIndex::kTVMFFIFloat:
      seen.real = arg.cast<double>();
      break;
    case TVMFFITypeIndex::kTVMFFISmallStr:
    case TVMFFITypeIndex::kTVMFFIStr:
      seen.string = arg.cast<tvm::ffi::String>();
      break;
    case TVMFFITypeIndex::kTVMFFIDLTensorPtr: {
      DLTensor* t = arg.cast<DLTensor*>();
      seen.data = t->data;
      seen.device = t->device;
      seen.shape.assign(t->shape, t->shape + t->ndim);
      break;
    }
    case TVMFFITypeIndex::kTVMFFITensor: {
      Tensor t = arg.cast<Tensor>();
      seen.data = t.data_ptr();
      seen.device = t.device();
      seen.shape.assign(t.shape().begin(), t.shape().end());
      break;
    }
    default:
      break;
  }
  return seen;
}

// A function that records its arguments (and the environment stream) and returns nothing.
Function Recorder(std::shared_ptr<Record> record) {
  return Function::FromPacked([record](PackedArgs args, tvm::ffi::Any*) {
    ++record->calls;
    record->args.clear();
    for (int i = 0; i < args.size(); ++i) record->args.push_back(See(args[i]));
    record->stream =
        TVMFFIEnvGetStream(record->stream_query.device_type, record->stream_query.device_id);
  });
}

// y = x + 1 over float32 tensors of any shape.
Function AddOne() {
  return Function::FromTyped([](TensorView x, TensorView y) {
    TVM_FFI_ICHECK_EQ(x.numel(), y.numel());
    const float* in = static_cast<const float*>(x.data_ptr());
    float* out = static_cast<float*>(y.data_ptr());
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] + 1.0f;
  });
}

// A function that raises ValueError.
Function Throwing(std::shared_ptr<Record> record = std::make_shared<Record>()) {
  return Function::FromPacked([record](PackedArgs args, tvm::ffi::Any*) {
    ++record->calls;
    record->stream =
        TVMFFIEnvGetStream(record->stream_query.device_type, record->stream_query.device_id);
    TVM_FFI_THROW(ValueError) << "x must be 1-D, got " << args.size() << " arguments";
  });
}

// Calls `handler` on `builder`'s frame and reads back (and frees) the error it returns, if any.
struct CallResult {
  bool ok;
  ErrorInfo error;
};
CallResult Call(XLA_FFI_Handler* handler, CallFrameBuilder& builder,
                FakeExecutionContext& context) {
  int live = LiveErrorCount();
  XLA_FFI_Error* error = handler(builder.Build(context.get()));
  if (error == nullptr) {
    EXPECT_EQ(LiveErrorCount(), live) << "an XLA error leaked";
    return {true, {XLA_FFI_Error_Code_OK, ""}};
  }
  CallResult result{false, TakeError(error)};
  EXPECT_EQ(LiveErrorCount(), live) << "an XLA error leaked";
  return result;
}

// ---------------------------------------------------------------------------------------------
// Success path on CPU

TEST(HandlerTest, AddOneWritesIntoTheResultBuffer) {
  XLA_FFI_Handler* handler = Register(AddOne(), {"args", "rets"});
  std::vector<float> x = {0.5f, 1, 2, 3, -4, 5};
  std::vector<float> y(6, -100.0f);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x.data(), {2, 3});
  builder.AddRet(XLA_FFI_DataType_F32, y.data(), {2, 3});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_THAT(y, ElementsAre(1.5f, 2, 3, 4, -3, 6));
  // Again, to show nothing from the first call lingers.
  x[0] = 10;
  ASSERT_TRUE(Call(handler, builder, context).ok);
  EXPECT_EQ(y[0], 11.0f);
}

TEST(HandlerTest, HandleCallOnABinding) {
  Binding binding("direct.add_one", AddOne(), ArgSpec::Default(), TargetOptions{});
  std::vector<float> x = {1, 2};
  std::vector<float> y(2);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x.data(), {2});
  builder.AddRet(XLA_FFI_DataType_F32, y.data(), {2});
  FakeExecutionContext context;
  ASSERT_EQ(HandleCall(binding, builder.Build(context.get())), nullptr);
  EXPECT_THAT(y, ElementsAre(2, 3));
}

TEST(HandlerTest, AFrameTooShortForItsFieldsIsRefusedWithoutCallingTheFunction) {
  auto called = std::make_shared<bool>(false);
  Binding binding("direct.short_frame",
                  tvm::ffi::Function::FromTyped(
                      [called](tvm::ffi::TensorView, tvm::ffi::TensorView) { *called = true; }),
                  ArgSpec::Default(), TargetOptions{});
  std::vector<float> x = {1, 2};
  std::vector<float> y(2);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x.data(), {2});
  builder.AddRet(XLA_FFI_DataType_F32, y.data(), {2});
  FakeExecutionContext context;
  XLA_FFI_CallFrame* frame = builder.Build(context.get());
  frame->struct_size = offsetof(XLA_FFI_CallFrame, attrs);  // Ends before the attributes.
  ErrorInfo error = TakeError(HandleCall(binding, frame));
  EXPECT_EQ(error.code, XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(error.message, HasSubstr("direct.short_frame"));
  EXPECT_THAT(error.message, HasSubstr("malformed call frame from XLA: struct_size"));
  EXPECT_FALSE(*called);
  frame->struct_size = 8;
  EXPECT_EQ(TakeError(HandleCall(binding, frame)).code, XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_FALSE(*called);
}

TEST(HandlerTest, FunctionReceivesViewsOfXlaMemory) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "rets"});
  float x[6], y[2];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {3, 2});
  builder.AddRet(XLA_FFI_DataType_F32, y, {2});
  FakeExecutionContext context;
  ASSERT_TRUE(Call(handler, builder, context).ok);
  ASSERT_EQ(record->args.size(), 2u);
  EXPECT_EQ(record->args[0].type_index, TVMFFITypeIndex::kTVMFFIDLTensorPtr);
  EXPECT_EQ(record->args[0].data, x);
  EXPECT_EQ(record->args[0].device.device_type, kDLCPU);
  EXPECT_EQ(record->args[0].device.device_id, 0);
  EXPECT_THAT(record->args[0].shape, ElementsAre(3, 2));
  EXPECT_EQ(record->args[1].data, y);
}

TEST(HandlerTest, SpecOrderIsHonoured) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(
      Recorder(record),
      {"attrs.mode", "rets", "ctx.device_id", "args", "attrs.eps", "ctx.stream", "attrs.n"});
  float a[1], b[2], y[3];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, a, {1});
  builder.AddArg(XLA_FFI_DataType_F32, b, {2});
  builder.AddRet(XLA_FFI_DataType_F32, y, {3});
  builder.attrs()
      .Scalar<int64_t>("n", XLA_FFI_DataType_S64, -7)
      .Scalar<double>("eps", XLA_FFI_DataType_F64, 0.5)
      .String("mode", "fast");
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(record->args.size(), 8u);
  EXPECT_EQ(record->args[0].string, "fast");
  EXPECT_EQ(record->args[1].data, y);
  EXPECT_EQ(record->args[2].type_index, TVMFFITypeIndex::kTVMFFIInt);
  EXPECT_EQ(record->args[2].integer, 0);
  EXPECT_EQ(record->args[3].data, a);
  EXPECT_EQ(record->args[4].data, b);
  EXPECT_EQ(record->args[5].type_index, TVMFFITypeIndex::kTVMFFIFloat);
  EXPECT_EQ(record->args[5].real, 0.5);
  EXPECT_EQ(record->args[6].type_index, TVMFFITypeIndex::kTVMFFIInt);
  EXPECT_EQ(record->args[6].integer, 0);
  EXPECT_EQ(record->args[7].integer, -7);
}

TEST(HandlerTest, AttributesOfEveryKindReachTheFunction) {
  using Map = tvm::ffi::Map<tvm::ffi::String, tvm::ffi::Any>;
  using AnyArray = tvm::ffi::Array<tvm::ffi::Any>;
  auto seen = std::make_shared<std::vector<std::string>>();
  Function function = Function::FromTyped(
      [seen](bool flag, double eps, tvm::ffi::String mode, AnyArray w, Map cfg) {
        seen->push_back(flag ? "true" : "false");
        seen->push_back(std::to_string(eps));
        seen->push_back(mode);
        seen->push_back(std::to_string(w.size()) + ":" + std::to_string(w[1].cast<int64_t>()));
        seen->push_back(std::to_string(cfg.at("k").cast<int64_t>()));
      });
  XLA_FFI_Handler* handler =
      Register(function, {"attrs.flag", "attrs.eps", "attrs.mode", "attrs.w", "attrs.cfg"});
  CallFrameBuilder builder;
  builder.attrs()
      .Scalar<uint8_t>("flag", XLA_FFI_DataType_PRED, 1)
      .Scalar<float>("eps", XLA_FFI_DataType_F32, 0.25f)
      .String("mode", "m")
      .Array<int32_t>("w", XLA_FFI_DataType_S32, {4, 5, 6});
  builder.attrs().Dictionary("cfg").Scalar<int64_t>("k", XLA_FFI_DataType_S64, 9);
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_THAT(*seen, ElementsAre("true", std::to_string(0.25), "m", "3:5", "9"));
}

TEST(HandlerTest, ManyArgumentsAndAttributesFallBackToTheHeap) {
  // More packed arguments (32) and attributes (8) than the handler keeps on its stack.
  constexpr int kArgs = 40;
  constexpr int kAttrs = 12;
  auto record = std::make_shared<Record>();
  std::vector<std::string> spec = {"args"};
  for (int i = kAttrs - 1; i >= 0; --i) spec.push_back("attrs.a" + std::to_string(100 + i));
  XLA_FFI_Handler* handler = Register(Recorder(record), spec);
  std::vector<float> data(kArgs);
  CallFrameBuilder builder;
  for (int i = 0; i < kArgs; ++i) builder.AddArg(XLA_FFI_DataType_F32, &data[i], {1});
  for (int i = 0; i < kAttrs; ++i) {
    builder.attrs().Scalar<int64_t>("a" + std::to_string(100 + i), XLA_FFI_DataType_S64, i);
  }
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(record->args.size(), static_cast<size_t>(kArgs + kAttrs));
  for (int i = 0; i < kArgs; ++i) EXPECT_EQ(record->args[i].data, &data[i]) << i;
  for (int i = 0; i < kAttrs; ++i) {
    EXPECT_EQ(record->args[kArgs + i].integer, kAttrs - 1 - i) << i;
  }
}

TEST(HandlerTest, TokensAreNotPassed) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "rets"});
  float x[1], y[1];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_TOKEN, nullptr, {});
  builder.AddArg(XLA_FFI_DataType_F32, x, {1});
  builder.AddRet(XLA_FFI_DataType_F32, y, {1});
  builder.AddRet(XLA_FFI_DataType_TOKEN, nullptr, {});
  FakeExecutionContext context;
  ASSERT_TRUE(Call(handler, builder, context).ok);
  ASSERT_EQ(record->args.size(), 2u);
  EXPECT_EQ(record->args[0].data, x);
  EXPECT_EQ(record->args[1].data, y);
}

TEST(HandlerTest, CpuContextIsZeroAndNeedsNoStream) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"ctx.stream", "ctx.device_id"});
  FakeExecutionContext context;
  context.stream = reinterpret_cast<void*>(0x5000);
  context.device_ordinal = 3;
  context.fail_stream_get = true;  // Would fail the call if the CPU path asked for the stream.
  CallFrameBuilder builder;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(record->args.size(), 2u);
  EXPECT_EQ(record->args[0].type_index, TVMFFITypeIndex::kTVMFFIInt);
  EXPECT_EQ(record->args[0].integer, 0);
  EXPECT_EQ(record->args[1].integer, 0);
  EXPECT_EQ(context.stream_get_calls, 0);
  EXPECT_EQ(context.device_ordinal_get_calls, 0);
}

// ---------------------------------------------------------------------------------------------
// Metadata query and stages

TEST(HandlerTest, MetadataQueryReportsVersionAndTraitsWithoutCalling) {
  for (bool allow_cuda_graph : {false, true}) {
    auto record = std::make_shared<Record>();
    TargetOptions options = On(Platform::kCuda);
    options.allow_cuda_graph = allow_cuda_graph;
    XLA_FFI_Handler* handler =
        RegisterTarget(TargetName() + (allow_cuda_graph ? ".graph" : ".nograph"), Recorder(record),
                       ArgSpec::Default(), options);
    XLA_FFI_Metadata metadata = testing::EmptyMetadata();
    metadata.traits = 0xdead;
    CallFrameBuilder builder;
    ASSERT_EQ(handler(builder.BuildMetadataQuery(&metadata)), nullptr);
    EXPECT_EQ(metadata.api_version.major_version, XLA_FFI_API_MAJOR);
    EXPECT_EQ(metadata.api_version.minor_version, XLA_FFI_API_MINOR);
    EXPECT_EQ(metadata.api_version.struct_size, XLA_FFI_Api_Version_STRUCT_SIZE);
    const XLA_FFI_Handler_Traits expected =
        allow_cuda_graph ? XLA_FFI_HANDLER_TRAITS_COMMAND_BUFFER_COMPATIBLE : 0;
    EXPECT_EQ(metadata.traits, expected);
    EXPECT_EQ(record->calls, 0);
  }
}

// XLAs before API 0.2 send the query without their API and accept exactly their own version,
// which Python records at import.
TEST(HandlerTest, MetadataQueryWithoutApiReportsTheRecordedVersion) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "rets"});
  SetRuntimeApiVersion({XLA_FFI_API_MAJOR, 0});
  XLA_FFI_Metadata metadata = testing::EmptyMetadata();
  CallFrameBuilder builder;
  XLA_FFI_CallFrame* frame = builder.BuildMetadataQuery(&metadata);
  frame->api = nullptr;
  XLA_FFI_Error* error = handler(frame);
  SetRuntimeApiVersion(kCompiledApiVersion);
  ASSERT_EQ(error, nullptr);
  EXPECT_EQ(metadata.api_version.major_version, XLA_FFI_API_MAJOR);
  EXPECT_EQ(metadata.api_version.minor_version, 0);
  EXPECT_EQ(record->calls, 0);
}

TEST(HandlerTest, MalformedMetadataQueryFails) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "rets"});
  CallFrameBuilder builder;
  XLA_FFI_Error* error = handler(builder.BuildMetadataQuery(nullptr));
  ASSERT_NE(error, nullptr);
  ErrorInfo info = TakeError(error);
  EXPECT_THAT(info.message, HasSubstr("metadata"));
  EXPECT_THAT(info.message, HasSubstr(TargetName()));
  EXPECT_EQ(record->calls, 0);
}

TEST(HandlerTest, NonExecuteStagesDoNothing) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "rets", "attrs.needed"});
  float x[1] = {1};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {1});
  // A frame that EXECUTE would refuse (missing attribute): other stages must not even look.
  for (XLA_FFI_ExecutionStage stage :
       {XLA_FFI_ExecutionStage_INSTANTIATE, XLA_FFI_ExecutionStage_PREPARE,
        XLA_FFI_ExecutionStage_INITIALIZE}) {
    builder.set_stage(stage);
    FakeExecutionContext context;
    EXPECT_TRUE(Call(handler, builder, context).ok) << stage;
    EXPECT_EQ(context.stream_get_calls, 0);
  }
  EXPECT_EQ(record->calls, 0);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(HandlerTest, RaisedErrorBecomesXlaErrorWithKindMessageAndTarget) {
  XLA_FFI_Handler* handler = Register(Throwing(), {"args"});
  float x[1];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {1});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_NE(result.error.code, XLA_FFI_Error_Code_OK);
  EXPECT_THAT(result.error.message, HasSubstr("ValueError"));
  EXPECT_THAT(result.error.message, HasSubstr("x must be 1-D, got 1 arguments"));
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
}

TEST(HandlerTest, MissingAttributeNamesAttributeAndTarget) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "attrs.eps"});
  CallFrameBuilder builder;
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.error.code, XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(result.error.message, HasSubstr("'eps'"));
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
  EXPECT_EQ(record->calls, 0);
}

TEST(HandlerTest, ExtraAttributeNamesAttributeAndTarget) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "attrs.eps"});
  CallFrameBuilder builder;
  builder.attrs()
      .Scalar<float>("eps", XLA_FFI_DataType_F32, 1.0f)
      .Scalar<float>("alpha", XLA_FFI_DataType_F32, 2.0f);
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("'alpha'"));
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
  EXPECT_EQ(record->calls, 0);
}

TEST(HandlerTest, UndecodableAttributeFails) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"attrs.z"});
  CallFrameBuilder builder;
  double complex_value[2] = {1, 2};
  builder.attrs().ScalarBytes("z", XLA_FFI_DataType_C128, complex_value, sizeof(complex_value));
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("'z'"));
  EXPECT_THAT(result.error.message, HasSubstr("C128"));
  EXPECT_EQ(record->calls, 0);
}

TEST(HandlerTest, UnmappableBufferTypeFails) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args"});
  float x[1];
  CallFrameBuilder builder;
  builder.AddArg(static_cast<XLA_FFI_DataType>(999), x, {1});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("999"));
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
  EXPECT_EQ(record->calls, 0);
}

TEST(HandlerTest, ArgumentCountMismatchIsReported) {
  // AddOne takes (x, y); the spec hands it two arguments and one result.
  XLA_FFI_Handler* handler = Register(AddOne(), {"args", "rets"});
  float a[1], b[1], y[1];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, a, {1});
  builder.AddArg(XLA_FFI_DataType_F32, b, {1});
  builder.AddRet(XLA_FFI_DataType_F32, y, {1});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("TypeError"));
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
}

// ---------------------------------------------------------------------------------------------
// Buffers by index, "none" and optional buffers, on both paths (pass_owned_tensor forces the
// general one).

class BufferItemsTest : public ::testing::TestWithParam<bool> {
 protected:
  TargetOptions Options() const {
    TargetOptions options;
    options.pass_owned_tensor = GetParam();
    return options;
  }
};

TEST_P(BufferItemsTest, InterleavedOutputsFirstSignature) {
  auto record = std::make_shared<Record>();
  // (q_out, k, q, maybe_slopes, k_out, positions): outputs first, inputs out of order.
  XLA_FFI_Handler* handler =
      Register(Recorder(record), {"rets.0", "args.1", "args.0", "none", "rets", "args"}, Options());
  float q[2], k[3], positions[4], q_out[2], k_out[3];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, q, {2});
  builder.AddArg(XLA_FFI_DataType_F32, k, {3});
  builder.AddArg(XLA_FFI_DataType_F32, positions, {4});
  builder.AddRet(XLA_FFI_DataType_F32, q_out, {2});
  builder.AddRet(XLA_FFI_DataType_F32, k_out, {3});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(record->args.size(), 6u);
  // Owned tensors are private copies of inputs (results are XLA's memory copied back), so only
  // the shapes identify inputs there.
  EXPECT_EQ(record->args[0].shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(record->args[1].shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(record->args[2].shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(record->args[3].type_index, TVMFFITypeIndex::kTVMFFINone);
  EXPECT_EQ(record->args[4].shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(record->args[5].shape, (std::vector<int64_t>{4}));
  if (!GetParam()) {
    EXPECT_EQ(record->args[0].data, q_out);
    EXPECT_EQ(record->args[1].data, k);
    EXPECT_EQ(record->args[2].data, q);
    EXPECT_EQ(record->args[4].data, k_out);
    EXPECT_EQ(record->args[5].data, positions);
  }
}

TEST_P(BufferItemsTest, AnEmptyOptionalBufferIsNone) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler =
      Register(Recorder(record), {"args.0", "args.1?", "args.2?", "rets"}, Options());
  float x[2], present[3], y[2];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {2});
  builder.AddArg(XLA_FFI_DataType_F32, nullptr, {4, 0});  // Zero elements: absent.
  builder.AddArg(XLA_FFI_DataType_F32, present, {3});
  builder.AddRet(XLA_FFI_DataType_F32, y, {2});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(record->args.size(), 4u);
  EXPECT_NE(record->args[0].type_index, TVMFFITypeIndex::kTVMFFINone);
  EXPECT_EQ(record->args[1].type_index, TVMFFITypeIndex::kTVMFFINone);
  EXPECT_EQ(record->args[2].shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(record->args[3].shape, (std::vector<int64_t>{2}));
}

TEST_P(BufferItemsTest, AnIndexPastTheCallsBuffersFailsNamingTheItem) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args.0", "args.2", "rets"}, Options());
  float a[1], b[1], y[1];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, a, {1});
  builder.AddArg(XLA_FFI_DataType_F32, b, {1});
  builder.AddRet(XLA_FFI_DataType_F32, y, {1});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.error.code, XLA_FFI_Error_Code_INVALID_ARGUMENT);
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
  EXPECT_THAT(result.error.message,
              HasSubstr("arg_spec item \"args.2\" names input 2, but the call has 2 inputs"));
  EXPECT_EQ(record->calls, 0);
}

TEST_P(BufferItemsTest, ABufferNoItemPassesFailsNamingIt) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args.1", "rets"}, Options());
  float a[1], b[1], y[1];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, a, {1});
  builder.AddArg(XLA_FFI_DataType_F32, b, {1});
  builder.AddRet(XLA_FFI_DataType_F32, y, {1});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
  EXPECT_THAT(result.error.message, HasSubstr("input 0 of 2 is passed by no arg_spec item"));
  EXPECT_EQ(record->calls, 0);
}

INSTANTIATE_TEST_SUITE_P(StraightAndGeneral, BufferItemsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "OwnedTensors" : "Views";
                         });

TEST(HandlerTest, ReturningAValueIsAnError) {
  XLA_FFI_Handler* handler =
      Register(Function::FromTyped([](TensorView x) -> int64_t { return x.ndim(); }), {"args"});
  float x[1];
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x, {1});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("returned a value"));
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
}

// ---------------------------------------------------------------------------------------------
// GPU platforms, with fake streams and device pointers that are never dereferenced.

struct GpuCase {
  Platform platform;
  DLDeviceType device_type;
  const char* name;
};

class GpuHandlerTest : public ::testing::TestWithParam<GpuCase> {
 protected:
  static constexpr int32_t kOrdinal = 2;

  void SetUp() override {
    device_type_ = GetParam().device_type;
    sentinel_ = reinterpret_cast<void*>(0x5E471E1);
    ASSERT_EQ(TVMFFIEnvSetStream(device_type_, kOrdinal, sentinel_, nullptr), 0);
    context_.stream = reinterpret_cast<void*>(0xABC0);
    context_.device_ordinal = kOrdinal;
  }
  void TearDown() override { TVMFFIEnvSetStream(device_type_, kOrdinal, nullptr, nullptr); }

  // Fake device pointers: the function must not dereference them.
  static void* Device(uintptr_t address) { return reinterpret_cast<void*>(address); }

  TargetOptions Options() const { return On(GetParam().platform); }

  DLDeviceType device_type_;
  void* sentinel_;
  FakeExecutionContext context_;
};

TEST_P(GpuHandlerTest, FunctionSeesXlaStreamAndDevice) {
  auto record = std::make_shared<Record>();
  record->stream_query = DLDevice{device_type_, kOrdinal};
  XLA_FFI_Handler* handler =
      Register(Recorder(record), {"args", "rets", "ctx.stream", "ctx.device_id"}, Options());
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_BF16, Device(0x7000), {8, 4});
  builder.AddRet(XLA_FFI_DataType_F32, Device(0x8000), {8});
  CallResult result = Call(handler, builder, context_);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_EQ(record->stream, context_.stream);
  ASSERT_EQ(record->args.size(), 4u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(record->args[i].device.device_type, device_type_) << i;
    EXPECT_EQ(record->args[i].device.device_id, kOrdinal) << i;
  }
  EXPECT_EQ(record->args[0].data, Device(0x7000));
  EXPECT_EQ(record->args[1].data, Device(0x8000));
  EXPECT_EQ(record->args[2].integer, 0xABC0);
  EXPECT_EQ(record->args[3].integer, kOrdinal);
  EXPECT_EQ(context_.stream_get_calls, 1);
  // The previous stream is back after the call.
  EXPECT_EQ(TVMFFIEnvGetStream(device_type_, kOrdinal), sentinel_);
}

TEST_P(GpuHandlerTest, StreamIsRestoredWhenTheFunctionThrows) {
  auto record = std::make_shared<Record>();
  record->stream_query = DLDevice{device_type_, kOrdinal};
  XLA_FFI_Handler* handler = Register(Throwing(record), {"args"}, Options());
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, Device(0x7000), {8});
  CallResult result = Call(handler, builder, context_);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("ValueError"));
  EXPECT_EQ(record->calls, 1);
  EXPECT_EQ(record->stream, context_.stream);
  EXPECT_EQ(TVMFFIEnvGetStream(device_type_, kOrdinal), sentinel_);
}

TEST_P(GpuHandlerTest, OtherDevicesStreamsAreUntouched) {
  void* other = reinterpret_cast<void*>(0x0DD);
  ASSERT_EQ(TVMFFIEnvSetStream(device_type_, kOrdinal + 1, other, nullptr), 0);
  auto record = std::make_shared<Record>();
  record->stream_query = DLDevice{device_type_, kOrdinal + 1};
  XLA_FFI_Handler* handler = Register(Recorder(record), {}, Options());
  CallFrameBuilder builder;
  CallResult result = Call(handler, builder, context_);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_EQ(record->stream, other);
  EXPECT_EQ(TVMFFIEnvGetStream(device_type_, kOrdinal + 1), other);
  TVMFFIEnvSetStream(device_type_, kOrdinal + 1, nullptr, nullptr);
}

TEST_P(GpuHandlerTest, StreamGetFailureIsAnError) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args"}, Options());
  context_.fail_stream_get = true;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, Device(0x7000), {8});
  CallResult result = Call(handler, builder, context_);  // Also checks the XLA error is freed.
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr(testing::kFakeStreamFailure));
  EXPECT_THAT(result.error.message, HasSubstr("stream"));
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
  EXPECT_EQ(record->calls, 0);
  EXPECT_EQ(TVMFFIEnvGetStream(device_type_, kOrdinal), sentinel_);
}

TEST_P(GpuHandlerTest, DeviceOrdinalFailureIsAnError) {
  auto record = std::make_shared<Record>();
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args"}, Options());
  context_.fail_device_ordinal_get = true;
  CallFrameBuilder builder;
  CallResult result = Call(handler, builder, context_);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("device ordinal"));
  EXPECT_EQ(record->calls, 0);
}

TEST_P(GpuHandlerTest, OwnedTensorsViewDeviceMemory) {
  auto record = std::make_shared<Record>();
  TargetOptions options = Options();
  options.pass_owned_tensor = true;
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "rets"}, options);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, Device(0x7000), {8, 2});
  builder.AddRet(XLA_FFI_DataType_F32, Device(0x8000), {8});
  CallResult result = Call(handler, builder, context_);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(record->args.size(), 2u);
  EXPECT_EQ(record->args[0].type_index, TVMFFITypeIndex::kTVMFFITensor);
  EXPECT_EQ(record->args[0].data, Device(0x7000));
  EXPECT_EQ(record->args[0].device.device_type, device_type_);
  EXPECT_EQ(record->args[0].device.device_id, kOrdinal);
  EXPECT_THAT(record->args[0].shape, ElementsAre(8, 2));
  EXPECT_EQ(record->args[1].data, Device(0x8000));
}

// Where a test's function puts the tensor it keeps past the call.
Tensor& KeptTensor() {
  static Tensor* kept = new Tensor();
  return *kept;
}

TEST_P(GpuHandlerTest, KeptOwnedTensorIsEmptied) {
  TargetOptions options = Options();
  options.pass_owned_tensor = true;
  XLA_FFI_Handler* handler = Register(
      Function::FromTyped([](Tensor, Tensor y) { KeptTensor() = y; }), {"args", "rets"}, options);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, Device(0x7000), {8});
  builder.AddRet(XLA_FFI_DataType_F32, Device(0x8000), {3, 5});
  CallResult result = Call(handler, builder, context_);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("kept a reference"));
  EXPECT_THAT(result.error.message, HasSubstr("Leaked temp owned tensors"));  // 0.1.3's words.
  EXPECT_THAT(result.error.message, HasSubstr("'" + TargetName() + "'"));
  EXPECT_THAT(result.error.message, HasSubstr("result 0"));
  EXPECT_THAT(result.error.message, ::testing::Not(HasSubstr("argument 0")));
  Tensor kept = KeptTensor();
  KeptTensor() = Tensor();
  ASSERT_TRUE(kept.defined());
  EXPECT_EQ(kept.data_ptr(), nullptr);
  EXPECT_THAT(std::vector<int64_t>(kept.shape().begin(), kept.shape().end()), ElementsAre(0, 0));
  EXPECT_EQ(kept.numel(), 0);
}

TEST_P(GpuHandlerTest, TensorKeptByAThrowingFunctionIsEmptied) {
  TargetOptions options = Options();
  options.pass_owned_tensor = true;
  XLA_FFI_Handler* handler = Register(Function::FromTyped([](Tensor x) {
                                        KeptTensor() = x;
                                        TVM_FFI_THROW(RuntimeError) << "after keeping";
                                      }),
                                      {"args"}, options);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, Device(0x7000), {4});
  CallResult result = Call(handler, builder, context_);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("RuntimeError: after keeping"));
  Tensor kept = KeptTensor();
  KeptTensor() = Tensor();
  ASSERT_TRUE(kept.defined());
  EXPECT_EQ(kept.data_ptr(), nullptr);
  EXPECT_EQ(kept.numel(), 0);
  EXPECT_EQ(TVMFFIEnvGetStream(device_type_, kOrdinal), sentinel_);
}

INSTANTIATE_TEST_SUITE_P(Platforms, GpuHandlerTest,
                         ::testing::Values(GpuCase{Platform::kCuda, kDLCUDA, "Cuda"},
                                           GpuCase{Platform::kRocm, kDLROCM, "Rocm"}),
                         [](const ::testing::TestParamInfo<GpuCase>& info) {
                           return std::string(info.param.name);
                         });

// ---------------------------------------------------------------------------------------------
// Owned tensors on CPU

TEST(OwnedTensorHandlerTest, FunctionGetsPrivateCopiesAndResultsAreCopiedBack) {
  auto seen = std::make_shared<std::vector<void*>>();
  Function function = Function::FromTyped([seen](Tensor x, Tensor y) {
    seen->push_back(x.data_ptr());
    seen->push_back(y.data_ptr());
    const float* in = static_cast<const float*>(x.data_ptr());
    float* out = static_cast<float*>(y.data_ptr());
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] + 1.0f;
  });
  TargetOptions options;
  options.pass_owned_tensor = true;
  XLA_FFI_Handler* handler = Register(function, {"args", "rets"}, options);
  std::vector<float> x = {1, 2, 3, 4};
  std::vector<float> y(4, 0.0f);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x.data(), {2, 2});
  builder.AddRet(XLA_FFI_DataType_F32, y.data(), {2, 2});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_THAT(y, ElementsAre(2, 3, 4, 5));
  EXPECT_THAT(x, ElementsAre(1, 2, 3, 4));
  ASSERT_EQ(seen->size(), 2u);
  EXPECT_NE((*seen)[0], static_cast<void*>(x.data()));
  EXPECT_NE((*seen)[1], static_cast<void*>(y.data()));
}

TEST(OwnedTensorHandlerTest, ResultAliasingAnArgumentStartsWithItsContents) {
  // input_output_aliases: XLA hands the same buffer as argument 0 and result 0.
  Function function = Function::FromTyped([](Tensor /*acc*/, Tensor update, Tensor out) {
    float* data = static_cast<float*>(out.data_ptr());
    const float* add = static_cast<const float*>(update.data_ptr());
    for (int64_t i = 0; i < out.numel(); ++i) data[i] += add[i];
  });
  TargetOptions options;
  options.pass_owned_tensor = true;
  XLA_FFI_Handler* handler = Register(function, {"args", "rets"}, options);
  std::vector<float> acc = {10, 20, 30};
  std::vector<float> update = {1, 2, 3};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, acc.data(), {3});
  builder.AddArg(XLA_FFI_DataType_F32, update.data(), {3});
  builder.AddRet(XLA_FFI_DataType_F32, acc.data(), {3});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_THAT(acc, ElementsAre(11, 22, 33));
}

TEST(OwnedTensorHandlerTest, FunctionReceivesTensorObjects) {
  auto record = std::make_shared<Record>();
  TargetOptions options;
  options.pass_owned_tensor = true;
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "rets"}, options);
  std::vector<int32_t> x = {1, 2, 3};
  std::vector<int32_t> y(3);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_S32, x.data(), {3});
  builder.AddRet(XLA_FFI_DataType_S32, y.data(), {3});
  FakeExecutionContext context;
  ASSERT_TRUE(Call(handler, builder, context).ok);
  ASSERT_EQ(record->args.size(), 2u);
  EXPECT_EQ(record->args[0].type_index, TVMFFITypeIndex::kTVMFFITensor);
  EXPECT_EQ(record->args[1].type_index, TVMFFITypeIndex::kTVMFFITensor);
  EXPECT_EQ(record->args[0].device.device_type, kDLCPU);
  EXPECT_THAT(record->args[0].shape, ElementsAre(3));
}

// A kept CPU argument is a private copy equal to the argument: harmless, so the call succeeds
// (jitted JAX in a Python callback leaves such a reference; see owned_tensor.h).
TEST(OwnedTensorHandlerTest, KeptCpuArgumentSucceedsAndStaysValid) {
  TargetOptions options;
  options.pass_owned_tensor = true;
  XLA_FFI_Handler* handler = Register(
      Function::FromTyped([](Tensor x, Tensor) { KeptTensor() = x; }), {"args", "rets"}, options);
  std::vector<float> x = {1.5f, -2.5f, 3.5f};
  std::vector<float> y(3);
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x.data(), {3});
  builder.AddRet(XLA_FFI_DataType_F32, y.data(), {3});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;

  Tensor kept = KeptTensor();
  KeptTensor() = Tensor();
  ASSERT_TRUE(kept.defined());
  ASSERT_NE(kept.data_ptr(), nullptr);
  EXPECT_NE(kept.data_ptr(), static_cast<void*>(x.data()));
  // XLA reuses its buffer after the call; the kept tensor holds its own copy.
  std::vector<float> original = x;
  x.assign(3, 0.0f);
  const float* data = static_cast<const float*>(kept.data_ptr());
  EXPECT_THAT(std::vector<float>(data, data + kept.numel()),
              ElementsAre(original[0], original[1], original[2]));
}

TEST(OwnedTensorHandlerTest, ThrowingFunctionReportsItsOwnError) {
  TargetOptions options;
  options.pass_owned_tensor = true;
  XLA_FFI_Handler* handler = Register(Throwing(), {"args"}, options);
  std::vector<float> x = {1};
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F32, x.data(), {1});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_FALSE(result.ok);
  EXPECT_THAT(result.error.message, HasSubstr("ValueError"));
}

TEST(OwnedTensorHandlerTest, ZeroSizeAndScalarTensors) {
  auto record = std::make_shared<Record>();
  TargetOptions options;
  options.pass_owned_tensor = true;
  XLA_FFI_Handler* handler = Register(Recorder(record), {"args", "rets"}, options);
  double scalar = 4.0;
  float empty[1];
  double out = 0;
  CallFrameBuilder builder;
  builder.AddArg(XLA_FFI_DataType_F64, &scalar, {});
  builder.AddArg(XLA_FFI_DataType_F32, empty, {0, 3});
  builder.AddRet(XLA_FFI_DataType_F64, &out, {});
  FakeExecutionContext context;
  CallResult result = Call(handler, builder, context);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_EQ(record->args.size(), 3u);
  EXPECT_TRUE(record->args[0].shape.empty());
  EXPECT_THAT(record->args[1].shape, ElementsAre(0, 3));
}

}  // namespace
}  // namespace jax_tvm_ffi

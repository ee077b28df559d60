/*!
 * \file test_fuzz_cases.cc
 * \brief The fuzzers' checks (fuzz/frame_case.h, fuzz/spec_case.h, fuzz/payload_case.h) replayed on
 * fixed inputs in the ordinary test build: pseudo-random cases from a fixed seed, which must reach
 * every outcome (so the generator is not stuck on one path), and handwritten cases for the
 *        boundaries the fuzzers are meant to explore. Inputs that once made a fuzzer fail are
 *        added to kRegressions.
 */
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "frame_case.h"
#include "frame_input.h"
#include "frame_model.h"
#include "payload_case.h"
#include "spec_case.h"

namespace jax_tvm_ffi {
namespace {

using fuzz::FrameOutcome;
using fuzz::RunFrameCase;
using fuzz::RunPayloadCase;
using fuzz::RunSpecCase;

std::string RunSpec(const std::string& text) {
  return RunSpecCase(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

std::string RunFrame(const std::vector<uint8_t>& bytes, FrameOutcome* outcome = nullptr) {
  return RunFrameCase(bytes.data(), bytes.size(), outcome);
}

// Inputs that made the call-frame fuzzer report a failure, replayed forever after. They are in
// the format fuzz/frame_input.cc reads: a change of that format needs them found again.
const std::vector<std::vector<uint8_t>> kRegressions = {
    // Found in the core (see test_fuzz_findings.cc): a null argument after enough dimensions to
    // overflow the decoder's inline storage was dereferenced.
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc2, 0xc1, 0xc1, 0xc3, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e,
     0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x63, 0x74, 0x78, 0x2e,
     0x73, 0x74, 0x72, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e,
     0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e,
     0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3c, 0x3e, 0x3e, 0x3e, 0x3e,
     0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xc1, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e,
     0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3c, 0x3e,
     0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x48, 0x48, 0x48, 0x48,
     0x48, 0x00, 0x00, 0x01, 0x00, 0x00, 0x15, 0x00, 0x48, 0x48, 0x3e, 0x3e},
    // The next three came, within seconds, from deliberately broken copies of the core (a check
    // of the fuzzer itself), and would catch the same breakage again.
    // A 2-row F4E2M1FN buffer with an odd last dimension, accepted when "several rows" was
    // taken to mean more than two.
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x47,
     0xc6, 0xc6, 0xc6, 0xc6, 0x34, 0xc6, 0x0a, 0xaa, 0x0a, 0xc6},
    // An attribute passed twice, accepted when the general path ignored repeats.
    {0xef, 0x0a, 0x74, 0x03, 0x00, 0x00, 0x00, 0xff, 0x16, 0x00, 0x20,
     0x00, 0xe5, 0xff, 0x30, 0x60, 0xbf, 0x08, 0x03, 0x00, 0x00, 0x6a},
    // An attribute whose name is a prefix of the spec's, taken for it when the fast path compared
    // names without their lengths.
    {0x63, 0x2b, 0x2b, 0x00, 0x00, 0x73, 0x6c, 0x6f, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x73, 0x6c, 0x6f,
     0x00, 0x00, 0x0c},
    // Found in the core (see test_fuzz_findings.cc): the straight path read the unfilled view of
    // a buffer it refused, for an optional item ("args.<i>?").
    {0x64, 0xcb, 0x5d, 0xcb, 0x00, 0x00, 0xff, 0x40, 0xa5, 0x9b, 0xff, 0x85, 0x20, 0x00, 0x00,
     0x00, 0x00, 0x00, 0xee, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x31},
};

TEST(FuzzCasesTest, RegressionInputs) {
  for (const std::vector<uint8_t>& bytes : kRegressions) {
    FrameOutcome outcome;
    EXPECT_EQ(RunFrame(bytes, &outcome), "");
    EXPECT_EQ(outcome, FrameOutcome::kFrameRefused);
  }
}

TEST(FuzzCasesTest, ArgSpecBoundaries) {
  for (const char* text :
       {"", "args", "args\nrets", "rets\nargs", "args\nargs", "ret", "attrs.", "attrs", "attrs.a",
        "attrs.b\nattrs.a\nargs", "attrs.a\nattrs.a", "ctx.foo", "ctx.stream\nctx.device_id",
        "attr.eps", "\n", "args\n", "attrs.\xff\x01", "cpu", "CUDA", "ROCm", "gpu ", "Args",
        "attrs.a\nattrs.A\nattrs.a0\nattrs.x.y",
        // Buffers by index, optional buffers, "none".
        "args.0", "rets.0?", "rets.0\nargs.1\nargs.0?\nnone", "args.1\nargs\nrets\nrets.0?",
        "args.0\nargs.0?", "args.0?\nargs.0", "rets.3\nrets.3", "args.0\nrets.0", "none",
        "none\nnone", "None", "args.", "args.?", "args.??", "args.01", "args.00", "args.-1",
        "args.+1", "args. 1", "args.1 ", "args.1e3", "args.0x1", "args.1048576", "rets.1048576?",
        "args.1048577", "args.4294967296", "args.18446744073709551617",
        "args.99999999999999999999999", "arg.0", "args0", "Args.0", "attrs.args.0\nargs.0"}) {
    EXPECT_EQ(RunSpec(text), "") << "arg_spec text: " << text;
  }
}

TEST(FuzzCasesTest, RandomArgSpecs) {
  const std::vector<std::string> pieces = {"args",   "rets",     "ctx.stream", "ctx.device_id",
                                           "attrs.", "attrs",    "a",          "eps",
                                           "ret",    "\n",       "\n",         "\n",
                                           ".",      "\xc3\xa9", "cpu",        "x",
                                           "none",   "args.",    "rets.",      "0",
                                           "1",      "7",        "?",          "01",
                                           "1048576"};
  std::mt19937 random(20240601);
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    const int length = static_cast<int>(random() % 10);
    for (int j = 0; j < length; ++j) text += pieces[random() % pieces.size()];
    ASSERT_EQ(RunSpec(text), "") << "arg_spec text: " << text;
  }
}

// Records of the payload fuzzer's input: name selector, type, length, value (payload_case.h).
std::string PayloadRecord(uint8_t selector, uint8_t type, const std::string& value) {
  return std::string{static_cast<char>(selector), static_cast<char>(type),
                     static_cast<char>(value.size())} +
         value;
}

TEST(FuzzCasesTest, PayloadCasesAcceptAWellFormedPayload) {
  // version (S64 scalar, 1), function, library, digest: the minimum a payload needs.
  const std::string input = PayloadRecord(0, 0, "") + PayloadRecord(2, 2, "add_one") +
                            PayloadRecord(3, 3,
                                          "\x7f"
                                          "ELF") +
                            PayloadRecord(4, 2, "00ff");
  bool accepted = false;
  EXPECT_EQ(RunPayloadCase(reinterpret_cast<const uint8_t*>(input.data()), input.size(), &accepted),
            "");
  EXPECT_TRUE(accepted);
}

TEST(FuzzCasesTest, RandomPayloadsAreAcceptedAndRefused) {
  std::mt19937 random(20261202);
  int accepted_count = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string input;
    if (random() % 2 == 0) {
      // Half the cases start from the four attributes a payload needs, with their types, so
      // that acceptance is reached; what follows may still spoil them.
      input = PayloadRecord(0, 0, "") + PayloadRecord(2, 2, "f") + PayloadRecord(3, 3, "lib") +
              PayloadRecord(4, 2, "d");
    }
    const int records = static_cast<int>(random() % 4);
    for (int r = 0; r < records; ++r) {
      const uint8_t selector = static_cast<uint8_t>(random() % 16);
      const uint8_t type = static_cast<uint8_t>(random() % 5);
      std::string value(random() % 12, 'a');
      for (char& c : value) c = static_cast<char>(random());
      input += PayloadRecord(selector, type, value);
    }
    input.push_back(static_cast<char>(random()));
    bool accepted = false;
    ASSERT_EQ(
        RunPayloadCase(reinterpret_cast<const uint8_t*>(input.data()), input.size(), &accepted), "")
        << "case " << i;
    accepted_count += accepted ? 1 : 0;
  }
  // The generator reaches both outcomes.
  EXPECT_GT(accepted_count, 0);
  EXPECT_LT(accepted_count, 3000);
}

TEST(FuzzCasesTest, RandomFramesReachEveryOutcome) {
  std::mt19937 random(1234567);
  std::map<FrameOutcome, int> outcomes;
  for (int i = 0; i < 4000; ++i) {
    std::vector<uint8_t> bytes(random() % 512);
    for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(random());
    FrameOutcome outcome;
    ASSERT_EQ(RunFrame(bytes, &outcome), "") << "case " << i;
    ++outcomes[outcome];
  }
  for (FrameOutcome outcome :
       {FrameOutcome::kSpecRefused, FrameOutcome::kMetadata, FrameOutcome::kOtherStage,
        FrameOutcome::kPlacementFailed, FrameOutcome::kFrameRefused, FrameOutcome::kFunctionThrew,
        FrameOutcome::kTensorKept, FrameOutcome::kValueReturned, FrameOutcome::kSucceeded}) {
    EXPECT_GT(outcomes[outcome], 0)
        << "no generated case came to outcome " << static_cast<int>(outcome);
  }
}

// The generator reaches every part of the grammar that names buffers, and both paths take such
// calls: the model's claims about them are exercised, not vacuous.
TEST(FuzzCasesTest, RandomFramesReachEveryBufferItemCase) {
  std::mt19937 random(424242);
  std::map<std::string, int> reached;
  for (int i = 0; i < 6000; ++i) {
    std::vector<uint8_t> bytes(random() % 512);
    for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(random());
    FrameOutcome outcome;
    fuzz::FrameCoverage coverage;
    ASSERT_EQ(RunFrameCase(bytes.data(), bytes.size(), &outcome, &coverage), "") << "case " << i;
    const bool named = coverage.index_only || coverage.index_and_rest;
    reached["straight path"] += coverage.straight;
    reached["straight path, buffers by index"] += coverage.straight && named;
    reached["None for an empty optional buffer"] += coverage.optional_none;
    reached["an optional buffer with elements"] += coverage.optional_tensor;
    reached["\"none\""] += coverage.none_item;
    reached["an index naming the last buffer"] += coverage.index_at_last;
    reached["an index past the count"] += coverage.index_past;
    reached["a buffer no item passes"] += coverage.unpassed;
    reached["indices and no catch-all"] += coverage.index_only;
    reached["indices and a catch-all"] += coverage.index_and_rest;
  }
  for (const char* what :
       {"straight path", "straight path, buffers by index", "None for an empty optional buffer",
        "an optional buffer with elements", "\"none\"", "an index naming the last buffer",
        "an index past the count", "a buffer no item passes", "indices and no catch-all",
        "indices and a catch-all"}) {
    EXPECT_GT(reached[what], 0) << "no generated case reached: " << what;
  }
}

TEST(FuzzCasesTest, GrammarModelReadsItems) {
  using fuzz::ModelItem;
  using fuzz::ModelParseItem;
  EXPECT_EQ(ModelParseItem("none").kind, ModelItem::kNone);
  const ModelItem optional = ModelParseItem("rets.12?");
  EXPECT_EQ(optional.kind, ModelItem::kRet);
  EXPECT_EQ(optional.index, 12u);
  EXPECT_TRUE(optional.optional);
  EXPECT_EQ(ModelParseItem("args.1048576").index, size_t{1} << 20);
  for (const char* invalid : {"args.1048577", "args.01", "args.", "args.?", "args.1??", "args.-1",
                              "args.99999999999", "attrs.", "Args.0"}) {
    EXPECT_EQ(ModelParseItem(invalid).kind, ModelItem::kInvalid) << invalid;
  }
}

TEST(FuzzCasesTest, CountsModelNamesTheOffendingItem) {
  using fuzz::ModelCountProblems;
  using Names = std::vector<std::string>;
  // Every buffer passed once: by index, or the rest by "args" / "rets".
  EXPECT_EQ(ModelCountProblems({"args.1", "args.0?"}, 2, 5), Names{});
  EXPECT_EQ(ModelCountProblems({"args", "args.1"}, 4, 0), Names{});
  EXPECT_EQ(ModelCountProblems({"args"}, 0, 3), Names{});
  // An index past the count.
  EXPECT_EQ(ModelCountProblems({"args.2", "args.0"}, 2, 0), Names{"args.2"});
  EXPECT_EQ(ModelCountProblems({"args", "rets.0?"}, 1, 0), Names{"rets.0?"});
  // A buffer no item passes, where a list is named by index with no catch-all.
  EXPECT_EQ(ModelCountProblems({"args.1"}, 3, 0), (Names{"args.0", "args.2"}));
  EXPECT_EQ(ModelCountProblems({"rets.0", "args"}, 0, 2), Names{"rets.1"});
}

// Whether unchecked 64-bit arithmetic (elements * bits, wrapping) would have served a request
// that is truly too large: the heap corruption of issue 17.
bool WrapsToAServedSize(const fuzz::ScratchRequest& request) {
  uint64_t elements = 1;
  for (int64_t dim : request.shape) elements *= static_cast<uint64_t>(dim);
  const uint64_t bits = elements * request.dtype.bits * request.dtype.lanes;
  return request.model.verdict == fuzz::ModelScratch::kTooLarge &&
         (bits + 7) / 8 <= fuzz::kModelMaxScratchBytes;
}

TEST(FuzzCasesTest, RandomFramesReachEveryScratchVerdict) {
  std::mt19937 random(7654321);
  std::map<std::string, int> reached;
  for (int i = 0; i < 4000; ++i) {
    std::vector<uint8_t> bytes(random() % 512);
    for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(random());
    FrameOutcome outcome;
    ASSERT_EQ(RunFrame(bytes, &outcome), "") << "case " << i;
    if (outcome != FrameOutcome::kSucceeded && outcome != FrameOutcome::kFunctionThrew) continue;
    for (const fuzz::ScratchRequest& request :
         fuzz::ReadFrameInput(bytes.data(), bytes.size()).scratch) {
      const fuzz::ModelScratch& model = request.model;
      const bool sub_byte = request.dtype.bits < 8 && request.dtype.bits > 0;
      if (model.verdict == fuzz::ModelScratch::kServed) {
        ++reached[model.bytes == 0 ? "served empty" : "served"];
        if (sub_byte && model.bytes > 0) ++reached["served sub-byte"];
        for (int64_t dim : request.shape) {
          if (model.bytes == 0 && dim > (int64_t{1} << 40)) ++reached["empty with a huge dim"];
        }
      } else {
        ++reached[model.verdict == fuzz::ModelScratch::kTooLarge ? "too large" : "invalid"];
        if (sub_byte && model.verdict == fuzz::ModelScratch::kTooLarge) {
          ++reached["sub-byte too large"];
        }
        if (WrapsToAServedSize(request)) ++reached["wraps around 2^64"];
        if (model.verdict == fuzz::ModelScratch::kTooLarge &&
            model.true_bytes <= 4 * fuzz::kModelMaxScratchBytes) {
          ++reached["just past the limit"];
        }
      }
    }
  }
  for (const char* verdict :
       {"served", "served empty", "served sub-byte", "empty with a huge dim", "too large",
        "invalid", "sub-byte too large", "wraps around 2^64", "just past the limit"}) {
    EXPECT_GT(reached[verdict], 0) << "no generated call made a request that is " << verdict;
  }
}

TEST(FuzzCasesTest, ScratchModelOfTheIssueCases) {
  fuzz::ModelScratch bytes = fuzz::ModelScratchRequest({kDLUInt, 8, 1}, {(int64_t{1} << 61) + 64});
  EXPECT_EQ(bytes.verdict, fuzz::ModelScratch::kTooLarge);
  EXPECT_EQ(bytes.message, "is too large: 2305843009213694016 elements, 2305843009213694016 bytes");
  fuzz::ModelScratch floats =
      fuzz::ModelScratchRequest({kDLFloat, 32, 1}, {int64_t{1} << 20, (int64_t{1} << 39) + 16});
  EXPECT_EQ(floats.verdict, fuzz::ModelScratch::kTooLarge);
  for (uint8_t bits : {1, 2}) {
    fuzz::ModelScratch small = fuzz::ModelScratchRequest({kDLInt, bits, 1}, {16});
    EXPECT_EQ(small.verdict, fuzz::ModelScratch::kServed);
    EXPECT_EQ(small.bytes, 2u * bits);
  }
}

TEST(FuzzCasesTest, EmptyAndShortInputs) {
  for (size_t size = 0; size < 64; ++size) {
    EXPECT_EQ(RunFrame(std::vector<uint8_t>(size, 0)), "");
    EXPECT_EQ(RunFrame(std::vector<uint8_t>(size, 0xff)), "");
    EXPECT_EQ(RunFrame(std::vector<uint8_t>(size, 0x55)), "");
  }
}

}  // namespace
}  // namespace jax_tvm_ffi

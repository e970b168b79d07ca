// Pre-packed weights in the persistent cache (PlanCache kind "packed"): a second executor on
// the same folder loads them (hits) and gives bit-identical outputs; a corrupt packed file is a
// logged miss and a rebuild with identical outputs; another checkpoint of the same config (same
// model identity, other weights) never reuses the first one's packed entries; with the
// persistent cache off nothing is read or written.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "models/toto/forecaster.h"
#include "runtime/compiled_executor.h"
#include "test_util.h"

namespace {

using namespace fcast;
using toto::TotoModel;
namespace fs = std::filesystem;

std::string golden(const std::string& rel) { return std::string(FCAST_TEST_DATA) + "/golden/" + rel; }

struct TempDir : test::TempDir {
  explicit TempDir(const std::string& tag) : test::TempDir("packed_test_" + tag, /*create=*/false) {}
};

CompileSettings cached(const fs::path& dir, Precision p = Precision::FP32, bool persistent = true) {
  CompileSettings s;
  s.backend = CompileBackend::Inductor;
  s.mode = CompileMode::Default;
  s.precision = p;
  s.persistent_cache = persistent;
  s.models_dir = (dir / "models").string();
  s.kernel_cache_dir = (dir / "kernels").string();
  s.context_buckets = {64, 128, 256, 512};
  return s;
}

struct Inputs {
  Tensor series, mask, ids;
};
Inputs random_inputs(int64_t B, int64_t V, int64_t T, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  Inputs in{Tensor::empty(DType::F32, {B, V, T}), Tensor::empty(DType::U8, {B, V, T}), Tensor::zeros(DType::I32, {B, V, T})};
  float level = 10.0f;
  for (int64_t i = 0; i < in.series.numel(); ++i) {
    level += 0.1f * d(g);
    in.series.data<float>()[i] = level + d(g);
    in.mask.data<uint8_t>()[i] = (i % 17) != 3;
  }
  return in;
}

bool equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

struct Result {
  Tensor out;
  int64_t hits = 0, misses = 0;
};
Result forward(const toto::TotoWeights& w, const CompileSettings& s, const Inputs& in) {
  auto ex = std::make_shared<CompiledExecutor>(s, w.identity);
  Result r;
  r.out = TotoModel(w, ex).forward(in.series, in.mask, in.ids).mix_loc;
  r.hits = ex->packed_cache_hits();
  r.misses = ex->packed_cache_misses();
  return r;
}

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  if (fs::exists(dir))
    for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() && e.path().extension() == ".packed";
  return n;
}

TEST(CompiledPackedCache, SecondExecutorLoadsPackedWeightsBitIdentical) {
  toto::TotoWeights w = toto::load_toto(golden("toto/models/tiny_b"));
  const Inputs in = random_inputs(1, 2, 64, 4);
  for (Precision p : {Precision::FP32, Precision::BF16}) {
    TempDir dir(p == Precision::BF16 ? "bf16" : "fp32");
    const Result first = forward(w, cached(dir.path, p), in);
    EXPECT_EQ(first.hits, 0);
    EXPECT_GT(first.misses, 0);
    EXPECT_EQ(count_files(dir.path / "models" / "packed"), static_cast<size_t>(first.misses));
    const Result second = forward(w, cached(dir.path, p), in);
    EXPECT_EQ(second.hits, first.misses) << "every packed weight comes from the cache";
    EXPECT_EQ(second.misses, 0);
    EXPECT_TRUE(equal(second.out, first.out)) << "outputs from cached packed weights differ";
    // Without the persistent cache: same numbers, nothing read or written.
    TempDir off("off");
    const Result none = forward(w, cached(off.path, p, false), in);
    EXPECT_EQ(none.hits + none.misses, 0);
    EXPECT_FALSE(fs::exists(off.path));
    EXPECT_TRUE(equal(none.out, first.out));
  }
}

TEST(CompiledPackedCache, CorruptPackedFileIsAMissAndARebuild) {
  toto::TotoWeights w = toto::load_toto(golden("toto/models/tiny_b"));
  const Inputs in = random_inputs(1, 2, 64, 5);
  TempDir dir("corrupt");
  const Result first = forward(w, cached(dir.path, Precision::BF16), in);
  ASSERT_GT(first.misses, 0);
  // Flip one payload byte (the last) in every packed file; truncate one of them as well.
  bool truncated = false;
  for (const auto& e : fs::directory_iterator(dir.path / "models" / "packed")) {
    const auto size = fs::file_size(e.path());
    if (!truncated) {
      fs::resize_file(e.path(), size / 2);
      truncated = true;
      continue;
    }
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size - 1));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(size - 1));
    f.write(&c, 1);
  }
  testing::internal::CaptureStderr();
  const Result second = forward(w, cached(dir.path, Precision::BF16), in);
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(second.hits, 0);
  EXPECT_EQ(second.misses, first.misses);
  EXPECT_NE(log.find("payload checksum mismatch"), std::string::npos) << log;
  EXPECT_NE(log.find("truncated"), std::string::npos) << log;
  EXPECT_TRUE(equal(second.out, first.out)) << "a rebuild after corruption must give the same numbers";
  // The rebuild stored good entries over the bad ones.
  const Result third = forward(w, cached(dir.path, Precision::BF16), in);
  EXPECT_EQ(third.hits, first.misses);
  EXPECT_EQ(third.misses, 0);
  EXPECT_TRUE(equal(third.out, first.out));
}

TEST(CompiledPackedCache, AnotherCheckpointOfTheSameConfigNeverHits) {
  TempDir dir("ckpt");
  const toto::TotoConfig cfg = toto::load_toto(golden("toto/models/tiny_b")).config;
  toto::write_random_toto(cfg, 101, (dir.path / "ckpt_a").string());
  toto::write_random_toto(cfg, 202, (dir.path / "ckpt_b").string());
  toto::TotoWeights a = toto::load_toto((dir.path / "ckpt_a").string());
  toto::TotoWeights b = toto::load_toto((dir.path / "ckpt_b").string());
  ASSERT_EQ(a.identity, b.identity) << "the test needs two checkpoints with one model identity";
  const Inputs in = random_inputs(1, 2, 64, 6);
  for (Precision p : {Precision::FP32, Precision::BF16}) {
    const fs::path cache = dir.path / (p == Precision::BF16 ? "cache_bf16" : "cache_fp32");
    const Result ra = forward(a, cached(cache, p), in);
    ASSERT_GT(ra.misses, 0);
    const Result rb = forward(b, cached(cache, p), in);
    EXPECT_EQ(rb.hits, 0) << "checkpoint b reused packed weights of checkpoint a";
    EXPECT_EQ(rb.misses, ra.misses);
    const Result fresh = forward(b, cached(dir.path / "unused", p, false), in);
    EXPECT_TRUE(equal(rb.out, fresh.out)) << "checkpoint b must run on its own weights";
    EXPECT_FALSE(equal(rb.out, ra.out));
    // Both checkpoints now hit their own entries.
    EXPECT_EQ(forward(a, cached(cache, p), in).misses, 0);
    EXPECT_EQ(forward(b, cached(cache, p), in).misses, 0);
  }
}

}  // namespace

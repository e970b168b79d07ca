// PlanCache: round trip, and every way a file can be wrong (corrupt byte, truncated, foreign
// format version, other engine version, other CPU features, other identity) is a miss with a
// log line, never a crash. Entries written by hand here follow docs/CACHE_FORMAT.md, so these
// tests also check the documentation. Two processes sharing one folder both succeed; an
// unwritable folder is logged, not thrown.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/hash.h"
#include "runtime/plan_cache.h"
#include "test_util.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;

class PlanCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("fcast_plan_cache_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

using test::slurp;

using test::spit;

// Runs `f` with stderr captured; returns what it wrote.
template <class F>
std::string stderr_of(F f) {
  ::testing::internal::CaptureStderr();
  f();
  return ::testing::internal::GetCapturedStderr();
}

// An entry encoded by hand from docs/CACHE_FORMAT.md, with every field controllable.
struct Entry {
  std::string magic = std::string("\x89" "FCAST\r\n", 8);
  uint32_t version = 1;
  std::string engine = PlanCache::engine_version();
  std::string cpu = PlanCache::cpu_features();
  std::string kind, identity, signature;
  std::string payload;

  static void u32(std::string& o, uint32_t v) {
    for (int i = 0; i < 4; ++i) o.push_back(static_cast<char>(v >> (8 * i)));
  }
  static void u64(std::string& o, uint64_t v) {
    for (int i = 0; i < 8; ++i) o.push_back(static_cast<char>(v >> (8 * i)));
  }
  static void str(std::string& o, const std::string& s) {
    u32(o, static_cast<uint32_t>(s.size()));
    o += s;
  }
  std::string encode() const {
    std::string h = magic;
    u32(h, version);
    u32(h, 0);
    str(h, engine);
    str(h, cpu);
    str(h, kind);
    str(h, identity);
    u64(h, fnv1a64(signature));
    str(h, signature);
    u64(h, payload.size());
    u64(h, fnv1a64(payload));
    const uint32_t len = static_cast<uint32_t>(h.size() + 8);
    for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<char>(len >> (8 * i));
    u64(h, fnv1a64(h));
    return h + payload;
  }
};

const CacheKey kKey{"plan", "model-abc", "phase=prefill;batch=1;variates=1;ctx=512;mode=max-autotune"};

std::string payload_of(size_t n, char seed) {
  std::string p(n, '\0');
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<char>(seed + 31 * i + (i >> 7));
  return p;
}

TEST_F(PlanCacheTest, RoundTrip) {
  PlanCache c(dir_);
  EXPECT_FALSE(c.load(kKey));  // cold: a miss, not logged
  EXPECT_EQ(c.misses(), 1);
  const std::string payload = payload_of(100000, 3) + std::string("\0\xff", 2);
  const std::string log = stderr_of([&] { c.store(kKey, payload); });
  EXPECT_TRUE(log.empty()) << log;
  auto got = c.load(kKey);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, payload);
  EXPECT_EQ(c.hits(), 1);
  EXPECT_EQ(c.misses(), 1);
  // Empty payloads are fine too.
  const CacheKey empty{"autotune", "", "matmul m=1 k=2 n=3"};
  c.store(empty, "");
  ASSERT_TRUE(c.load(empty));
  EXPECT_EQ(*c.load(empty), "");

  // Layout: <dir>/<kind>/<hash>.<kind>; the name depends on kind, identity and signature.
  const fs::path p = c.path_for(kKey);
  EXPECT_EQ(p.parent_path(), fs::path(dir_) / "plan");
  EXPECT_EQ(p.extension(), ".plan");
  EXPECT_TRUE(fs::exists(p));
  EXPECT_NE(c.path_for(kKey), c.path_for({"plan", "model-abd", kKey.signature}));
  EXPECT_NE(c.path_for(kKey), c.path_for({"plan", kKey.model_identity, kKey.signature + " "}));
  EXPECT_NE(c.path_for(kKey), c.path_for({"packed", kKey.model_identity, kKey.signature}));
  // No temporary files are left behind.
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 2);

  // A second cache object (a later process) reads what the first wrote.
  PlanCache again(dir_);
  ASSERT_TRUE(again.load(kKey));
  EXPECT_EQ(again.hits(), 1);
}

TEST_F(PlanCacheTest, HandWrittenEntryMatchesTheDocumentedFormat) {
  PlanCache c(dir_);
  c.store(kKey, "payload bytes");
  Entry e;
  e.kind = kKey.kind;
  e.identity = kKey.model_identity;
  e.signature = kKey.signature;
  e.payload = "payload bytes";
  EXPECT_EQ(slurp(c.path_for(kKey)), e.encode());
}

// Writes `bytes` at the entry's path and expects a logged miss whose line names the file and
// contains `reason`.
void expect_miss(PlanCache& c, const std::string& bytes, const std::string& reason) {
  fs::create_directories(fs::path(c.path_for(kKey)).parent_path());
  spit(c.path_for(kKey), bytes);
  const int64_t misses = c.misses();
  std::optional<std::string> got;
  const std::string log = stderr_of([&] { got = c.load(kKey); });
  EXPECT_FALSE(got) << reason;
  EXPECT_EQ(c.misses(), misses + 1);
  EXPECT_NE(log.find(c.path_for(kKey)), std::string::npos) << log;
  EXPECT_NE(log.find(reason), std::string::npos) << "log: " << log << "\nexpected: " << reason;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
}

TEST_F(PlanCacheTest, EveryMismatchIsALoggedMiss) {
  PlanCache c(dir_);
  Entry good;
  good.kind = kKey.kind;
  good.identity = kKey.model_identity;
  good.signature = kKey.signature;
  good.payload = payload_of(4096, 9);
  const std::string bytes = good.encode();
  {  // sanity: the hand-written entry is a hit
    spit((fs::create_directories(fs::path(c.path_for(kKey)).parent_path()), c.path_for(kKey)), bytes);
    ASSERT_TRUE(c.load(kKey));
  }

  // One corrupt byte, anywhere: in the payload, in the header strings, in the checksums.
  for (size_t at : {bytes.size() - 1, bytes.size() - 2000, size_t{20}, size_t{40}, bytes.size() - 4096 - 3}) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    expect_miss(c, bad, "checksum mismatch");
  }
  // Truncated: in the payload, in the header, inside the fixed prefix, empty.
  expect_miss(c, bytes.substr(0, bytes.size() - 1), "truncated");
  expect_miss(c, bytes.substr(0, bytes.size() - 4096 + 10), "truncated");
  expect_miss(c, bytes.substr(0, 60), "truncated");
  expect_miss(c, bytes.substr(0, 10), "truncated");
  expect_miss(c, "", "truncated");
  // Extra bytes after the payload.
  expect_miss(c, bytes + "x", "unexpected bytes");
  // Not a cache file at all.
  expect_miss(c, "hello, world, this is a text file and not a cache entry at all", "bad magic");

  Entry e = good;
  e.version = 2;
  expect_miss(c, e.encode(), "foreign format version 2");
  e = good;
  e.engine = "fcast 0.0.1 (gcc 1.0)";
  expect_miss(c, e.encode(), "written by engine 'fcast 0.0.1 (gcc 1.0)'");
  {
    // After an upgrade every entry is another build's: only the first one is logged.
    fs::create_directories(fs::path(c.path_for(kKey)).parent_path());
    spit(c.path_for(kKey), e.encode());
    const int64_t misses = c.misses();
    const std::string log = stderr_of([&] { EXPECT_FALSE(c.load(kKey)); });
    EXPECT_EQ(c.misses(), misses + 1);
    EXPECT_EQ(log, "");
  }
  e = good;
  e.cpu = "x86_64:avx2,avx512f,avx512bf16,amx-tile,amx-bf16,some-other-cpu";
  PlanCache c2(dir_);
  expect_miss(c2, e.encode(), "written on another CPU");
  e = good;
  e.identity = "another-model";
  expect_miss(c, e.encode(), "model identity 'another-model'");
  e = good;
  e.kind = "autotune";
  expect_miss(c, e.encode(), "holds a 'autotune' entry");
  e = good;
  e.signature = kKey.signature + ";batch=2";
  expect_miss(c, e.encode(), "signature hash");

  // Afterwards the entry is simply rebuilt and stored over the bad file.
  c.store(kKey, good.payload);
  auto got = c.load(kKey);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, good.payload);
}

TEST_F(PlanCacheTest, DirectoryInPlaceOfTheFileIsAMiss) {
  PlanCache c(dir_);
  fs::create_directories(c.path_for(kKey));
  std::optional<std::string> got;
  const std::string log = stderr_of([&] { got = c.load(kKey); });
  EXPECT_FALSE(got);
  EXPECT_NE(log.find("not a regular file"), std::string::npos) << log;
  const std::string store_log = stderr_of([&] { c.store(kKey, "x"); });  // rename onto a directory fails: logged
  EXPECT_NE(store_log.find("cannot store"), std::string::npos) << store_log;
}

TEST_F(PlanCacheTest, UnwritableDirectoryIsLoggedNotThrown) {
  fs::create_directories(dir_);
  spit(dir_ + "/a-file", "x");
  PlanCache c(dir_ + "/a-file/cache");  // a folder below a regular file can never be created, even by root
  std::string log;
  EXPECT_NO_THROW(log = stderr_of([&] { c.store(kKey, "payload"); }));
  EXPECT_NE(log.find("cannot store"), std::string::npos) << log;
  EXPECT_NE(log.find(c.path_for(kKey)), std::string::npos) << log;
  std::optional<std::string> got;
  EXPECT_NO_THROW(got = c.load(kKey));
  EXPECT_FALSE(got);
  EXPECT_EQ(c.misses(), 1);
}

// A folder where nothing can be stored (read-only, full, or here: below a regular file, which
// stops root too) fails every store the same way: one line per folder and process, not one per
// entry (the finding: 25 to 78 lines per run).
TEST_F(PlanCacheTest, UnwritableFolderIsReportedOnce) {
  fs::create_directories(dir_);
  spit(dir_ + "/a-file", "x");
  const std::string folder = dir_ + "/a-file/cache";
  const std::string log = stderr_of([&] {
    PlanCache c(folder);
    for (int i = 0; i < 20; ++i) c.store({"plan", "model", "entry-" + std::to_string(i)}, "payload");
    PlanCache packed(folder);  // another cache object over the same folder, as the executors make
    packed.store({"packed", "model", "w"}, "bytes");
  });
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_NE(log.find("cannot store"), std::string::npos) << log;
  EXPECT_NE(log.find("are not reported"), std::string::npos) << log;
  // Another folder still gets its own line.
  spit(dir_ + "/b-file", "x");
  const std::string other = stderr_of([&] { PlanCache(dir_ + "/b-file/cache").store(kKey, "p"); });
  EXPECT_EQ(std::count(other.begin(), other.end(), '\n'), 1) << other;
}

TEST_F(PlanCacheTest, DisabledCacheNeitherReadsNorWrites) {
  PlanCache on(dir_);
  on.store(kKey, "payload");
  PlanCache off(dir_, false);
  EXPECT_FALSE(off.enabled());
  EXPECT_FALSE(off.load(kKey));
  EXPECT_EQ(off.hits() + off.misses(), 0);
  off.store({"plan", "x", "y"}, "z");
  EXPECT_FALSE(fs::exists(on.path_for({"plan", "x", "y"})));
}

TEST_F(PlanCacheTest, IdentityStrings) {
  const std::string cpu = PlanCache::cpu_features();
  EXPECT_NE(cpu.find(':'), std::string::npos) << cpu;
  EXPECT_EQ(cpu, PlanCache::cpu_features());
  EXPECT_NE(PlanCache::engine_version().find(FCAST_VERSION), std::string::npos);
#if defined(__x86_64__)
  EXPECT_EQ(cpu.rfind("x86_64:", 0), 0u) << cpu;
#if defined(__AVX2__)
  EXPECT_NE(cpu.find("avx2"), std::string::npos) << cpu;  // built for AVX2, so the CPU has it
#endif
#endif
}

// Two processes storing and loading the same and different keys in one folder at once: every
// load returns either nothing (not yet written) or exactly the payload its key was stored with.
TEST_F(PlanCacheTest, TwoProcessesShareOneFolder) {
  fs::create_directories(dir_);
  constexpr int kRounds = 60;
  auto worker = [&](int id) -> int {
    PlanCache c(dir_);
    int bad = 0;
    for (int r = 0; r < kRounds; ++r) {
      // Shared keys: both processes write the same (key, payload) pairs, as two processes
      // compiling the same plan do. Own keys: only this process writes them.
      const CacheKey shared{"plan", "model", "shared-" + std::to_string(r % 7)};
      const std::string shared_payload = payload_of(20000 + 1000 * (r % 7), static_cast<char>(r % 7));
      const CacheKey own{"plan", "model", "own-" + std::to_string(id) + "-" + std::to_string(r)};
      const std::string own_payload = payload_of(5000 + r, static_cast<char>(id * 50 + r));
      c.store(shared, shared_payload);
      c.store(own, own_payload);
      for (int k = 0; k < 7; ++k) {
        auto got = c.load({"plan", "model", "shared-" + std::to_string(k)});
        if (got && *got != payload_of(20000 + 1000 * k, static_cast<char>(k))) ++bad;
      }
      auto mine = c.load(own);
      if (!mine || *mine != own_payload) ++bad;
    }
    return bad;
  };
  pid_t kids[2];
  for (int i = 0; i < 2; ++i) {
    kids[i] = ::fork();
    ASSERT_GE(kids[i], 0);
    if (kids[i] == 0) {
      int bad = 0;
      try {
        bad = worker(i);
      } catch (...) {
        bad = 100;
      }
      ::_exit(bad > 99 ? 99 : bad);
    }
  }
  for (pid_t k : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(k, &status, 0), k);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by a signal";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child saw wrong or missing payloads";
  }
  // Both processes' entries are all there and valid; no temporary files remain.
  PlanCache c(dir_);
  for (int id = 0; id < 2; ++id)
    for (int r = 0; r < kRounds; ++r) {
      auto got = c.load({"plan", "model", "own-" + std::to_string(id) + "-" + std::to_string(r)});
      ASSERT_TRUE(got);
      EXPECT_EQ(*got, payload_of(5000 + r, static_cast<char>(id * 50 + r)));
    }
  for (const auto& e : fs::recursive_directory_iterator(dir_))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  EXPECT_EQ(c.misses(), 0);
}

}  // namespace
}  // namespace fcast

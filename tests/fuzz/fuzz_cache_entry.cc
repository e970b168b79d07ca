// libFuzzer target: the persistent cache's entry reader (PlanCache::load: magic, format version,
// header length, the length-prefixed header fields, header and payload checksums; the format of
// docs/CACHE_FORMAT.md), for a "plan" and a "packed" key; a plan payload it returns goes on to
// Plan::deserialize.
//
// Two repairs keep the fuzzer past the checks it cannot guess (on every machine):
//   - an engine field "@engine@" and a CPU field "@cpu@" are replaced by this build's engine
//     version and this CPU's features (the committed seeds hold these placeholders);
//   - the header checksum is recomputed when the header length points inside the input.
// The payload checksum is not repaired: a damaged payload must be caught by it.
// Property: an entry is returned only when its payload is exactly the bytes after the header.
//
// Seeds: FCAST_FUZZ_WRITE_SEEDS=DIR ./fuzz_cache_entry writes valid entries (with the
// placeholders) into DIR and exits (scripts/fuzz --seeds).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "core/hash.h"
#include "fuzz_util.h"
#include "graph/plan.h"
#include "runtime/plan_cache.h"

using namespace fcast;

namespace {

const CacheKey kPlanKey{"plan", "fuzz-model", "batch=2;phase=prefill;context=64"};
const CacheKey kPackedKey{"packed", "fuzz-model", "weight=w1 shape=[4, 4] dtype=fp32"};

uint32_t get_u32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(b[at + i])) << (8 * i);
  return v;
}
void set_u32(std::string& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Replaces the engine and CPU fields (the first two header strings, at byte 16) when they equal
// `from_*`, keeping the header length field and the header checksum consistent. Inputs too
// short or malformed for that are returned unchanged (but for the checksum repair).
std::string swap_identity(std::string b, const std::string& from_engine, const std::string& to_engine,
                          const std::string& from_cpu, const std::string& to_cpu) {
  if (b.size() < 16) return b;
  uint32_t header_len = get_u32(b, 12);
  size_t pos = 16;
  for (const auto& [from, to] : {std::pair{&from_engine, &to_engine}, std::pair{&from_cpu, &to_cpu}}) {
    if (b.size() - pos < 4) break;
    const uint32_t n = get_u32(b, pos);
    if (b.size() - pos - 4 < n) break;
    if (b.compare(pos + 4, n, *from) == 0) {
      b.replace(pos, 4 + n, std::string(4, '\0') + *to);
      set_u32(b, pos, static_cast<uint32_t>(to->size()));
      header_len += static_cast<uint32_t>(to->size()) - n;  // modulo 2^32, like the field
      set_u32(b, 12, header_len);
      pos += 4 + to->size();
    } else {
      pos += 4 + n;
    }
  }
  if (header_len >= 24 && header_len <= b.size()) {
    const uint64_t sum = fnv1a64(b.data(), header_len - 8);
    for (int i = 0; i < 8; ++i) b[header_len - 8 + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
  }
  return b;
}

const std::string kEnginePlaceholder = "@engine@", kCpuPlaceholder = "@cpu@";

void write_seeds(const std::string& dir) {
  PlanCache cache(fuzz::scratch_dir() + "/seeds");
  const std::string plan_payload = [] {
    Plan p;
    p.signature.fields = {{"batch", "2"}, {"phase", "prefill"}};
    p.offset = {-1, 0, 64};
    p.arena_bytes = 128;
    p.value_count = 3;
    p.steps.resize(1);
    p.steps[0].node = 2;
    p.steps[0].in = {0, 1};
    p.steps[0].out = 2;
    p.steps[0].name = "add";
    return p.serialize();
  }();
  const std::string packed_payload(64, '\x3f');
  for (const auto& [key, payload] : {std::pair{kPlanKey, plan_payload}, std::pair{kPackedKey, packed_payload}}) {
    cache.store(key, payload);
    std::string bytes = fuzz::read_whole(cache.path_for(key));
    bytes = swap_identity(bytes, PlanCache::engine_version(), kEnginePlaceholder, PlanCache::cpu_features(),
                          kCpuPlaceholder);
    const std::string path = dir + "/" + key.kind + ".entry";
    std::ofstream(path, std::ios::binary) << bytes;
    std::printf("wrote %s\n", path.c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::cerr.rdbuf(nullptr);  // the cache logs one line per rejected entry
  if (const char* dir = std::getenv("FCAST_FUZZ_WRITE_SEEDS")) {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static PlanCache cache(fuzz::scratch_dir() + "/cache");
  const std::string bytes = swap_identity(std::string(reinterpret_cast<const char*>(data), size), kEnginePlaceholder,
                                          PlanCache::engine_version(), kCpuPlaceholder, PlanCache::cpu_features());
  for (const CacheKey& key : {kPlanKey, kPackedKey}) {
    const std::string path = cache.path_for(key);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    std::optional<std::string> payload;
    fuzz::expect_clean_error([&] { payload = cache.load(key); });
    if (!payload) continue;
    const uint32_t header_len = get_u32(bytes, 12);
    if (bytes.compare(header_len, std::string::npos, *payload) != 0)
      fuzz::finding("load() returned a payload that is not the bytes after the header");
    if (key.kind == "plan") fuzz::expect_clean_error([&] { (void)Plan::deserialize(*payload); });
  }
  return 0;
}

// The persistent compile cache (COMPILED_MODELS_DIR for plans and pre-packed weights,
// TORCHINDUCTOR_CACHE_DIR for autotune choices). Every file carries magic, format version,
// engine version, CPU features, the model identity and a checksum; writes are atomic, several
// processes may share a directory, and any mismatch or corruption is a logged miss (never a
// crash, never a wrong result). Entries are read without blocking (a FIFO or device in place
// of an entry is a miss) and in steps: prefix, header, then the payload only once the header
// matches and its length fits the file. The format is documented in docs/CACHE_FORMAT.md.
//
//   PlanCache cache(settings.models_dir, settings.persistent_cache);
//   CacheKey key{"plan", model_identity, signature_text};
//   if (auto blob = cache.load(key)) { /* use it */ } else { cache.store(key, build()); }
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace fcast {

struct CacheKey {
  std::string kind;            // "plan" | "autotune" | "packed" (sub-folder and file suffix)
  std::string model_identity;  // TotoWeights::identity / Kronos equivalent; "" for model-independent entries
  std::string signature;       // canonical text of everything the entry depends on
};

class PlanCache {
 public:
  PlanCache(std::string dir, bool enabled = true);
  // Counts a hit or a miss. An entry whose payload is longer than `max_payload` is a miss
  // found from its header alone: callers that know the size of what they cache pass it.
  static constexpr uint64_t kMaxPayload = 1ull << 30;
  std::optional<std::string> load(const CacheKey& key, uint64_t max_payload = kMaxPayload);
  // Atomic (write_file_atomic). Failures are logged, not thrown: the first one per cache
  // folder and process, so a read-only folder gives one line, not one per entry.
  void store(const CacheKey& key, const std::string& payload);
  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }
  const std::string& dir() const { return dir_; }
  bool enabled() const { return enabled_; }
  std::string path_for(const CacheKey& key) const;

  // The one-time "the cache grew by more than 100 MB" line on stderr (on by default; --quiet
  // turns it off). Process-wide.
  static void set_size_notice(bool on);
  static std::string cpu_features();  // e.g. "x86_64:avx2,avx512f,avx512bf16,amx-bf16"
  static std::string engine_version();

 private:
  std::string dir_;
  bool enabled_;
  int64_t hits_ = 0, misses_ = 0;
  bool foreign_reported_ = false;  // an entry of another build or CPU was logged (one per cache)
  std::mutex mu_;
};

}  // namespace fcast

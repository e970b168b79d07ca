// PlanCache: one file per entry, <dir>/<kind>/<hash>.<kind>, in the format of
// docs/CACHE_FORMAT.md. Readers trust nothing: every field is bounds-checked and compared, and
// any problem is a miss with one log line on stderr. Writers never modify a file in place:
// they write a temporary file in the same folder and rename it over the entry, so a reader
// (in this or another process) sees either the old or the new complete file.
#include "runtime/plan_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "core/env.h"
#include "core/error.h"
#include "core/hash.h"
#include "graph/plan.h"
#include "io/file.h"
#include "ops/cpu/kernels.h"

namespace fcast {

namespace {

namespace fs = std::filesystem;

// 0x89 first (not ASCII, so a text file never matches), then "FCAST", then CR LF (catches
// line-ending conversion).
constexpr char kMagic[8] = {'\x89', 'F', 'C', 'A', 'S', 'T', '\r', '\n'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kFixedPrefix = 16;  // magic + format version + header length
// Far above any real header (a few strings: versions, CPU features, identity, signature).
constexpr uint32_t kMaxHeader = 16u << 20;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out += s;
}

// Bounds-checked little-endian reader over [data, data + size).
class Reader {
 public:
  Reader(const std::string& bytes, size_t pos, size_t end) : b_(bytes), pos_(pos), end_(end) {}
  bool u32(uint32_t& v) {
    if (end_ - pos_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(b_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return true;
  }
  bool u64(uint64_t& v) {
    if (end_ - pos_ < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(b_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return true;
  }
  bool str(std::string& s) {
    uint32_t n = 0;
    if (!u32(n) || end_ - pos_ < n) return false;
    s.assign(b_, pos_, n);
    pos_ += n;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  const std::string& b_;
  size_t pos_, end_;
};

std::string sanitize_kind(const std::string& kind) {
  if (kind.empty()) return "misc";
  std::string k = kind;
  for (char& c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) c = '_';
  return k;
}

std::string encode_entry(const CacheKey& key, const std::string& payload) {
  std::string h(kMagic, sizeof kMagic);
  put_u32(h, kFormatVersion);
  put_u32(h, 0);  // header length, patched below
  put_str(h, PlanCache::engine_version());
  put_str(h, PlanCache::cpu_features());
  put_str(h, key.kind);
  put_str(h, key.model_identity);
  put_u64(h, fnv1a64(key.signature));
  put_str(h, key.signature);
  put_u64(h, payload.size());
  put_u64(h, fnv1a64(payload));
  const uint32_t header_len = static_cast<uint32_t>(h.size() + 8);
  for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
  put_u64(h, fnv1a64(h));  // header checksum over every byte before it
  return h + payload;
}

// Reads the entry in `f` and validates it against `key`; returns the payload or sets `why`.
// The file is read in three steps, each checked before the next is read: the 16-byte prefix,
// the header, then the payload, whose length must match the file and stay within
// `max_payload`. A large file that is not an entry (or not this entry) costs a few reads.
std::optional<std::string> read_entry(const RegularFile& f, const CacheKey& key, uint64_t max_payload,
                                      std::string& why) {
  const uint64_t size = f.size();
  if (size < kFixedPrefix) {
    why = cat("truncated: ", size, " bytes, shorter than the ", kFixedPrefix, "-byte prefix");
    return std::nullopt;
  }
  const std::string prefix_bytes = f.read(0, kFixedPrefix);
  if (std::memcmp(prefix_bytes.data(), kMagic, sizeof kMagic) != 0) {
    why = "not an fcast cache file (bad magic)";
    return std::nullopt;
  }
  Reader prefix(prefix_bytes, 8, kFixedPrefix);
  uint32_t version = 0, header_len = 0;
  prefix.u32(version);
  prefix.u32(header_len);
  if (version != kFormatVersion) {
    why = cat("foreign format version ", version, " (this build reads version ", kFormatVersion, ")");
    return std::nullopt;
  }
  if (header_len < kFixedPrefix + 8 || header_len > size || header_len > kMaxHeader) {
    why = cat("truncated or corrupt header (header length ", header_len, ", file size ", size, ")");
    return std::nullopt;
  }
  const std::string header = f.read(0, header_len);
  const size_t sum_at = header_len - 8;
  Reader r(header, kFixedPrefix, sum_at);
  std::string engine, cpu, kind, identity, signature;
  uint64_t sig_hash = 0, payload_len = 0, payload_sum = 0, header_sum = 0;
  const bool parsed = r.str(engine) && r.str(cpu) && r.str(kind) && r.str(identity) && r.u64(sig_hash) &&
                      r.str(signature) && r.u64(payload_len) && r.u64(payload_sum) && r.pos() == sum_at;
  Reader(header, sum_at, header_len).u64(header_sum);
  if (header_sum != fnv1a64(header.data(), sum_at)) {
    why = "header checksum mismatch (corrupt header)";
    return std::nullopt;
  }
  if (!parsed) {
    why = "corrupt header (fields do not fit the header length)";
    return std::nullopt;
  }
  if (engine != PlanCache::engine_version()) {
    why = cat("written by engine '", engine, "', this is '", PlanCache::engine_version(), "'");
    return std::nullopt;
  }
  if (cpu != PlanCache::cpu_features()) {
    why = cat("written on another CPU ('", cpu, "'; this CPU is '", PlanCache::cpu_features(), "')");
    return std::nullopt;
  }
  if (kind != key.kind) {
    why = cat("holds a '", kind, "' entry, expected '", key.kind, "'");
    return std::nullopt;
  }
  if (identity != key.model_identity) {
    why = cat("model identity '", identity, "', expected '", key.model_identity, "'");
    return std::nullopt;
  }
  if (sig_hash != fnv1a64(key.signature) || signature != key.signature) {
    why = cat("signature hash ", hex64(sig_hash), " does not match the requested ", hex64(fnv1a64(key.signature)),
              " (a name collision or a stale entry)");
    return std::nullopt;
  }
  const uint64_t have = size - header_len;
  if (have != payload_len) {
    why = have < payload_len ? cat("truncated: ", have, " of ", payload_len, " payload bytes")
                             : cat(have - payload_len, " unexpected bytes after the ", payload_len, "-byte payload");
    return std::nullopt;
  }
  if (payload_len > max_payload) {
    why = cat("payload of ", payload_len, " bytes, more than the ", max_payload, " bytes a '", key.kind,
              "' entry may hold");
    return std::nullopt;
  }
  std::string payload = f.read(header_len, payload_len);
  if (fnv1a64(payload.data(), payload.size()) != payload_sum) {
    why = "payload checksum mismatch (corrupt payload)";
    return std::nullopt;
  }
  return payload;
}

void log_line(const std::string& msg) { std::cerr << "fcast: plan cache: " + msg + "\n" << std::flush; }

std::atomic<bool> g_size_notice{true};

// Bytes this process stored in its cache folders (plans and packed weights, kernel choices);
// when they pass FCAST_CACHE_NOTICE_MB (default 100 MB), one line says where the cache is, how
// much this run added and how to move or drop it (packed weights of a published-size model are
// hundreds of MB).
int64_t size_notice_bytes() {
  static const int64_t bytes =
      env_int(Environment::from_process(), "FCAST_CACHE_NOTICE_MB", 0, int64_t{1} << 30).value_or(100) * 1000 * 1000;
  return bytes;
}

void count_stored(const std::string& dir, int64_t bytes) {
  const int64_t kSizeNotice = size_notice_bytes();
  static std::mutex mu;
  static std::set<std::string> dirs;
  static int64_t stored = 0;
  bool say = false;
  int64_t total = 0;
  std::string where;
  {
    std::lock_guard<std::mutex> lock(mu);
    dirs.insert(dir);
    say = stored <= kSizeNotice && stored + bytes > kSizeNotice;
    stored += bytes;
    total = stored;
    // A folder inside another (the kernel choices under the plan cache) is named by its parent.
    for (const std::string& d : dirs) {
      bool inside = false;
      for (const std::string& o : dirs) inside = inside || (o != d && d.rfind(o + "/", 0) == 0);
      if (!inside) where += (where.empty() ? "" : " and ") + d;
    }
  }
  if (!say || !g_size_notice.load()) return;
  std::cerr << cat("fcast: the compile cache ", where, " grew by ", total / 1000000, ".", total / 100000 % 10,
                   " MB in this run (pre-packed weights and plans, reused by later runs from any folder). Move it with "
                   "--compiled-models-dir or COMPILED_MODELS_DIR, turn it off with --no-persistent-cache, or delete "
                   "the folder to reclaim the space.\n")
            << std::flush;
}


}  // namespace

PlanCache::PlanCache(std::string dir, bool enabled) : dir_(std::move(dir)), enabled_(enabled) {}

// One detector for the whole engine (OS-enabled state, AMX permission, FCAST_CPU_ISA).
std::string PlanCache::cpu_features() { return cpu::cpu_features().text(); }

std::string PlanCache::engine_version() {
  // The project version, the plan revision and the compiler that built the kernels: a plan or
  // an autotune choice measured under one build is not trusted by another. (Bump
  // kPlanRevision in graph/plan.h whenever lowering, a plan's payload or a kernel changes.)
#if defined(__clang__)
  const char* compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  const char* compiler = "gcc " __VERSION__;
#else
  const char* compiler = "unknown-compiler";
#endif
  return cat("fcast ", FCAST_VERSION, " plans r", kPlanRevision, " (", compiler, ")");
}

std::string PlanCache::path_for(const CacheKey& key) const {
  const std::string k = sanitize_kind(key.kind);
  std::string id = key.kind;
  id.push_back('\0');
  id += key.model_identity;
  id.push_back('\0');
  id += key.signature;
  return (fs::path(dir_) / k / (hex64(fnv1a64(id)) + "." + k)).string();
}

std::optional<std::string> PlanCache::load(const CacheKey& key, uint64_t max_payload) {
  if (!enabled_) return std::nullopt;
  const std::string path = path_for(key);
  std::string why;
  std::optional<std::string> payload;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
    // A cold miss is normal and not logged.
  } else {
    try {
      payload = read_entry(RegularFile(path), key, max_payload, why);
    } catch (const std::exception& e) {
      // RegularFile's messages (a FIFO, a directory, a file that shrank) start with the path,
      // which the log line names anyway.
      payload.reset();
      why = e.what();
      if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (payload) {
      ++hits_;
    } else {
      ++misses_;
    }
  }
  if (!payload && !why.empty()) {
    // Entries of another build or CPU are intact, just not ours: after an upgrade there is one
    // per cached plan, so only the first is reported. Damaged entries are always reported.
    const bool foreign = why.rfind("written by engine", 0) == 0 || why.rfind("written on another CPU", 0) == 0;
    bool first_foreign = false;
    if (foreign) {
      std::lock_guard<std::mutex> lock(mu_);
      first_foreign = !foreign_reported_;
      foreign_reported_ = true;
    }
    if (!foreign)
      log_line(cat("miss: ", path, ": ", why, "; ignoring it and rebuilding"));
    else if (first_foreign)
      log_line(cat("miss: ", path, ": ", why, "; ignoring it and rebuilding (further entries of other builds or "
                   "CPUs are ignored without a message; `fcast compile` rewrites them)"));
  }
  return payload;
}

void PlanCache::set_size_notice(bool on) { g_size_notice.store(on); }

void PlanCache::store(const CacheKey& key, const std::string& payload) {
  if (!enabled_) return;
  const std::string path = path_for(key);
  std::string why;
  try {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec)
      why = cat("cannot create its folder (", ec.message(), ")");
    else {
      // The folder is the cache's own: anything but a regular file at an entry's name (a FIFO,
      // a device node, a link) is damage, removed without being opened, and the entry stored.
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) ::unlink(path.c_str());
      const std::string entry = encode_entry(key, payload);
      write_file_atomic(path, entry);
      count_stored(dir_, static_cast<int64_t>(entry.size()));
    }
  } catch (const std::exception& e) {
    why = e.what();
    if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
  }
  if (why.empty()) return;
  // A read-only or full cache folder fails every store the same way: it is reported once per
  // folder and process, not once per entry.
  static std::mutex reported_mu;
  static std::set<std::string> reported;
  {
    std::lock_guard<std::mutex> lock(reported_mu);
    if (!reported.insert(dir_).second) return;
  }
  log_line(cat("cannot store ", path, ": ", why, "; continuing without persisting it (further entries that cannot be "
               "stored under ", dir_, " are not reported)"));
}

}  // namespace fcast

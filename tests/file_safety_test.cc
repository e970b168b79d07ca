// Files fcast did not write, and files it writes over (hardening findings 1 and 3):
//   - write_file_atomic, the one writer of every output: a symbolic link is written through,
//     a special file (directory, FIFO, socket, /dev/full) is refused and left as it was, and
//     a failing write (EFBIG from RLIMIT_FSIZE standing in for ENOSPC) leaves the old file;
//   - readers (RegularFile, read_file, map_file, SafetensorsFile, PlanCache) never block on a
//     FIFO and read a large file's prefix, not the whole file, before refusing it.
// Anything that could hang or allocate without bound on a regression runs in a child process
// with an alarm and an address-space limit, so a regression fails the test instead of
// stalling or swapping the machine.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>

#include "core/hash.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "runtime/plan_cache.h"
#include "test_util.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;
using test::slurp;
using test::spit;

struct ChildResult {
  int status = -1;   // exit status; -1 when killed (the alarm: it hung, or it ran out of memory)
  std::string text;  // what the child returned
};

// Runs `f` in a child process under an alarm of `seconds` and an address-space limit of the
// current size plus `extra_bytes`; returns f's text and the exit status (0 when f returned).
ChildResult in_child(const std::function<std::string()>& f, unsigned seconds = 60,
                     uint64_t extra_bytes = 1ull << 30) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(seconds);
    long pages = 0;
    if (FILE* s = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(s, "%ld", &pages) != 1) pages = 0;
      std::fclose(s);
    }
    const rlim_t cap = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + extra_bytes;
    const struct rlimit lim {cap, cap};
    ::setrlimit(RLIMIT_AS, &lim);
    std::string text;
    int rc = 0;
    try {
      text = f();
    } catch (const std::exception& e) {
      text = std::string("exception: ") + e.what();
      rc = 3;
    }
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fds[1], text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::_exit(rc);
  }
  ::close(fds[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The fcast::Error message of `f`, or "" when it succeeds.
std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool is_fifo(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

// Every name in `dir` (temporary files left behind show up here).
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// ---- writing ----

TEST(OutputFile, SymbolicLinkIsWrittenThrough) {
  test::TempDir dir("out_symlink");
  fs::create_directories(dir.path / "real");
  const std::string target = dir.sub("real/forecast.csv");
  spit(target, "old\n");
  fs::create_symlink("real/forecast.csv", dir.path / "link.csv");  // relative, as `ln -s` makes them
  fs::create_symlink("link.csv", dir.path / "link2.csv");          // a link to a link
  write_file_atomic(dir.sub("link2.csv"), "new\n");
  EXPECT_TRUE(fs::is_symlink(dir.path / "link.csv"));
  EXPECT_TRUE(fs::is_symlink(dir.path / "link2.csv"));
  EXPECT_EQ(fs::read_symlink(dir.path / "link.csv").string(), "real/forecast.csv");
  EXPECT_EQ(slurp(target), "new\n");
  // No temporary file left next to the link or the target.
  EXPECT_EQ(names_in(dir.path.string()), (std::vector<std::string>{"link.csv", "link2.csv", "real"}));
  EXPECT_EQ(names_in(dir.sub("real")), (std::vector<std::string>{"forecast.csv"}));

  // A dangling link creates the file it names.
  fs::create_symlink(dir.sub("real/later.csv"), dir.path / "dangling.csv");
  write_file_atomic(dir.sub("dangling.csv"), "first\n");
  EXPECT_TRUE(fs::is_symlink(dir.path / "dangling.csv"));
  EXPECT_EQ(slurp(dir.sub("real/later.csv")), "first\n");

  // A loop is an error, not a hang.
  fs::create_symlink("loop_b", dir.path / "loop_a");
  fs::create_symlink("loop_a", dir.path / "loop_b");
  test::expect_contains(error_text([&] { write_file_atomic(dir.sub("loop_a"), "x"); }), {"loop_a", "cannot write"});
}

TEST(OutputFile, ReplacedFileKeepsItsPermissions) {
  test::TempDir dir("out_mode");
  const std::string p = dir.sub("private.json");
  spit(p, "old");
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
  write_file_atomic(p, "new");
  EXPECT_EQ(slurp(p), "new");
  EXPECT_EQ(fs::status(p).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST(OutputFile, SpecialFilesAreRefusedAndLeftAlone) {
  test::TempDir dir("out_special");
  // A directory.
  fs::create_directories(dir.path / "a_dir");
  test::expect_contains(error_text([&] { write_file_atomic(dir.sub("a_dir"), "x"); }),
                        {"a_dir", "a directory", "not a regular file"});
  EXPECT_TRUE(fs::is_directory(dir.path / "a_dir"));
  // A FIFO, directly and through a link. Opened here for reading (without blocking), so that a
  // writer that opened it would not hang the test either.
  const std::string fifo = dir.sub("a_fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  fs::create_symlink("a_fifo", dir.path / "fifo_link");
  for (const std::string& p : {fifo, dir.sub("fifo_link")}) {
    test::expect_contains(error_text([&] { write_file_atomic(p, "x"); }), {p.c_str(), "a FIFO"});
    EXPECT_TRUE(is_fifo(fifo));
  }
  char c;
  EXPECT_LE(::read(reader, &c, 1), 0) << "the FIFO was written to";
  ::close(reader);
  // A socket.
  const std::string sock = dir.sub("a_socket");
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
  if (sock.size() < sizeof addr.sun_path && ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    test::expect_contains(error_text([&] { write_file_atomic(sock, "x"); }), {"a_socket", "a socket"});
    EXPECT_TRUE(fs::is_socket(sock));
  }
  ::close(s);
  // Nothing was created beside them.
  EXPECT_EQ(names_in(dir.path.string()), (std::vector<std::string>{"a_dir", "a_fifo", "a_socket", "fifo_link"}));
}

// Replacing a device node takes root; as root this is the reported finding (/dev/full became a
// regular file). Without root the rename is refused by the system anyway, so the test only
// means something as root, and runs either way.
TEST(OutputFile, DevFullStaysADevice) {
  struct stat before {};
  if (::stat("/dev/full", &before) != 0 || !S_ISCHR(before.st_mode)) GTEST_SKIP() << "no /dev/full here";
  test::expect_contains(error_text([&] { write_file_atomic("/dev/full", "x"); }),
                        {"/dev/full", "a character device", "not a regular file"});
  struct stat after {};
  ASSERT_EQ(::stat("/dev/full", &after), 0);
  EXPECT_TRUE(S_ISCHR(after.st_mode)) << "/dev/full is no longer a character device";
  EXPECT_EQ(after.st_rdev, before.st_rdev);
}

// The null device is the one special file accepted: "write it nowhere" (documented usage:
// `--output /dev/null` with `--stats`). Nothing is opened or replaced.
TEST(OutputFile, NullDeviceDiscards) {
  struct stat before {};
  if (::stat("/dev/null", &before) != 0 || !S_ISCHR(before.st_mode)) GTEST_SKIP() << "no /dev/null here";
  EXPECT_NO_THROW(write_file_atomic("/dev/null", "discarded"));
  EXPECT_NO_THROW(check_output_file("/dev/null"));
  struct stat after {};
  ASSERT_EQ(::stat("/dev/null", &after), 0);
  EXPECT_TRUE(S_ISCHR(after.st_mode));
  EXPECT_EQ(after.st_rdev, before.st_rdev);
}

// A write that fails part-way (the file-size limit gives EFBIG as a full disk gives ENOSPC,
// and works for root too) leaves the old file and no temporary file.
TEST(OutputFile, FailedWriteLeavesTheOldFile) {
  test::TempDir dir("out_fail");
  const std::string p = dir.sub("report.json");
  spit(p, "old contents\n");
  const ChildResult r = in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    const struct rlimit lim {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    return error_text([&] { write_file_atomic(p, std::string(100000, 'x')); });
  });
  ASSERT_EQ(r.status, 0) << r.text;
  test::expect_contains(r.text, {"report.json", "cannot write", "File too large", "unchanged"});
  EXPECT_EQ(slurp(p), "old contents\n");
  EXPECT_EQ(names_in(dir.path.string()), (std::vector<std::string>{"report.json"}));
}

TEST(OutputFile, MissingFolderIsNamed) {
  test::TempDir dir("out_nofolder");
  test::expect_contains(error_text([&] { write_file_atomic(dir.sub("no/such/out.csv"), "x"); }),
                        {"out.csv", "cannot write", "does not exist"});
  // The same answers before any work, from the check the tools make first.
  test::expect_contains(error_text([&] { check_output_file(dir.sub("no/such/out.csv")); }),
                        {"out.csv", "cannot write", "does not exist"});
  test::expect_contains(error_text([&] { check_output_file(dir.path.string()); }), {"a directory"});
  EXPECT_NO_THROW(check_output_file(dir.sub("new.csv")));
  EXPECT_FALSE(fs::exists(dir.sub("new.csv")));
}

// ---- reading ----

TEST(InputFile, FifoIsRefusedWithoutBlocking) {
  test::TempDir dir("in_fifo");
  const std::string fifo = dir.sub("model.safetensors");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // Each reader in a child: before the fix each blocked forever in open() (killed by the alarm).
  const std::vector<std::pair<std::string, std::function<void()>>> readers = {
      {"read_file", [&] { read_file(fifo); }},
      {"map_file", [&] { map_file(fifo); }},
      {"SafetensorsFile::open", [&] { SafetensorsFile::open(fifo); }},
      {"require_regular_file", [&] { require_regular_file(fifo); }},
  };
  for (const auto& [name, read] : readers) {
    const ChildResult r = in_child([&] { return error_text(read); }, 30);
    EXPECT_EQ(r.status, 0) << name << " hung on a FIFO (killed) or threw a non-fcast error: " << r.text;
    test::expect_contains(r.text, {"model.safetensors", "not a regular file", "a FIFO"});
  }
  EXPECT_TRUE(is_fifo(fifo));
}

TEST(InputFile, DirectoryAndSizeCap) {
  test::TempDir dir("in_cap");
  test::expect_contains(error_text([&] { read_file(dir.path.string()); }), {"not a regular file", "a directory"});
  const std::string p = dir.sub("config.json");
  spit(p, std::string(100, ' '));
  test::expect_contains(error_text([&] { read_file(p, 10); }), {"config.json", "100 bytes", "more than the 10"});
  EXPECT_EQ(read_file(p, 100).size(), 100u);
  RegularFile f(p);
  EXPECT_EQ(f.read(90, 10).size(), 10u);
  test::expect_contains(error_text([&] { f.read(95, 10); }), {"config.json", "beyond the end"});
}

// A 10 GB sparse file costs no disk. Read whole (the finding: 31 s, 10.5 GB) it would need far
// more than the child's 1 GB of address space.
std::string sparse_file(const std::string& path, const std::string& prefix, uint64_t size) {
  spit(path, prefix);
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return "";
  return path;
}

TEST(InputFile, HugeSparseFilesAreRefusedFromTheirPrefix) {
  test::TempDir dir("in_sparse");
  const uint64_t ten_gb = 10ull << 30;
  const std::string cfg = sparse_file(dir.sub("config.json"), "{", ten_gb);
  if (cfg.empty()) GTEST_SKIP() << "no sparse files on this file system";
  ChildResult r = in_child([&] { return error_text([&] { read_file(cfg); }); });
  EXPECT_EQ(r.status, 0) << r.text;
  test::expect_contains(r.text, {"config.json", "more than the"});

  // A safetensors file is mapped (address space, hence the child's larger limit), never read
  // whole: a huge one is judged by its header.
  uint64_t hlen = 1000;
  const std::string st = sparse_file(dir.sub("model.safetensors"), std::string(reinterpret_cast<char*>(&hlen), 8), ten_gb);
  r = in_child([&] { return error_text([&] { SafetensorsFile::open(st); }); }, 60, ten_gb + (2ull << 30));
  EXPECT_EQ(r.status, 0) << r.text;
  test::expect_contains(r.text, {"model.safetensors", "not valid JSON"});
}

// ---- cache entries ----

const CacheKey kKey{"plan", "model-abc", "phase=prefill;batch=1"};

// Loads kKey from a cache over `dir` in a child; returns the log.
ChildResult load_in_child(const std::string& dir, uint64_t max_payload = PlanCache::kMaxPayload) {
  return in_child([&] {
    ::testing::internal::CaptureStderr();
    PlanCache c(dir);
    const bool hit = c.load(kKey, max_payload).has_value();
    std::string log = ::testing::internal::GetCapturedStderr();
    return (hit ? "HIT\n" : "MISS\n") + log;
  });
}

TEST(CacheEntry, FifoIsAMissWithoutBlocking) {
  test::TempDir dir("cache_fifo");
  PlanCache c(dir.path.string());
  const std::string path = c.path_for(kKey);
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
  const ChildResult r = load_in_child(dir.path.string());
  EXPECT_EQ(r.status, 0) << "load hung on a FIFO entry (killed): " << r.text;
  test::expect_contains(r.text, {"MISS", path.c_str(), "not a regular file (a FIFO)"});
  EXPECT_EQ(std::count(r.text.begin(), r.text.end(), '\n'), 2) << r.text;
  // Storing replaces the damaged entry (removed without being opened) with a real one, silently:
  // the cache folder is the cache's own.
  ::testing::internal::CaptureStderr();
  c.store(kKey, "payload");
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log, "");
  EXPECT_FALSE(is_fifo(path));
  EXPECT_TRUE(fs::is_regular_file(path));
  const std::optional<std::string> back = c.load(kKey);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, "payload");
}

// The entry's own header is written as docs/CACHE_FORMAT.md says (the format test in
// plan_cache_test.cc pins that); here only its payload length matters.
std::string entry_header(const CacheKey& key, uint64_t payload_len) {
  auto u32 = [](std::string& o, uint32_t v) {
    for (int i = 0; i < 4; ++i) o.push_back(static_cast<char>(v >> (8 * i)));
  };
  auto u64 = [](std::string& o, uint64_t v) {
    for (int i = 0; i < 8; ++i) o.push_back(static_cast<char>(v >> (8 * i)));
  };
  auto str = [&](std::string& o, const std::string& s) {
    u32(o, static_cast<uint32_t>(s.size()));
    o += s;
  };
  std::string h("\x89" "FCAST\r\n", 8);
  u32(h, 1);
  u32(h, 0);
  str(h, PlanCache::engine_version());
  str(h, PlanCache::cpu_features());
  str(h, key.kind);
  str(h, key.model_identity);
  u64(h, fnv1a64(key.signature));
  str(h, key.signature);
  u64(h, payload_len);
  u64(h, 0);  // payload checksum: never reached
  const uint32_t len = static_cast<uint32_t>(h.size() + 8);
  for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<char>(len >> (8 * i));
  u64(h, fnv1a64(h));
  return h;
}

TEST(CacheEntry, HugeEntriesAreMissesFoundFromTheirHeader) {
  test::TempDir dir("cache_sparse");
  PlanCache c(dir.path.string());
  const std::string path = c.path_for(kKey);
  fs::create_directories(fs::path(path).parent_path());
  const uint64_t ten_gb = 10ull << 30;
  // Zeros: not a cache file, found from the 16-byte prefix.
  if (sparse_file(path, "", ten_gb).empty()) GTEST_SKIP() << "no sparse files on this file system";
  ChildResult r = load_in_child(dir.path.string());
  EXPECT_EQ(r.status, 0) << r.text;
  test::expect_contains(r.text, {"MISS", "bad magic"});
  // A valid header for this very key claiming a 10 GB payload: more than any entry may hold.
  const std::string h = entry_header(kKey, ten_gb);
  sparse_file(path, h, h.size() + ten_gb);
  r = load_in_child(dir.path.string());
  EXPECT_EQ(r.status, 0) << r.text;
  test::expect_contains(r.text, {"MISS", "payload of 10737418240 bytes, more than the"});
  // A caller that knows the size (packed weights, autotune choices) caps it tighter.
  spit(path, entry_header(kKey, 64) + std::string(64, 'p'));
  r = load_in_child(dir.path.string(), 16);
  test::expect_contains(r.text, {"MISS", "payload of 64 bytes, more than the 16 bytes"});
}

}  // namespace
}  // namespace fcast

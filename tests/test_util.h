// Helpers shared by the test files: test data and binary paths, temporary folders, running a
// command with its output captured, error-message checks, random data and max-abs-diff.
// Header-only; everything is in fcast::test.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace fcast::test {

// FCAST_TEST_DATA and FCAST_BINARY are set by CMake for fcast_tests.
inline std::string test_data(const std::string& rel = "") {
  return rel.empty() ? std::string(FCAST_TEST_DATA) : std::string(FCAST_TEST_DATA) + "/" + rel;
}
inline std::string fcast_binary() { return FCAST_BINARY; }

// The whole file, or "" when it cannot be read (a test then fails on the content, not here).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A folder under the system temp dir, unique per test process and tag, removed with everything
// in it at scope exit. Created empty, or with `create` false only cleared (for a test that
// checks who creates it).
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag, bool create = true)
      : path(std::filesystem::temp_directory_path() / ("fcast_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    if (create) std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string sub(const std::string& name) const { return (path / name).string(); }
};

// Single-quoted for /bin/sh.
// Whether this test binary (and so the fcast it spawns) runs under ASan or TSan, whose shadow
// memory reserves terabytes of address space: a `ulimit -v` would stop every child at start.
inline bool sanitized_build() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}

// "ulimit -v KB; " for a shell command line, or "" in a sanitized build or when
// FCAST_TEST_VMEM_LIMIT_KB=0 (scripts/sanitize sets it).
inline std::string ulimit_v(int64_t kb) {
  const char* e = std::getenv("FCAST_TEST_VMEM_LIMIT_KB");
  if (sanitized_build() || (e && std::string(e) == "0") || kb <= 0) return "";
  return "ulimit -v " + std::to_string(kb) + "; ";
}

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct CommandResult {
  bool exited = false;  // ended by exit(), not by a signal
  int status = -1;      // exit status when exited, else -1
  std::string out, err;
};

// Runs `command` with /bin/sh, stdout captured through the file `out_path` and stderr through
// `err_path` (left in place for a failing test to inspect).
inline CommandResult run_command(const std::string& command, const std::string& out_path, const std::string& err_path) {
  // Appended piece by piece: g++ 12 gives a false -Wrestrict on `literal + string` chains.
  std::string cmd = command;
  cmd.append(" >");
  cmd.append(shell_quote(out_path));
  cmd.append(" 2>");
  cmd.append(shell_quote(err_path));
  const int rc = std::system(cmd.c_str());
  CommandResult r;
  r.exited = WIFEXITED(rc);
  r.status = r.exited ? WEXITSTATUS(rc) : -1;
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

// A python3 interpreter that imports every module of `modules` (Debian's /usr/bin/python3 first,
// then the one on PATH), or "" when none does: tests that need one skip with a message.
inline std::string python_with(const std::vector<std::string>& modules) {
  std::string imports;
  for (const std::string& m : modules) {
    if (!imports.empty()) imports += ", ";
    imports += m;
  }
  for (const char* py : {"/usr/bin/python3", "python3"}) {
    std::string cmd = py;
    cmd.append(" -c ");
    cmd.append(shell_quote("import " + imports));
    cmd.append(" >/dev/null 2>&1");
    const int rc = std::system(cmd.c_str());
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 0) return py;
  }
  return "";
}

// The last non-empty line, and every non-empty line.
inline std::string last_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}
// The fields of `s` between `sep`s (no quoting: test output only).
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

inline std::vector<std::string> nonempty_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l))
    if (!l.empty()) out.push_back(l);
  return out;
}

// The message of the fcast::Error `f` throws, or "" when it throws none.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// `text` is an error message holding every one of `parts`.
inline void expect_contains(const std::string& text, std::initializer_list<const char*> parts) {
  EXPECT_FALSE(text.empty()) << "expected an error";
  for (const char* p : parts) EXPECT_NE(text.find(p), std::string::npos) << "'" << text << "' lacks '" << p << "'";
}

// Uniform values in [lo, hi) from a fixed seed (std::mt19937_64: the same on every platform
// fcast builds on, so a failure reproduces).
inline std::vector<float> random_floats(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

inline Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::empty(DType::F32, shape);
  const std::vector<float> v = random_floats(t.numel(), seed, lo, hi);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

// max |a - b| over the elements; NaN when any difference is NaN, so a NaN never passes a bound.
inline double max_abs_diff(const float* a, const float* b, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (std::isnan(d)) return d;
    worst = std::max(worst, d);
  }
  return worst;
}
inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return max_abs_diff(a.data(), b.data(), static_cast<int64_t>(std::min(a.size(), b.size())));
}
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  EXPECT_TRUE(a.dtype() == DType::F32 && b.dtype() == DType::F32);
  return max_abs_diff(a.data<float>(), b.data<float>(), std::min(a.numel(), b.numel()));
}

}  // namespace fcast::test

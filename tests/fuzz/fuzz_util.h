// Shared by the libFuzzer targets in tests/fuzz (built with -DFCAST_FUZZ=ON, run by scripts/fuzz;
// docs/TESTING.md). Parsers that take a path get the input through a scratch file in a folder
// private to the process (on /dev/shm when it exists: no disk traffic per input).
//
//   const std::string path = fuzz::scratch_file("model.safetensors", data, size);
//   fuzz::expect_clean_error([&] { SafetensorsFile::open(path); });
//
// What counts as a finding (the process aborts, libFuzzer saves the input):
//   - a crash, a sanitizer report, a hang or memory growth past libFuzzer's limits;
//   - an exception that is not fcast::Error (the CLI would print a message that names no file);
//   - an fcast::Error from FCAST_ASSERT ("internal error: ..."): bad input reached an invariant;
//   - a property a target checks on what the parser accepted (each target says which).
#pragma once
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <typeinfo>

#include "core/error.h"

namespace fcast::fuzz {

// A folder made once per process, removed at exit.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : P_tmpdir;
    std::string tmpl = std::string(base) + "/fcast_fuzz_XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::perror("fcast fuzz: mkdtemp");
      std::abort();
    }
    static std::string keep = tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(keep, ec);
    });
    return tmpl;
  }();
  return dir;
}

// Writes the input to <scratch>/<name> (replacing it) and returns the path.
inline std::string scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fcast fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

inline std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "\n==fcast fuzz== FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs `f`; a clean fcast::Error is the expected way to reject input, anything else is a finding.
template <class F>
void expect_clean_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    if (std::string(e.what()).rfind("internal error", 0) == 0) finding(std::string("FCAST_ASSERT reached: ") + e.what());
  } catch (const std::exception& e) {
    finding(std::string("exception that is not fcast::Error (") + typeid(e).name() + "): " + e.what());
  }
}

}  // namespace fcast::fuzz

// The bad-input regression corpus (docs/TESTING.md): the fcast binary, run as a user
// would, on damaged safetensors, config.json values, CSV structure, CLI arguments, cache files,
// environment variables and output targets. Each case runs under `ulimit -v` and `timeout`
// (bounded memory and time without a timed assertion) and asserts:
//   - a failing case exits non-zero by exit() (no signal, no timeout), with at most two
//     non-empty lines on stderr, one of which names the problem (one of the case's words:
//     the file, key, flag or variable), and leaves the --output file and its folder untouched;
//   - a case that must succeed (a damaged cache entry is a miss, not an error) exits 0 and
//     passes its own checks.
// The CSVs and config patches are small files in tests/bad_input/; safetensors, cache entries,
// special files and output targets are made here from the golden tiny checkpoints.
//
// Cases that cover a numbered finding of the hardening review name it (`fixed_by`, a topic of kFixedBy);
// a failure message then says which finding regressed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;

// ---- the findings of the hardening review ----------------------------------------------------------------

// Topic -> the finding (its number in the hardening review) that the cases naming it cover.
const std::map<std::string, std::string> kFixedBy = {
    {"output-writer", "1: output targets (device, FIFO, symlink) replaced by rename"},
    {"special-files", "3: FIFO / huge sparse file opened or read whole"},
    {"duplicate-tensor", "8: duplicate tensor name in a safetensors header accepted"},
    {"config-limits", "2: layer counts allocate before the checkpoint is compared"},
    {"config-values", "8: config integer overflow, scale_factor_exponent <= 0"},
    {"non-finite", "5: finite extreme values reported as non-finite or zeroed"},
    {"csv-streaming", "4: CSV memory and time grow with the whole file / columns"},
    {"timestamps", "7: sub-second stamps truncated, years past 9999"},
    {"caps", "6: horizon and sample count uncapped"},
    {"cli-values", "8: --lookback -1, --seed -1"},
    {"env-values", "8: bad booleans, unread variables, FCAST_GOLDEN_EXECUTOR"},
    {"cache-warnings", "8: one cache warning per entry"},
};

// ---- running fcast ---------------------------------------------------------------------------

struct Outcome {
  bool exited = false;
  int status = -1;
  int signal = 0;
  std::string out, err;
};

// Per-process limits: address space (FCAST_TEST_VMEM_LIMIT_KB, default 4 GiB; 0 = none, which
// scripts/sanitize sets because ASan reserves terabytes of shadow) and wall time (`timeout`).
long vmem_limit_kb() {
  const char* e = std::getenv("FCAST_TEST_VMEM_LIMIT_KB");
  return e ? std::atol(e) : 4L * 1024 * 1024;
}

struct Invocation {
  std::vector<std::string> args;               // after the binary
  std::vector<std::pair<std::string, std::string>> env;  // set for the child
  std::string output;                          // an --output target whose contents must survive a failure
  int timeout_s = 120;
};

Outcome run_fcast(const Invocation& inv, const std::string& log_base) {
  // sh -c 'ulimit -v N; exec timeout ...' with the arguments passed as positional parameters (no quoting).
  std::vector<std::string> full = {"/bin/sh", "-c",
                                   "if [ \"$1\" != 0 ]; then ulimit -v \"$1\" || exit 126; fi; shift; "
                                   "exec timeout -k 5 \"$@\"",
                                   "sh", std::to_string(vmem_limit_kb()), std::to_string(inv.timeout_s),
                                   test::fcast_binary()};
  full.insert(full.end(), inv.args.begin(), inv.args.end());
  std::vector<char*> argv;
  for (auto& s : full) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string out_path = log_base + ".out", err_path = log_base + ".err";
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen(out_path.c_str(), "w", stdout) || !std::freopen(err_path.c_str(), "w", stderr)) _exit(127);
    ::setenv("OMP_NUM_THREADS", "1", 1);  // ctest runs tests in parallel on few cores
    for (const auto& [k, v] : inv.env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  Outcome o;
  o.exited = WIFEXITED(status);
  o.status = o.exited ? WEXITSTATUS(status) : -1;
  o.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  o.out = test::slurp(out_path);
  o.err = test::slurp(err_path);
  return o;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---- files -----------------------------------------------------------------------------------

const std::string kGolden = test::test_data("golden");
const std::string kCorpus = std::string(FCAST_TEST_DATA) + "/../bad_input";

void copy_dir(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

// The safetensors header (8-byte little-endian length + JSON) and the data after it.
struct Safetensors {
  nlohmann::ordered_json header;
  std::string data;
};
Safetensors parse_safetensors(const std::string& b) {
  uint64_t n = 0;
  std::memcpy(&n, b.data(), 8);
  return {nlohmann::ordered_json::parse(b.substr(8, n)), b.substr(8 + n)};
}
Safetensors read_safetensors(const std::string& path) { return parse_safetensors(test::slurp(path)); }
std::string encode_safetensors(const std::string& header_text, const std::string& data) {
  std::string h = header_text;
  while (h.size() % 8) h.push_back(' ');
  const uint64_t n = h.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + h + data;
}

// Merges the JSON object in `patch_file` into `config` (a key set to null is removed).
void patch_config(const std::string& config, const std::string& patch_file) {
  nlohmann::ordered_json c = nlohmann::ordered_json::parse(test::slurp(config));
  const nlohmann::ordered_json p = nlohmann::ordered_json::parse(test::slurp(patch_file));
  for (auto it = p.begin(); it != p.end(); ++it) {
    if (it->is_null())
      c.erase(it.key());
    else
      c[it.key()] = *it;
  }
  test::spit(config, c.dump(2));
}

// The first `rows` data rows of MSTR.csv (daily bars: Date, close, high, low, open, volume).
std::string market_csv(int rows) {
  std::ifstream in(test::test_data("market/MSTR.csv"));
  std::string line, out;
  for (int i = 0; i <= rows && std::getline(in, line); ++i) out += line + "\n";
  return out;
}

// A sentinel --output file: contents and mtime that a failed run must leave alone.
const std::string kSentinel = "sentinel: fcast must not touch this file on failure\n";
void write_sentinel(const std::string& path) {
  test::spit(path, kSentinel);
  const struct utimbuf t{1000000000, 1000000000};
  ::utime(path.c_str(), &t);
}

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> s;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) s.insert(e.path().filename().string());
  return s;
}

// ---- the case table --------------------------------------------------------------------------

// Everything a case's setup may use: its own folder, fresh copies of the tiny checkpoints, a CSV.
struct Workspace {
  std::string dir;
  std::string path(const std::string& name) const { return dir + "/" + name; }
  std::string toto() const {  // a copy of the golden tiny Toto checkpoint (config.json + model.safetensors)
    const std::string d = path("toto");
    if (!fs::exists(d)) copy_dir(kGolden + "/toto/models/tiny_a", d);
    return d;
  }
  std::string kronos_model() const {
    const std::string d = path("kronos_predictor");
    if (!fs::exists(d)) copy_dir(kGolden + "/kronos/models/tiny/predictor", d);
    return d;
  }
  std::string kronos_tokenizer() const {
    const std::string d = path("kronos_tokenizer");
    if (!fs::exists(d)) copy_dir(kGolden + "/kronos/models/tiny/tokenizer", d);
    return d;
  }
  std::string csv() const {  // 80 daily bars
    const std::string p = path("bars.csv");
    if (!fs::exists(p)) test::spit(p, market_csv(80));
    return p;
  }
};

// Error: a clean failure; Success: exit 0; Either: exit 0, or a clean failure (the fix may choose).
enum class Expect { Error, Success, Either };

struct Case {
  std::string name;
  std::string fixed_by;              // "" = behaves on this branch; else a topic of kFixedBy
  Expect expect = Expect::Error;
  std::vector<std::string> words;    // Error: the error line names one of these (case-insensitive)
  std::function<Invocation(const Workspace&)> setup;
  std::function<void(const Workspace&, const Outcome&)> check;  // further checks (optional)
  int timeout_s = 120;               // `timeout` of the run: a bound on hangs, not a speed target
};

std::vector<std::string> toto_predict(const Workspace& w, const std::string& model, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"predict", "toto", "--model", model, "--input", w.csv(), "--prediction-length", "4",
                                "--num-samples", "8", "--samples-per-batch", "8", "--context", "64"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}
std::vector<std::string> kronos_predict(const Workspace& w, const std::string& model, const std::string& tokenizer,
                                        std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"predict", "kronos", "--model", model, "--tokenizer", tokenizer, "--input", w.csv(),
                                "--pred-len", "3", "--lookback", "32", "--sample-count", "1"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// A Toto prediction with --output `out.csv` (a sentinel) after `damage` changed the checkpoint copy.
std::function<Invocation(const Workspace&)> toto_with(std::function<void(const Workspace&, const std::string&)> damage,
                                                     std::vector<std::string> extra = {}) {
  return [damage, extra](const Workspace& w) {
    const std::string model = w.toto();
    damage(w, model);
    Invocation inv;
    inv.output = w.path("out.csv");
    write_sentinel(inv.output);
    std::vector<std::string> more = extra;
    more.insert(more.end(), {"--output", inv.output});
    inv.args = toto_predict(w, model, more);
    return inv;
  };
}
std::function<Invocation(const Workspace&)> kronos_with(
    std::function<void(const Workspace&, const std::string& model, const std::string& tokenizer)> damage,
    std::vector<std::string> extra = {}) {
  return [damage, extra](const Workspace& w) {
    const std::string model = w.kronos_model(), tokenizer = w.kronos_tokenizer();
    damage(w, model, tokenizer);
    Invocation inv;
    inv.output = w.path("out.csv");
    write_sentinel(inv.output);
    std::vector<std::string> more = extra;
    more.insert(more.end(), {"--output", inv.output});
    inv.args = kronos_predict(w, model, tokenizer, more);
    return inv;
  };
}

// Rewrites <dir>/model.safetensors through `edit` of its header and data.
std::function<void(const Workspace&, const std::string&)> edit_weights(std::function<void(Safetensors&)> edit) {
  return [edit](const Workspace&, const std::string& dir) {
    const std::string p = dir + "/model.safetensors";
    Safetensors s = read_safetensors(p);
    edit(s);
    test::spit(p, encode_safetensors(s.header.dump(), s.data));
  };
}
std::function<void(const Workspace&, const std::string&)> raw_weights(std::function<std::string(std::string)> edit) {
  return [edit](const Workspace&, const std::string& dir) {
    const std::string p = dir + "/model.safetensors";
    test::spit(p, edit(test::slurp(p)));
  };
}
std::function<void(const Workspace&, const std::string&)> config_patch(const std::string& file) {
  return [file](const Workspace&, const std::string& dir) { patch_config(dir + "/config.json", kCorpus + "/config/" + file); };
}
// A Toto prediction on tests/bad_input/csv/<file>.
std::function<Invocation(const Workspace&)> toto_csv(const std::string& file, std::vector<std::string> extra = {}) {
  return [file, extra](const Workspace& w) {
    Invocation inv;
    inv.output = w.path("out.csv");
    write_sentinel(inv.output);
    std::vector<std::string> a = {"predict", "toto", "--model", w.toto(), "--input", kCorpus + "/csv/" + file,
                                  "--prediction-length", "4", "--num-samples", "8", "--output", inv.output};
    a.insert(a.end(), extra.begin(), extra.end());
    inv.args = a;
    return inv;
  };
}
std::function<Invocation(const Workspace&)> kronos_csv(const std::string& file, std::vector<std::string> extra = {}) {
  return [file, extra](const Workspace& w) {
    Invocation inv;
    inv.output = w.path("out.csv");
    write_sentinel(inv.output);
    std::vector<std::string> a = {"predict", "kronos", "--model", w.kronos_model(), "--tokenizer",
                                  w.kronos_tokenizer(), "--input", kCorpus + "/csv/" + file, "--pred-len", "2",
                                  "--output", inv.output};
    a.insert(a.end(), extra.begin(), extra.end());
    inv.args = a;
    return inv;
  };
}
// A prediction with extra CLI arguments (the error must name the flag).
std::function<Invocation(const Workspace&)> toto_args(std::vector<std::string> extra) {
  return toto_with([](const Workspace&, const std::string&) {}, extra);
}
std::function<Invocation(const Workspace&)> kronos_args(std::vector<std::string> extra) {
  return kronos_with([](const Workspace&, const std::string&, const std::string&) {}, extra);
}
std::function<Invocation(const Workspace&)> with_env(std::function<Invocation(const Workspace&)> base,
                                                     std::vector<std::pair<std::string, std::string>> env) {
  return [base, env](const Workspace& w) {
    Invocation inv = base(w);
    inv.env.insert(inv.env.end(), env.begin(), env.end());
    return inv;
  };
}

// ---- output targets --------------------------------------------------------------------------

// A character device that behaves as /dev/full. As root a private node is made (mknod 1,7) so
// that a writer that renames over its target replaces that node and not the system's /dev/full;
// as another user /dev/full itself is safe (its folder is not writable).
std::string full_device(const Workspace& w) {
  if (::geteuid() != 0) return "/dev/full";
  const std::string p = w.path("full");
  if (::mknod(p.c_str(), S_IFCHR | 0666, makedev(1, 7)) != 0) return "";
  return p;
}

bool is_char_device(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

// Output to a special target: Error (the target is named and left as it was) is expected; for a
// FIFO or a symlink, writing through it is accepted too (see the checks).
std::function<Invocation(const Workspace&)> output_to(const std::string& model, std::function<std::string(const Workspace&)> target) {
  return [model, target](const Workspace& w) {
    const std::string out = target(w);
    Invocation inv;
    if (out.empty()) return inv;  // no such target here: the case skips (see run_case)
    inv.args = model == "toto" ? toto_predict(w, w.toto(), {"--output", out})
                               : kronos_predict(w, w.kronos_model(), w.kronos_tokenizer(), {"--output", out});
    return inv;
  };
}

// A FIFO with a reader: a child process that opens it, copies what arrives to <fifo>.got and exits.
std::string fifo_with_reader(const Workspace& w) {
  const std::string p = w.path("fifo.csv");
  if (::mkfifo(p.c_str(), 0644) != 0) return "";
  const std::string got = p + ".got";
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls after fork
    ::alarm(200);  // never outlive the case
    const int in = ::open(p.c_str(), O_RDONLY);
    const int out = ::open(got.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char buf[4096];
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = ::read(in, buf, sizeof buf)) > 0)
      if (::write(out, buf, static_cast<size_t>(n)) != n) break;
    _exit(0);
  }
  test::spit(w.path("reader.pid"), std::to_string(pid));
  return p;
}
// Releases the reader if no writer came (opening for writing lets its open return) and reaps it.
void finish_reader(const Workspace& w) {
  const pid_t pid = static_cast<pid_t>(std::atol(test::slurp(w.path("reader.pid")).c_str()));
  if (pid <= 0) return;
  const int fd = ::open(w.path("fifo.csv").c_str(), O_WRONLY | O_NONBLOCK);
  if (fd >= 0) ::close(fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

void check_fifo(const Workspace& w, const Outcome& o) {
  finish_reader(w);
  const std::string p = w.path("fifo.csv");
  struct stat st {};
  ASSERT_EQ(::lstat(p.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced by another kind of file";
  if (o.exited && o.status == 0) {
    EXPECT_NE(test::slurp(p + ".got").find("timestamp"), std::string::npos)
        << "exit 0 but the forecast did not go through the FIFO; got: " << test::slurp(p + ".got");
  } else {
    EXPECT_TRUE(o.exited) << "killed by signal " << o.signal;
    EXPECT_NE(lower(o.err).find("fifo.csv"), std::string::npos) << "the error does not name the FIFO:\n" << o.err;
  }
}

std::string symlink_to_old(const Workspace& w) {
  const std::string target = w.path("target.csv"), link = w.path("link.csv");
  test::spit(target, "old contents\n");
  fs::create_symlink(target, link);
  return link;
}
void check_symlink(const Workspace& w, const Outcome& o) {
  const std::string link = w.path("link.csv"), target = w.path("target.csv");
  EXPECT_TRUE(fs::is_symlink(link)) << "the symlink was replaced by a regular file";
  if (o.exited && o.status == 0) {
    EXPECT_NE(test::slurp(target).find("timestamp"), std::string::npos)
        << "exit 0 but the link's target still holds: " << test::slurp(target);
  } else {
    EXPECT_TRUE(o.exited) << "killed by signal " << o.signal;
    EXPECT_EQ(test::slurp(target), "old contents\n") << "a failed run changed the link's target";
    EXPECT_NE(o.err.find("link.csv"), std::string::npos) << "the error does not name the link:\n" << o.err;
  }
}

// ---- cache entries ---------------------------------------------------------------------------

// The compiled cache of a first (clean) run in <ws>/cache; `damage` is then applied to every
// entry file, and the case runs the same prediction again: the damaged entries must be misses
// (exit 0, the same forecast), each reported in at most one line.
std::function<Invocation(const Workspace&)> damaged_cache(std::function<void(const std::string& entry)> damage) {
  return [damage](const Workspace& w) {
    const std::string cache = w.path("cache");
    Invocation first;
    first.args = toto_predict(w, w.toto(), {"--seed", "1"});
    first.env = {{"COMPILED_MODELS_DIR", cache}, {"TOTO_COMPILE_MODE", "default"}};
    const Outcome o = run_fcast(first, w.path("first"));
    EXPECT_TRUE(o.exited && o.status == 0) << "the clean run failed:\n" << o.err;
    test::spit(w.path("first.forecast"), o.out);
    std::vector<std::string> entries;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(cache, ec))
      if (e.is_regular_file()) entries.push_back(e.path().string());
    for (const auto& e : entries) damage(e);
    EXPECT_FALSE(entries.empty()) << "the clean run wrote no cache entries in " << cache;
    test::spit(w.path("entries"), std::to_string(entries.size()));
    Invocation again = first;
    return again;
  };
}
void check_same_forecast(const Workspace& w, const Outcome& o) {
  EXPECT_EQ(o.out, test::slurp(w.path("first.forecast"))) << "the forecast changed after the cache was damaged";
  const size_t entries = static_cast<size_t>(std::atol(test::slurp(w.path("entries")).c_str()));
  const auto lines = test::nonempty_lines(o.err);
  EXPECT_LE(lines.size(), entries + 1) << "more than one line per damaged entry (and the summary):\n" << o.err;
  for (const auto& l : lines) EXPECT_EQ(lower(l).find("bad_alloc"), std::string::npos) << l;
}

std::vector<Case> cases() {
  using W = const Workspace&;
  std::vector<Case> c;
  auto fails = [&](std::string name, std::string fixed_by, std::vector<std::string> words,
                   std::function<Invocation(W)> setup, std::function<void(W, const Outcome&)> check = nullptr) {
    c.push_back({std::move(name), std::move(fixed_by), Expect::Error, std::move(words), std::move(setup), std::move(check)});
  };
  auto succeeds = [&](std::string name, std::string fixed_by, std::function<Invocation(W)> setup,
                      std::function<void(W, const Outcome&)> check = nullptr) {
    c.push_back({std::move(name), std::move(fixed_by), Expect::Success, {}, std::move(setup), std::move(check)});
  };
  const std::vector<std::string> st = {"model.safetensors"};

  // -- damaged safetensors (the Toto checkpoint; the Kronos loader shares the reader)
  fails("safetensors_truncated_data", "", st, toto_with(raw_weights([](std::string b) { return b.substr(0, b.size() - 100); })));
  fails("safetensors_truncated_header", "", st, toto_with(raw_weights([](std::string b) { return b.substr(0, 40); })));
  fails("safetensors_length_only", "", st, toto_with(raw_weights([](std::string b) { return b.substr(0, 8); })));
  fails("safetensors_empty", "", st, toto_with(raw_weights([](std::string) { return std::string(); })));
  fails("safetensors_garbled_header", "", st, toto_with(raw_weights([](std::string b) {
          for (size_t i = 20; i < 60 && i < b.size(); i += 3) b.replace(i, 1, "#");
          return b;
        })));
  fails("safetensors_huge_header_length", "", st, toto_with(raw_weights([](std::string b) {
          const uint64_t n = uint64_t{1} << 62;
          std::memcpy(b.data(), &n, 8);
          return b;
        })));
  fails("safetensors_header_length_past_end", "", st, toto_with(raw_weights([](std::string b) {
          const uint64_t n = b.size();
          std::memcpy(b.data(), &n, 8);
          return b;
        })));
  fails("safetensors_unknown_dtype", "", {"dtype", "model."}, toto_with(edit_weights([](Safetensors& s) {
          for (auto& [k, v] : s.header.items())
            if (k != "__metadata__") {
              v["dtype"] = "Q7";
              break;
            }
        })));
  fails("safetensors_wrong_dtype", "", {"dtype", "model."}, toto_with(edit_weights([](Safetensors& s) {
          for (auto& [k, v] : s.header.items())
            if (k != "__metadata__" && v["dtype"] == "F32") {
              v["dtype"] = "I32";  // same size: only a dtype check catches it
              break;
            }
        })));
  fails("safetensors_offsets_past_data", "", st, toto_with(edit_weights([](Safetensors& s) {
          for (auto& [k, v] : s.header.items())
            if (k != "__metadata__") {
              const uint64_t b = v["data_offsets"][0], e = v["data_offsets"][1];
              v["data_offsets"] = {b + (1u << 30), e + (1u << 30)};
              break;
            }
        })));
  fails("safetensors_negative_dimension", "", st, toto_with(edit_weights([](Safetensors& s) {
          for (auto& [k, v] : s.header.items())
            if (k != "__metadata__" && !v["shape"].empty()) {
              v["shape"][0] = -1;
              break;
            }
        })));
  fails("safetensors_missing_tensor", "", {"model."}, toto_with(edit_weights([](Safetensors& s) {
          for (auto it = s.header.begin(); it != s.header.end(); ++it)
            if (it.key() != "__metadata__") {
              s.header.erase(it.key());
              break;
            }
        })));
  fails("safetensors_duplicate_name", "duplicate-tensor", {"duplicate", "model."},
        toto_with(raw_weights([](std::string b) {
          // The first tensor's entry written twice: JSON parsers keep the last one silently.
          const Safetensors s = parse_safetensors(b);
          for (auto it = s.header.begin(); it != s.header.end(); ++it)
            if (it.key() != "__metadata__") {
              const std::string entry = nlohmann::json(it.key()).dump() + ":" + it.value().dump();
              return encode_safetensors("{" + entry + "," + s.header.dump().substr(1), s.data);
            }
          return b;
        })));
  fails("safetensors_fifo", "special-files", st, toto_with([](W, const std::string& dir) {
          fs::remove(dir + "/model.safetensors");
          ::mkfifo((dir + "/model.safetensors").c_str(), 0644);
        }));
  fails("safetensors_directory", "", st, toto_with([](W, const std::string& dir) {
          fs::remove(dir + "/model.safetensors");
          fs::create_directory(dir + "/model.safetensors");
        }));
  fails("kronos_tokenizer_truncated", "", st, kronos_with([](W, const std::string&, const std::string& tok) {
          const std::string p = tok + "/model.safetensors";
          const std::string b = test::slurp(p);
          test::spit(p, b.substr(0, b.size() / 2));
        }));
  fails("kronos_predictor_fifo", "special-files", st, kronos_with([](W, const std::string& model, const std::string&) {
          fs::remove(model + "/model.safetensors");
          ::mkfifo((model + "/model.safetensors").c_str(), 0644);
        }));

  // -- config.json values (patches in tests/bad_input/config/<model>/, merged into the copy)
  struct ConfigCase {
    const char* file;      // under tests/bad_input/config/
    const char* fixed_by;
    const char* key;       // the error must name it
  };
  const ConfigCase toto_configs[] = {
      {"toto/num_layers_huge.json", "config-limits", "num_layers"},
      {"toto/num_layers_negative.json", "", "num_layers"},
      {"toto/num_layers_string.json", "", "num_layers"},
      {"toto/num_layers_fraction.json", "", "num_layers"},
      {"toto/num_layers_missing.json", "", "num_layers"},
      {"toto/embed_dim_int64_max.json", "config-values", "embed_dim"},
      {"toto/mlp_hidden_dim_int64_max.json", "config-values", "mlp_hidden_dim"},
      {"toto/spacewise_uint64_max.json", "config-values", "spacewise_every_n_layers"},
      {"toto/scale_factor_exponent_zero.json", "config-values", "scale_factor_exponent"},
      {"toto/num_heads_zero.json", "", "num_heads"},
      {"toto/unknown_key.json", "", "not_a_toto_key"},
      {"toto/patch_size_bool.json", "", "patch_size"},
  };
  for (const ConfigCase& cc : toto_configs) {
    std::string name = std::string("config_") + cc.file;
    std::replace(name.begin(), name.end(), '/', '_');
    name = name.substr(0, name.size() - 5);
    fails(name, cc.fixed_by, {cc.key}, toto_with(config_patch(cc.file)));
  }
  const ConfigCase kronos_configs[] = {
      {"kronos_predictor/n_layers_1e9.json", "config-limits", "n_layers"},
      {"kronos_predictor/n_layers_int32_max.json", "config-limits", "n_layers"},
      {"kronos_predictor/n_layers_int64_max.json", "config-limits", "n_layers"},
      {"kronos_predictor/n_layers_negative.json", "", "n_layers"},
      {"kronos_predictor/n_layers_string.json", "", "n_layers"},
      {"kronos_predictor/s1_bits_huge.json", "", "s1_bits"},
      {"kronos_tokenizer/n_enc_layers_1e9.json", "config-limits", "n_enc_layers"},
      {"kronos_tokenizer/n_dec_layers_int64_max.json", "config-limits", "n_dec_layers"},
      {"kronos_tokenizer/d_in_wrong.json", "", "d_in"},
  };
  for (const ConfigCase& cc : kronos_configs) {
    std::string name = std::string("config_") + cc.file;
    std::replace(name.begin(), name.end(), '/', '_');
    name = name.substr(0, name.size() - 5);
    const bool tokenizer = std::string(cc.file).rfind("kronos_tokenizer/", 0) == 0;
    fails(name, cc.fixed_by, {cc.key}, kronos_with([cc, tokenizer](W, const std::string& model, const std::string& tok) {
            patch_config((tokenizer ? tok : model) + "/config.json", kCorpus + "/config/" + cc.file);
          }));
  }
  fails("config_not_json", "", {"config.json"}, toto_with([](W, const std::string& dir) {
          test::spit(dir + "/config.json", "{\"patch_size\": 16,");
        }));
  fails("config_array", "", {"config.json"}, toto_with([](W, const std::string& dir) { test::spit(dir + "/config.json", "[1, 2]"); }));
  fails("config_fifo", "special-files", {"config.json"}, toto_with([](W, const std::string& dir) {
          fs::remove(dir + "/config.json");
          ::mkfifo((dir + "/config.json").c_str(), 0644);
        }));

  // -- CSV structure (files in tests/bad_input/csv/)
  fails("csv_ragged_row", "", {"ragged.csv"}, toto_csv("ragged.csv"));
  fails("csv_short_row", "", {"short_row.csv"}, toto_csv("short_row.csv"));
  fails("csv_bad_number", "", {"bad_number.csv"}, toto_csv("bad_number.csv"));
  fails("csv_unsorted", "", {"unsorted.csv"}, toto_csv("unsorted.csv"));
  fails("csv_duplicate_timestamp", "", {"duplicate"}, toto_csv("duplicate_timestamp.csv"));
  fails("csv_bad_timestamp", "", {"bad_timestamp.csv"}, toto_csv("bad_timestamp.csv"));
  fails("csv_empty", "", {"empty.csv"}, toto_csv("empty.csv"));
  fails("csv_header_only", "", {"header_only.csv"}, toto_csv("header_only.csv"));
  fails("csv_no_time_column", "", {"no_time_column.csv"}, toto_csv("no_time_column.csv"));
  fails("csv_nul_bytes", "", {"nul_bytes.csv"}, toto_csv("nul_bytes.csv"));
  fails("csv_unclosed_quote", "", {"unclosed_quote.csv"}, toto_csv("unclosed_quote.csv"));
  fails("csv_missing_column", "", {"close"}, toto_csv("no_close.csv"));
  fails("csv_kronos_ragged_row", "", {"ragged.csv"}, kronos_csv("ragged.csv"));
  fails("csv_kronos_missing_close", "", {"close"}, kronos_csv("no_close.csv"));
  // 1e300 is finite: the error must name the value's place, not call it non-finite.
  fails("csv_1e300", "non-finite", {"1e+300", "1e300", "huge_value.csv"}, toto_csv("huge_value.csv"),
        [](W, const Outcome& o) { EXPECT_EQ(lower(o.err).find("non-finite value at flat index"), std::string::npos) << o.err; });
  // Sub-second stamps: kept (exit 0) or refused as such, never called duplicates of each other.
  c.push_back({"csv_subsecond_stamps", "timestamps", Expect::Either, {"second", "subsecond.csv"},
               toto_csv("subsecond.csv"), [](W, const Outcome& o) {
                 EXPECT_EQ(lower(o.err).find("duplicate timestamp"), std::string::npos) << o.err;
               }});
  // Future stamps past 9999-12-31: refused, or written without a five-digit year.
  c.push_back({"csv_year_9999_horizon", "timestamps", Expect::Either, {"9999", "year"},
               kronos_csv("year_9999.csv", {"--lookback", "0"}), [](W w, const Outcome& o) {
                 if (o.status != 0) return;
                 const std::string out = test::slurp(w.path("out.csv"));
                 for (const auto& l : test::nonempty_lines(out))
                   EXPECT_FALSE(l.size() > 5 && std::isdigit(static_cast<unsigned char>(l[4])) && l[5] == '-') << l;
               }});
  c.push_back({"csv_many_columns", "csv-streaming", Expect::Success, {}, [](W w) {
                 // 100 000 columns, 10 rows: the reader must be linear in the columns (it was
                 // quadratic: about 50 s here, so the case's 30 s timeout catches it).
                 std::string text = "date,close";
                 for (int col = 2; col < 100000; ++col) text += ",c" + std::to_string(col);
                 text += "\n";
                 for (int r = 0; r < 10; ++r) {
                   char day[16];
                   std::snprintf(day, sizeof day, "2024-01-%02d", r + 1);
                   text += day;
                   for (int col = 1; col < 100000; ++col) text += r % 2 ? ",101" : ",99";
                   text += "\n";
                 }
                 test::spit(w.path("wide.csv"), text);
                 Invocation inv;
                 inv.args = {"predict", "toto", "--model", w.toto(), "--input", w.path("wide.csv"), "--columns", "close",
                             "--prediction-length", "2", "--num-samples", "4"};
                 return inv;
               },
               nullptr, 30});

  // -- CLI arguments
  fails("cli_toto_prediction_length_huge", "caps", {"--prediction-length"}, toto_args({"--prediction-length", "10000000"}));
  fails("cli_toto_num_samples_huge", "caps", {"--num-samples"},
        toto_args({"--num-samples", "100000000", "--samples-per-batch", "1"}));
  fails("cli_toto_prediction_length_zero", "", {"--prediction-length", "prediction"}, toto_args({"--prediction-length", "0"}));
  fails("cli_toto_prediction_length_text", "", {"--prediction-length"}, toto_args({"--prediction-length", "abc"}));
  fails("cli_toto_context_one", "", {"--context", "context"}, toto_args({"--context", "1"}));
  fails("cli_toto_quantile_above_one", "", {"quantile"}, toto_args({"--quantiles", "0.5,1.5"}));
  fails("cli_toto_seed_negative", "cli-values", {"--seed"}, toto_args({"--seed", "-1"}));
  fails("cli_toto_unknown_column", "", {"nosuchcolumn"}, toto_args({"--columns", "nosuchcolumn"}));
  fails("cli_kronos_lookback_negative", "cli-values", {"--context"}, kronos_args({"--lookback", "-1"}));
  fails("cli_kronos_seed_negative", "cli-values", {"--seed"}, kronos_args({"--seed", "-1"}));
  fails("cli_kronos_pred_len_huge", "", {"--prediction-length", "pred_len"}, kronos_args({"--pred-len", "100000000"}));
  fails("cli_kronos_sample_count_huge", "caps", {"--num-samples"}, kronos_args({"--sample-count", "100000000"}));
  fails("cli_kronos_temperature_zero", "", {"--temperature", "temperature"}, kronos_args({"--temperature", "0"}));
  fails("cli_kronos_top_p_two", "", {"--top-p", "top-p", "top_p"}, kronos_args({"--top-p", "2"}));
  fails("cli_missing_input", "", {"does_not_exist.csv"}, [](W w) {
    Invocation inv;
    inv.output = w.path("out.csv");
    write_sentinel(inv.output);
    inv.args = {"predict", "toto", "--model", w.toto(), "--input", w.path("does_not_exist.csv"), "--output", inv.output};
    return inv;
  });

  // -- cache entries (COMPILED_MODELS_DIR): damage is a miss, never an error or a hang
  succeeds("cache_truncated", "", damaged_cache([](const std::string& p) { fs::resize_file(p, fs::file_size(p) / 2); }),
           check_same_forecast);
  succeeds("cache_prefix_only", "", damaged_cache([](const std::string& p) { fs::resize_file(p, 10); }), check_same_forecast);
  succeeds("cache_garbage", "", damaged_cache([](const std::string& p) {
             std::string b = test::slurp(p);
             for (size_t i = 0; i < b.size(); i += 7) b[i] = static_cast<char>(b[i] ^ 0x5a);
             test::spit(p, b);
           }),
           check_same_forecast);
  succeeds("cache_empty_files", "", damaged_cache([](const std::string& p) { test::spit(p, ""); }), check_same_forecast);
  succeeds("cache_fifo", "special-files", damaged_cache([](const std::string& p) {
             fs::remove(p);
             ::mkfifo(p.c_str(), 0644);
           }),
           check_same_forecast);
  succeeds("cache_sparse_8gb", "special-files", damaged_cache([](const std::string& p) {
             // The real 16-byte prefix, then 8 GB of holes: the prefix and the size must be checked
             // before anything is read whole.
             const std::string head = test::slurp(p).substr(0, 16);
             test::spit(p, head);
             fs::resize_file(p, uint64_t{8} << 30);
           }),
           check_same_forecast);
  succeeds("cache_folder_unwritable", "cache-warnings", [](W w) {
    // A regular file where the cache folder should be: no entry can be stored (even by root).
    test::spit(w.path("not_a_folder"), "x");
    Invocation inv;
    inv.args = toto_predict(w, w.toto());
    inv.env = {{"COMPILED_MODELS_DIR", w.path("not_a_folder")}, {"TOTO_COMPILE_MODE", "default"}};
    return inv;
  },
           [](W, const Outcome& o) {
             EXPECT_LE(test::nonempty_lines(o.err).size(), 2u) << "more than one warning and the summary:\n" << o.err;
             EXPECT_NE(o.err.find("not_a_folder"), std::string::npos) << "the warning does not name the folder:\n" << o.err;
           });

  // -- environment variables
  fails("env_strict_plans_maybe", "env-values", {"FCAST_STRICT_PLANS"},
        with_env(toto_args({}), {{"FCAST_STRICT_PLANS", "maybe"}}));
  fails("env_kronos_kv_cache_maybe", "env-values", {"FCAST_KRONOS_KV_CACHE"},
        with_env(kronos_args({}), {{"FCAST_KRONOS_KV_CACHE", "maybe"}}));
  fails("env_persistent_cache_maybe", "", {"FCAST_PERSISTENT_CACHE"},
        with_env(toto_args({}), {{"FCAST_PERSISTENT_CACHE", "maybe"}}));
  fails("env_toto_compile_mode_bogus", "", {"TOTO_COMPILE_MODE"}, with_env(toto_args({}), {{"TOTO_COMPILE_MODE", "bogus"}}));
  fails("env_cpu_isa_bogus", "", {"FCAST_CPU_ISA"}, with_env(toto_args({}), {{"FCAST_CPU_ISA", "bogus"}}));
  succeeds("env_compile_mode_ignored_when_disabled", "env-values", [](W w) {
    Invocation inv;
    inv.args = toto_predict(w, w.toto());
    inv.env = {{"TOTO_DISABLE_COMPILE", "1"}, {"TOTO_COMPILE_MODE", "bogus"}};
    return inv;
  });
  fails("env_golden_executor_bogus", "env-values", {"FCAST_GOLDEN_EXECUTOR"}, [](W) {
    Invocation inv;
    inv.args = {"golden", kGolden + "/toto"};
    inv.env = {{"FCAST_GOLDEN_EXECUTOR", "bogus"}};
    return inv;
  });

  // -- output targets
  for (const std::string model : {"toto", "kronos"}) {
    const std::string fixed = model == "kronos" ? "output-writer" : "";
    fails("output_" + model + "_dev_full", fixed, {"full"}, output_to(model, full_device), [](W w, const Outcome&) {
      const std::string dev = ::geteuid() == 0 ? w.path("full") : "/dev/full";
      EXPECT_TRUE(is_char_device(dev)) << dev << " is no longer a character device";
    });
    fails("output_" + model + "_directory", "", {"out_dir"}, output_to(model, [](W w) {
            fs::create_directory(w.path("out_dir"));
            return w.path("out_dir");
          }),
          [](W w, const Outcome&) { EXPECT_TRUE(fs::is_directory(w.path("out_dir"))); });
    fails("output_" + model + "_missing_folder", "", {"no_such_folder"},
          output_to(model, [](W w) { return w.path("no_such_folder/out.csv"); }));
    // A FIFO is refused (fcast writes output only to regular files) without being opened: its
    // reader gets nothing and the FIFO stays. A symlink is written through.
    fails("output_" + model + "_fifo", fixed, {"fifo.csv", "not a regular file"}, output_to(model, fifo_with_reader),
          check_fifo);
    succeeds("output_" + model + "_symlink", fixed, output_to(model, symlink_to_old), check_symlink);
  }
  return c;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// ---- the runner ------------------------------------------------------------------------------

class BadInput : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() { root_ = new test::TempDir("bad_input"); }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }
  static test::TempDir* root_;
};
test::TempDir* BadInput::root_ = nullptr;

TEST_P(BadInput, Case) {
  const Case& c = GetParam();
  if (!c.fixed_by.empty()) {
    const auto it = kFixedBy.find(c.fixed_by);
    ASSERT_NE(it, kFixedBy.end()) << "unknown fixed_by topic '" << c.fixed_by << "'";
    ::testing::Test::RecordProperty("finding", it->second);
    SCOPED_TRACE("covers hardening finding " + it->second);
  }
  Workspace w;
  w.dir = root_->sub(c.name);
  fs::create_directories(w.dir);
  Invocation inv = c.setup(w);
  inv.timeout_s = c.timeout_s;
  // The compile cache of the run, unless the case chose one: outside the case's folder (which
  // holds --output) and out of the working directory.
  if (std::none_of(inv.env.begin(), inv.env.end(), [](const auto& e) { return e.first == "COMPILED_MODELS_DIR"; }))
    inv.env.emplace_back("COMPILED_MODELS_DIR", root_->sub(c.name + ".compiled"));
  if (inv.args.empty()) GTEST_SKIP() << "this system cannot make the target of this case (mknod/mkfifo refused)";
  const std::string out_dir = inv.output.empty() ? "" : fs::path(inv.output).parent_path().string();
  const std::set<std::string> before = out_dir.empty() ? std::set<std::string>{} : listing(out_dir);

  const Outcome o = run_fcast(inv, root_->sub(c.name + ".run"));  // logs outside the case's folder

  std::string cmd;
  for (const auto& a : inv.args) cmd += " " + a;
  for (const auto& [k, v] : inv.env) cmd = " " + k + "=" + v + cmd;
  SCOPED_TRACE("fcast" + cmd + "\nstderr:\n" + o.err);
  ASSERT_TRUE(o.exited) << "killed by signal " << o.signal;
  ASSERT_NE(o.status, 124) << "timed out after " << c.timeout_s << " s";
  ASSERT_NE(o.status, 126) << "ulimit -v refused (set FCAST_TEST_VMEM_LIMIT_KB=0 for sanitized builds)";
  ASSERT_NE(o.status, 127) << "the binary did not start";
  if (c.expect == Expect::Success || (c.expect == Expect::Either && o.status == 0)) {
    EXPECT_EQ(o.status, 0) << "stdout:\n" << o.out.substr(0, 2000);
  } else {
    EXPECT_NE(o.status, 0) << "exit 0 on bad input; stdout:\n" << o.out.substr(0, 2000);
    std::vector<std::string> lines;  // stderr without the models' progress notes
    for (const auto& l : test::nonempty_lines(o.err))
      if (l.rfind("fcast: toto: ", 0) != 0 && l.rfind("fcast: kronos: ", 0) != 0) lines.push_back(l);
    EXPECT_GE(lines.size(), 1u) << "no error message";
    EXPECT_LE(lines.size(), 2u) << "more than a one-line error";
    bool named = false;
    for (const auto& l : lines)
      for (const auto& word : c.words) named = named || lower(l).find(lower(word)) != std::string::npos;
    std::string words;
    for (const auto& word : c.words) words += " '" + word + "'";
    EXPECT_TRUE(named) << "the error names none of" << words;
    if (!inv.output.empty()) {
      EXPECT_EQ(test::slurp(inv.output), kSentinel) << "a failed run changed --output";
      struct stat st {};
      if (::stat(inv.output.c_str(), &st) == 0) {
        EXPECT_EQ(st.st_mtime, 1000000000) << "a failed run touched --output";
      }
      EXPECT_EQ(listing(out_dir), before) << "a failed run left files next to --output";
    }
  }
  if (c.check) c.check(w, o);
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// The table's topics are all known and case names unique (a typo would skip a case for good).
TEST(BadInputTable, TopicsAndNamesAreValid) {
  std::set<std::string> names;
  for (const Case& c : cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    if (!c.fixed_by.empty()) {
      EXPECT_TRUE(kFixedBy.count(c.fixed_by)) << c.name << ": unknown topic " << c.fixed_by;
    }
    for (char ch : c.name) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << c.name;
  }
}

}  // namespace
}  // namespace fcast

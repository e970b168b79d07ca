// Output files and special input files through the fcast binary (hardening findings 1 and 3),
// for every predict command: `--output` through a symbolic link updates the linked file and
// keeps the link; a directory, FIFO or device as `--output` is refused before the forecast and
// left as it was (/dev/full stays a character device: the finding replaced it when run as
// root); a failing write leaves the old output; a FIFO in place of model.safetensors,
// config.json or the input CSV is refused at once. Every run is bounded by `timeout` and
// `ulimit -v`, so a hang or a runaway allocation fails the test instead of stalling ctest.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "test_util.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;
using test::slurp;
using test::spit;

const std::string kMstr = test::test_data("market/MSTR.csv");
const std::string kToto = test::test_data("golden/toto/models/tiny_a");
const std::string kKronosModel = test::test_data("golden/kronos/models/tiny/predictor");
const std::string kKronosTok = test::test_data("golden/kronos/models/tiny/tokenizer");

struct Tool {
  std::string name;
  // The arguments of a small forecast without --output; `model` replaces the main model folder.
  std::string (*args)(const std::string& model, const std::string& input);
  std::string model;
};

std::string q(const std::string& s) { return test::shell_quote(s); }

std::string toto_args(const std::string& model, const std::string& input) {
  return "predict toto --model " + q(model) + " --input " + q(input) +
         " --context 64 --prediction-length 96 --num-samples 0 --no-compile";
}
std::string kronos_args(const std::string& model, const std::string& input) {
  return "predict kronos --model " + q(model) + " --tokenizer " + q(kKronosTok) + " --input " + q(input) +
         " --lookback 48 --pred-len 2 --max-context 48 --sample-count 1 --seed 1 --no-compile";
}

const std::vector<Tool>& tools() {
  static const std::vector<Tool> t = {{"toto", toto_args, kToto}, {"kronos", kronos_args, kKronosModel}};
  return t;
}

class FileSafetyCli : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = std::make_unique<test::TempDir>("file_safety_cli"); }
  std::string sub(const std::string& name) const { return dir_->sub(name); }

  // `fcast ARGS` in the temp folder under a 120 s timeout and 8 GB of address space, with
  // `shell_prefix` (e.g. a ulimit) run first; nothing persisted.
  test::CommandResult run(const std::string& args, const std::string& shell_prefix = "") {
    static int n = 0;
    const std::string inner = shell_prefix + test::ulimit_v(8388608) + "exec env FCAST_PERSISTENT_CACHE=0 OMP_NUM_THREADS=1 " +
                              q(FCAST_BINARY) + " " + args;
    const std::string cmd = "cd " + q(dir_->path.string()) + " && timeout -s KILL 120 sh -c " + q(inner);
    const std::string base = sub("run" + std::to_string(n++));
    return test::run_command(cmd, base + ".out", base + ".err");
  }

  // A clean, fast failure: an exit status (not the timeout's kill), non-zero, naming `parts`.
  void expect_refused(const test::CommandResult& r, const std::string& what, std::initializer_list<const char*> parts) {
    ASSERT_TRUE(r.exited) << what << ": killed";
    EXPECT_NE(r.status, 137) << what << ": killed by the timeout (a hang)\n" << r.err;
    EXPECT_NE(r.status, 0) << what << "\n" << r.err;
    for (const char* p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << what << ": '" << p << "' not in\n" << r.err;
  }

  std::unique_ptr<test::TempDir> dir_;
};

mode_t kind_of(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 ? (st.st_mode & S_IFMT) : 0;
}

TEST_F(FileSafetyCli, OutputThroughASymbolicLinkUpdatesTheLinkedFile) {
  for (const Tool& t : tools()) {
    fs::create_directories(sub("real"));
    const std::string target = sub("real/" + t.name + ".csv"), link = sub(t.name + "-link.csv");
    spit(target, "old\n");
    fs::create_symlink("real/" + t.name + ".csv", link);
    const test::CommandResult r = run(t.args(t.model, kMstr) + " --output " + q(link));
    ASSERT_EQ(r.status, 0) << t.name << "\n" << r.err;
    EXPECT_TRUE(fs::is_symlink(link)) << t.name << ": the link was replaced";
    const std::string got = slurp(target);
    EXPECT_NE(got, "old\n") << t.name << ": the linked file kept its old contents";
    EXPECT_GT(test::nonempty_lines(got).size(), 2u) << got;
  }
}

TEST_F(FileSafetyCli, SpecialOutputsAreRefusedAndLeftAlone) {
  fs::create_directories(sub("a_dir"));
  ASSERT_EQ(::mkfifo(sub("a_fifo").c_str(), 0644), 0);
  struct Case {
    std::string path, kind;
    mode_t type;
  };
  std::vector<Case> cases = {{sub("a_dir"), "a directory", S_IFDIR}, {sub("a_fifo"), "a FIFO", S_IFIFO}};
  if (kind_of("/dev/full") == S_IFCHR) cases.push_back({"/dev/full", "a character device", S_IFCHR});
  for (const Tool& t : tools())
    for (const Case& c : cases) {
      const test::CommandResult r = run(t.args(t.model, kMstr) + " --output " + q(c.path));
      expect_refused(r, t.name + " --output " + c.path, {c.path.c_str(), c.kind.c_str(), "not a regular file"});
      EXPECT_EQ(kind_of(c.path), c.type) << t.name << ": " << c.path << " changed type";
      EXPECT_EQ(r.err.find("wrote"), std::string::npos) << r.err;
    }
}

// RLIMIT_FSIZE (with SIGXFSZ ignored) makes the write fail with EFBIG part-way, as a full
// disk does with ENOSPC. Before the fix Toto wrote in place and left a truncated file.
TEST_F(FileSafetyCli, FailedWriteLeavesTheOldOutput) {
  for (const Tool& t : tools()) {
    if (t.name == "kronos") continue;  // its 2-row output fits under any useful limit
    const std::string out = sub(t.name + ".csv");
    const std::string old = "old output that must survive\n";
    spit(out, old);
    const test::CommandResult r = run(t.args(t.model, kMstr) + " --output " + q(out), "trap '' XFSZ; ulimit -f 4; ");
    expect_refused(r, t.name + " under ulimit -f", {"cannot write", "File too large", "unchanged"});
    EXPECT_EQ(slurp(out), old);
    for (const auto& e : fs::directory_iterator(dir_->path))
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST_F(FileSafetyCli, FifoInputsAreRefusedAtOnce) {
  for (const Tool& t : tools()) {
    // model.safetensors as a FIFO, with a real config.json beside it.
    const std::string m1 = sub(t.name + "-fifo-weights");
    fs::create_directories(m1);
    fs::copy_file(t.model + "/config.json", m1 + "/config.json");
    ASSERT_EQ(::mkfifo((m1 + "/model.safetensors").c_str(), 0644), 0);
    expect_refused(run(t.args(m1, kMstr)), t.name + " FIFO weights", {"model.safetensors", "not a regular file"});
    // config.json as a FIFO.
    const std::string m2 = sub(t.name + "-fifo-config");
    fs::create_directories(m2);
    fs::copy_file(t.model + "/model.safetensors", m2 + "/model.safetensors");
    ASSERT_EQ(::mkfifo((m2 + "/config.json").c_str(), 0644), 0);
    expect_refused(run(t.args(m2, kMstr)), t.name + " FIFO config", {"config.json", "not a regular file"});
    // The input CSV as a FIFO.
    const std::string csv = sub(t.name + "-input.csv");
    ASSERT_EQ(::mkfifo(csv.c_str(), 0644), 0);
    expect_refused(run(t.args(t.model, csv)), t.name + " FIFO input", {"input.csv", "not a regular file"});
  }
}

}  // namespace
}  // namespace fcast

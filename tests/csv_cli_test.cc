// `fcast predict` on large and wide CSV files (hardening findings 4), run as a user would: the
// predict commands stream the file and keep only their context window, so a file many times
// larger than the window fits in the memory a tiny file needs. Memory is bounded with `ulimit -v`
// and time with `timeout`; nothing is timed.
#include <gtest/gtest.h>

#include <string>

#include "io/csv.h"
#include "test_util.h"

namespace fcast {
namespace {

const std::string kTotoTiny = test::test_data("golden/toto/models/tiny_a");
const std::string kKronosTiny = test::test_data("golden/kronos/models/tiny");

class CsvCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new test::TempDir("csv_cli_test"); }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  // Runs fcast with `args` under `ulimit -v kb` (0: none) and a timeout.
  static test::CommandResult fcast(const std::string& args, int64_t kb = 0) {
    static int n = 0;
    const std::string base = dir_->sub("run" + std::to_string(n++));
    std::string cmd = "OMP_NUM_THREADS=1 ";
    cmd = test::ulimit_v(kb) + cmd;
    cmd += "timeout 120 " + test::shell_quote(test::fcast_binary()) + " " + args;
    return test::run_command("sh -c " + test::shell_quote(cmd), base + ".out", base + ".err");
  }
  // `rows` minute bars (open, high, low, close, volume) from 2000-01-01.
  static std::string bars(const std::string& name, int64_t rows) {
    std::string text = "timestamp,open,high,low,close,volume\n";
    text.reserve(static_cast<size_t>(rows) * 50);
    const int64_t base = parse_timestamp("2000-01-01");
    for (int64_t r = 0; r < rows; ++r) {
      const std::string v = std::to_string(100 + r % 97) + ".5";
      text += format_timestamp(base + 60 * r, true) + "," + v + "," + v + "," + v + "," + v + ",1000\n";
    }
    const std::string path = dir_->sub(name);
    test::spit(path, text);
    return path;
  }
  // The smallest `ulimit -v` (to 8 MiB) under which `args` succeeds, between lo and hi KiB.
  static int64_t least_vm_kb(const std::string& args, int64_t lo, int64_t hi) {
    EXPECT_EQ(fcast(args, hi).status, 0) << "fails even under ulimit -v " << hi;
    while (hi - lo > 8192) {
      const int64_t mid = (lo + hi) / 2;
      if (fcast(args, mid).status == 0) hi = mid;
      else lo = mid;
    }
    return hi;
  }
  static test::TempDir* dir_;
};
test::TempDir* CsvCli::dir_ = nullptr;

TEST_F(CsvCli, LargeFileNeedsNoMoreMemoryThanASmallOne) {
  if (test::ulimit_v(1).empty()) GTEST_SKIP() << "no address-space limit here (a sanitized build or FCAST_TEST_VMEM_LIMIT_KB=0): nothing to measure";
  // 1M minute bars (about 50 MB): read whole, the file took several times its size.
  const std::string small = test::shell_quote(bars("small.csv", 600));
  const std::string large = test::shell_quote(bars("large.csv", 1000000));
  const std::string toto = "predict toto --no-compile --model " + test::shell_quote(kTotoTiny) +
                           " --prediction-length 4 --num-samples 0 --context 512 --input ";
  const int64_t need = least_vm_kb(toto + small, 64 * 1024, 16 * 1024 * 1024);
  const int64_t limit = need + 48 * 1024;  // the calibration step, one read block and slack
  const test::CommandResult r = fcast(toto + large, limit);
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 0) << "under ulimit -v " << limit << " KiB (a 600-row file needs " << need << "): " << r.err;
  // The first future stamp is one minute after the last bar.
  EXPECT_NE(r.out.find(format_timestamp(parse_timestamp("2000-01-01") + 60 * 1000000, true)), std::string::npos) << r.out;

  const std::string kronos = "predict kronos --no-compile --model " + test::shell_quote(kKronosTiny + "/predictor") +
                             " --tokenizer " + test::shell_quote(kKronosTiny + "/tokenizer") +
                             " --pred-len 2 --max-context 64 --top-k 1 --input ";
  const int64_t kneed = least_vm_kb(kronos + small, 64 * 1024, 16 * 1024 * 1024);
  const test::CommandResult k = fcast(kronos + large, kneed + 48 * 1024);
  EXPECT_EQ(k.status, 0) << "under ulimit -v " << kneed + 48 * 1024 << " KiB: " << k.err;
}

TEST_F(CsvCli, WideFileFinishes) {
  // 100k columns: the header check was quadratic (Kronos did not finish). The timeout turns a
  // hang into a failure; it is not a timed assertion.
  std::string head = "date,close", row;
  for (int c = 0; c < 100000; ++c) {
    head += ",x" + std::to_string(c);
    row += ",1";
  }
  std::string text = head + "\n";
  for (int d = 0; d < 40; ++d) text += format_timestamp((19723 + d) * 86400, false) + "," + std::to_string(100 + d % 7) + row + "\n";
  const std::string path = dir_->sub("wide.csv");
  test::spit(path, text);
  const test::CommandResult r = fcast("predict toto --no-compile --model " + test::shell_quote(kTotoTiny) + " --input " +
                                      test::shell_quote(path) + " --prediction-length 2 --num-samples 0");
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.status, 0) << r.err;
  const test::CommandResult k = fcast("predict kronos --no-compile --model " + test::shell_quote(kKronosTiny + "/predictor") +
                                      " --tokenizer " + test::shell_quote(kKronosTiny + "/tokenizer") + " --input " +
                                      test::shell_quote(path) + " --pred-len 2 --max-context 64 --top-k 1");
  EXPECT_EQ(k.status, 0) << k.err;
}

}  // namespace
}  // namespace fcast

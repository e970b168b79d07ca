// The command line's usage errors: exit status 2 (1 is an error while working), the command
// path in the message, a did-you-mean for a mistyped option or subcommand, and `fcast help`.
#include <gtest/gtest.h>

#include "test_util.h"

using namespace fcast;

namespace {

test::CommandResult run_fcast(const test::TempDir& dir, const std::string& args) {
  return test::run_command(test::shell_quote(test::fcast_binary()) + " " + args, dir.sub("out.txt"), dir.sub("err.txt"));
}

}  // namespace

TEST(CliUsage, MistypedOptionExits2WithDidYouMean) {
  test::TempDir dir("usage_option");
  test::CommandResult r = run_fcast(dir, "predict toto --modle x --input y.csv");
  EXPECT_EQ(r.status, 2) << r.err;
  test::expect_contains(r.err, {"fcast predict toto", "--modle", "did you mean --model?", "fcast help predict toto"});
  r = run_fcast(dir, "predict kronos --pred-lenn 3 --input y.csv");
  EXPECT_EQ(r.status, 2);
  test::expect_contains(r.err, {"did you mean --pred-len?"});
  r = run_fcast(dir, "serve --prot 8080");
  EXPECT_EQ(r.status, 2);
  test::expect_contains(r.err, {"did you mean --port?"});
}

TEST(CliUsage, MistypedSubcommandExits2WithDidYouMean) {
  test::TempDir dir("usage_sub");
  test::CommandResult r = run_fcast(dir, "predcit toto");
  EXPECT_EQ(r.status, 2) << r.err;
  test::expect_contains(r.err, {"unknown command 'predcit'", "did you mean 'predict'?"});
  r = run_fcast(dir, "predict totto --input x.csv");
  EXPECT_EQ(r.status, 2) << r.err;
  test::expect_contains(r.err, {"did you mean 'toto'?", "kronos"});
  r = run_fcast(dir, "predict");
  EXPECT_EQ(r.status, 2) << r.err;
}

TEST(CliUsage, MissingRequiredOptionExits2ButWorkErrorsExit1) {
  test::TempDir dir("usage_required");
  test::CommandResult r = run_fcast(dir, "predict toto -m /nonexistent");
  EXPECT_EQ(r.status, 2) << r.err;
  test::expect_contains(r.err, {"--input"});
  r = run_fcast(dir, "predict toto -m /nonexistent -i /nonexistent.csv");
  EXPECT_EQ(r.status, 1) << r.err;
  test::expect_contains(r.err, {"fcast: error:", "/nonexistent"});
}

TEST(CliUsage, HelpCommandPrintsACommandsHelp) {
  test::TempDir dir("usage_help");
  test::CommandResult r = run_fcast(dir, "help predict toto");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* opt : {"--model", "-m", "--prediction-length", "--pred-len", "-n", "--num-samples", "--sample-count",
                          "--context", "--lookback", "--threads", "-t", "--output", "-o", "--symbols", "--samples-out",
                          "--stats-file", "--fill", "--quiet", "--samples-per-batch", "--no-kv-cache"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  r = run_fcast(dir, "help predict kronos");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* opt : {"--tokenizer", "--temperature", "--top-k", "--top-p", "--max-context", "--threads"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  r = run_fcast(dir, "help");
  ASSERT_EQ(r.status, 0);
  test::expect_contains(r.out, {"predict", "init-model", "stress", "serve"});
  r = run_fcast(dir, "help predict tot");
  EXPECT_EQ(r.status, 2);
  test::expect_contains(r.err, {"no command 'tot'", "did you mean 'toto'?"});
  EXPECT_EQ(run_fcast(dir, "predict toto --help").status, 0);
}

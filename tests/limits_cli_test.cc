// Hardening findings 2, 6 and 8 through the binary, as a careless user would meet them: a
// mistyped config.json layer count, a horizon or sample count a few zeros too long, a negative
// --lookback or --seed, a bad FCAST_GOLDEN_EXECUTOR, unparsable boolean variables. Each must
// end in one clear error (exit 1, never a signal, a hang or a large allocation): every command
// runs under `ulimit -v` and `timeout`, so unbounded work fails the test instead of the machine.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/kronos/config.h"
#include "models/kronos/weights.h"
#include "models/toto/config.h"
#include "models/toto/weights.h"
#include "test_util.h"

namespace fcast {
namespace {

namespace fs = std::filesystem;
using test::shell_quote;

const std::string kMstr = test::test_data("market/MSTR.csv");

class LimitsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new test::TempDir("limits_cli");
    toto_ = tmp_->sub("toto");
    kmodel_ = tmp_->sub("kronos_model");
    ktok_ = tmp_->sub("kronos_tok");
    toto::write_random_toto(toto::toto_preset("tiny"), 3, toto_);
    kronos::write_random_kronos_predictor(kronos::kronos_predictor_preset("kronos-tiny"), 1, kmodel_);
    kronos::write_random_kronos_tokenizer(kronos::kronos_tokenizer_preset("kronos-tokenizer-tiny"), 2, ktok_);
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }

  // Runs fcast with `env` (NAME=VALUE ...) and `args` under a 4 GiB address-space limit and a
  // 120 s timeout (a hang exits 124, a refused allocation fails the run: either fails the test).
  static test::CommandResult run(const std::vector<std::string>& args, const std::string& env = "") {
    static int n = 0;
    std::string cmd = test::ulimit_v(4194304) + "exec env OMP_NUM_THREADS=1 COMPILED_MODELS_DIR=" +
                      shell_quote(tmp_->sub("cache")) + " " + env + " timeout 120 " + shell_quote(FCAST_BINARY);
    for (const auto& a : args) {
      cmd += ' ';
      cmd += shell_quote(a);
    }
    const std::string base = tmp_->sub("run" + std::to_string(n++));
    return test::run_command(cmd, base + ".out", base + ".err");
  }

  // One clean error: exit status 1 and every part in stderr; `no_output` must not appear.
  static void expect_error(const std::vector<std::string>& args, const std::vector<std::string>& parts,
                           const std::string& env = "") {
    const test::CommandResult r = run(args, env);
    std::string cmd = env;
    for (const auto& a : args) cmd += " " + a;
    ASSERT_TRUE(r.exited) << cmd << ": killed by a signal\n" << r.err;
    EXPECT_EQ(r.status, 1) << cmd << " (124 = timed out)\n" << r.err;
    for (const auto& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << cmd << "\nstderr: " << r.err << "\nmissing: " << p;
  }

  static void expect_ok(const std::vector<std::string>& args, const std::string& env = "") {
    const test::CommandResult r = run(args, env);
    std::string cmd = env;
    for (const auto& a : args) cmd += " " + a;
    ASSERT_TRUE(r.exited) << cmd;
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.err;
  }

  static std::vector<std::string> toto(std::vector<std::string> extra) {
    std::vector<std::string> a = {"predict", "toto", "--model", toto_, "--input", kMstr, "--output", tmp_->sub("t.csv")};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  static std::vector<std::string> kronos(std::vector<std::string> extra, const std::string& model = "") {
    std::vector<std::string> a = {"predict", "kronos", "--model", model.empty() ? kmodel_ : model,
                                  "--tokenizer", ktok_, "--input", kMstr, "--output", tmp_->sub("k.csv")};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // A copy of `dir` whose config.json has `key` set to the raw JSON text `value`.
  static std::string with_config(const std::string& dir, const std::string& key, const std::string& value) {
    static int n = 0;
    const std::string out = tmp_->sub("edited" + std::to_string(n++));
    fs::copy(dir, out, fs::copy_options::recursive);
    nlohmann::json j = nlohmann::json::parse(test::slurp(out + "/config.json"));
    j[key] = nullptr;
    std::string text = j.dump();
    // Appended piece by piece: g++ 12 gives a false -Wrestrict on `literal + string` chains.
    std::string quoted = "\"";
    quoted.append(key).append("\":");
    const std::string placeholder = quoted + "null";
    text.replace(text.find(placeholder), placeholder.size(), quoted + value);  // exact digits
    test::spit(out + "/config.json", text);
    return out;
  }

  static test::TempDir* tmp_;
  static std::string toto_, kmodel_, ktok_;
};

test::TempDir* LimitsCli::tmp_ = nullptr;
std::string LimitsCli::toto_, LimitsCli::kmodel_, LimitsCli::ktok_;

TEST_F(LimitsCli, HugeLayerCountsFailBeforeAnyAllocation) {
  for (const char* n : {"999999999", "9223372036854775807"}) {
    const std::string dir = with_config(toto_, "num_layers", n);
    expect_error({"predict", "toto", "--model", dir, "--input", kMstr, "--num-samples", "0"},
                 {"config.json", "num_layers", n, "at most 1024"});
  }
  for (const char* n : {"1000000000", "2147483647", "9223372036854775807"}) {
    expect_error(kronos({"--pred-len", "2"}, with_config(kmodel_, "n_layers", n)), {"config.json", "n_layers", n});
  }
  const std::string tok = with_config(ktok_, "n_enc_layers", "1000000000");
  expect_error({"predict", "kronos", "--model", kmodel_, "--tokenizer", tok, "--input", kMstr, "--pred-len", "2"},
               {"config.json", "n_enc_layers", "1000000000"});
  // Within the cap, the checkpoint refuses it (the layers it holds), naming both.
  expect_error({"predict", "toto", "--model", with_config(toto_, "num_layers", "999"), "--input", kMstr},
               {"num_layers = 999", "holds 3 layer(s)"});
  expect_error({"predict", "toto", "--model", with_config(toto_, "spacewise_every_n_layers", "18446744073709551615"),
                "--input", kMstr},
               {"spacewise_every_n_layers", "18446744073709551615", "does not fit"});
  expect_error({"predict", "toto", "--model", with_config(toto_, "mlp_hidden_dim", "9223372036854775807"), "--input",
                kMstr},
               {"mlp_hidden_dim", "9223372036854775807", "at most"});
  expect_error({"predict", "toto", "--model", with_config(toto_, "scale_factor_exponent", "0"), "--input", kMstr},
               {"scale_factor_exponent", "> 0"});
}

TEST_F(LimitsCli, HorizonAndSampleCapsNameTheFlagThatRaisesThem) {
  expect_error(toto({"--prediction-length", "10000000"}),
               {"--prediction-length 10000000", "horizon cap of 4096", "--max-horizon", "FCAST_MAX_HORIZON"});
  expect_error(toto({"--num-samples", "100000000", "--samples-per-batch", "1"}),
               {"--num-samples 100000000", "sample cap of 4096", "--max-samples", "FCAST_MAX_SAMPLES"});
  expect_error(toto({"--prediction-length", "16", "--num-samples", "0"}), {"horizon cap of 8", "FCAST_MAX_HORIZON"},
               "FCAST_MAX_HORIZON=8");
  expect_ok(toto({"--prediction-length", "16", "--num-samples", "0", "--max-horizon", "16"}), "FCAST_MAX_HORIZON=8");
  expect_ok(toto({"--prediction-length", "4", "--num-samples", "8", "--samples-per-batch", "8"}), "FCAST_MAX_SAMPLES=8");
  expect_error(toto({"--num-samples", "0"}), {"FCAST_MAX_HORIZON='lots'"}, "FCAST_MAX_HORIZON=lots");
  expect_error(toto({"--num-samples", "0", "--max-samples", "0"}), {"--max-samples '0'"});

  expect_error(kronos({"--pred-len", "5000", "--max-context", "100000"}), {"--prediction-length 5000", "horizon cap of 4096"});
  expect_error(kronos({"--pred-len", "2", "--sample-count", "100000"}), {"--num-samples 100000", "sample cap of 4096"});
  expect_error(kronos({"--pred-len", "2", "--sample-count", "3"}), {"sample cap of 2", "FCAST_MAX_SAMPLES"},
               "FCAST_MAX_SAMPLES=2");
}

TEST_F(LimitsCli, NegativeLookbackAndSeedAreErrors) {
  expect_error(kronos({"--pred-len", "2", "--lookback", "-1"}), {"--context must be 0 (every row) or at least 2 rows", "-1"});
  expect_ok(kronos({"--pred-len", "2", "--lookback", "0"}));
  expect_error(toto({"--num-samples", "4", "--seed", "-1"}), {"--seed '-1'", "valid seed", "18446744073709551615"});
  expect_error(kronos({"--pred-len", "2", "--seed", "-1"}), {"--seed '-1'"});
  expect_error(toto({"--num-samples", "4", "--seed", "18446744073709551616"}), {"--seed", "valid seed"});
  expect_error({"init-model", "toto", "--preset", "tiny", "--seed", "-3", "--out", tmp_->sub("never")}, {"--seed '-3'"});
  expect_ok(toto({"--num-samples", "4", "--samples-per-batch", "4", "--prediction-length", "2", "--seed",
                  "18446744073709551615"}));
}

TEST_F(LimitsCli, BooleanVariablesRejectUnknownValues) {
  // Compiled (the default): strict plans can take effect, so the variable is read and must parse.
  expect_error(toto({"--num-samples", "0", "--prediction-length", "2"}), {"FCAST_STRICT_PLANS='maybe'", "not a boolean"},
               "FCAST_STRICT_PLANS=maybe");
  expect_error(kronos({"--pred-len", "2"}), {"FCAST_KRONOS_KV_CACHE='maybe'", "not a boolean"},
               "FCAST_KRONOS_KV_CACHE=maybe");
  // A variable that cannot take effect is not read (docs/COMPILE_GUIDE.md).
  expect_ok(toto({"--num-samples", "0", "--prediction-length", "2"}), "TOTO_DISABLE_COMPILE=1 TOTO_COMPILE_MODE=bogus");
}

TEST_F(LimitsCli, BadGoldenExecutorIsOneErrorBeforeAnyCase) {
  for (const char* model : {"toto", "kronos"}) {
    const test::CommandResult r =
        run({"golden", test::test_data(std::string("golden/") + model)}, "FCAST_GOLDEN_EXECUTOR=bogus");
    ASSERT_TRUE(r.exited);
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("FCAST_GOLDEN_EXECUTOR='bogus'"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << "cases ran:\n" << r.out;
    EXPECT_EQ(test::nonempty_lines(r.err).size(), 1u) << r.err;
  }
}

}  // namespace
}  // namespace fcast

// Tools over the model registry: `predict MODEL` gives the session's numbers; `init-model` and `config` list every registered
// model; `profile --precision bf16` runs on bf16 KV caches (its executor is observed, not wrapped,
// so the models see the compiled executor's policy).
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>

#include "io/csv.h"
#include "models/registry.h"
#include "test_util.h"
#include "tools/commands.h"

using namespace fcast;

namespace {

using test::split;

test::CommandResult fcast_run(const test::TempDir& dir, const std::string& args, const std::string& env = "") {
  return test::run_command((env.empty() ? "" : "env " + env + " ") + test::shell_quote(test::fcast_binary()) + " " + args,
                           dir.sub("out.txt"), dir.sub("err.txt"));
}

}  // namespace

TEST(RegistryTools, GenericPredictGivesTheSessionsNumbers) {
  test::TempDir dir("generic_predict");
  const std::string model = test::test_data("golden/toto/models/tiny_a"), input = test::test_data("market/MSTR.csv");
  CLI::App app;
  CLI::App* predict = app.add_subcommand("predict");
  tools::register_model_predict(*predict, find_model("toto"));
  std::vector<std::string> args = {"predict", "toto", "--model", model, "--input", input, "--context", "96",
                                   "--prediction-length", "5", "--num-samples", "8", "--seed", "4",
                                   "--option", "samples_per_batch=4", "--no-compile", "--output", dir.sub("f.csv")};
  std::reverse(args.begin(), args.end());  // CLI11's vector overload takes the arguments last first
  app.parse(args);                         // the callback runs here
  const auto lines = test::nonempty_lines(test::slurp(dir.sub("f.csv")));
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "symbol,timestamp,variate,step,mean,median,std,q0.1,q0.5,q0.9");

  MarketTable t = read_market_csv(input);
  t.keep_last(96);
  ForecastRequest r;
  SeriesInput s;
  s.variate_names = {"close"};
  s.values = {t.column("close")};
  for (int64_t k = 0; k < t.rows(); ++k) s.timestamps.push_back(t.timestamps[k]);
  r.series = {s};
  r.horizon = 5;
  r.num_samples = 8;
  r.seed = 4;
  r.options = {{"samples_per_batch", "4"}};
  CompileSettings eager;
  eager.enabled = false;
  const ForecastResult want = find_model("toto").load({{"model", model}}, eager)->new_session()->forecast(r);
  for (int h = 0; h < 5; ++h) {
    const auto f = split(lines[1 + h], ',');
    ASSERT_EQ(f.size(), 10u) << lines[1 + h];
    EXPECT_EQ(f[0], "MSTR");
    EXPECT_EQ(f[2], "close");
    EXPECT_EQ(std::stof(f[4]), want.series[0].mean[0][h]) << "step " << h;
    EXPECT_EQ(std::stof(f[9]), want.series[0].quantiles[2][0][h]) << "step " << h;
  }
}

TEST(RegistryTools, HelpListsEveryRegisteredModel) {
  test::TempDir dir("registry_help");
  for (const char* cmd : {"init-model --help", "predict --help", "compile --help", "config --help"}) {
    const test::CommandResult r = fcast_run(dir, cmd);
    ASSERT_EQ(r.status, 0) << cmd << "\n" << r.err;
    for (const ModelEntry& e : model_registry()) EXPECT_NE(r.out.find(e.name), std::string::npos) << cmd << "\n" << r.out;
  }
  const test::CommandResult c = fcast_run(dir, "config --json");
  ASSERT_EQ(c.status, 0) << c.err;
  const nlohmann::json j = nlohmann::json::parse(c.out);
  for (const ModelEntry& e : model_registry()) EXPECT_TRUE(j.contains(e.name)) << e.name << " missing in " << c.out;
  const test::CommandResult bad = fcast_run(dir, "config --family chronos");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find(model_names()), std::string::npos) << bad.err;
}

TEST(RegistryTools, ProfileWithBf16RunsOnBf16KvCaches) {
  test::TempDir dir("profile_kv");
  const std::string common =
      "profile --model toto --runs 1 --context-length 64 --num-samples 4 --models-cache " + test::shell_quote(dir.sub("m"));
  test::CommandResult r = fcast_run(dir, common + " --precision bf16");
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("KV caches: bf16"), std::string::npos) << r.out;
  r = fcast_run(dir, common + " --precision fp32");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("KV caches: fp32"), std::string::npos) << r.out;
  // The documented off switch reaches the profiled models as well.
  r = fcast_run(dir, common + " --precision bf16", "FCAST_KV_CACHE_BF16=0");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("KV caches: fp32"), std::string::npos) << r.out;
  r = fcast_run(dir, "profile --model chronos");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unknown model 'chronos'"), std::string::npos) << r.err;
}

// Hardening findings 2, 6 and 8: size-like config values are bounded before anything is
// allocated (absolute caps, then the layer counts the checkpoint really holds), integer keys
// that do not fit int64 or shape products that would overflow are errors naming the key,
// scale_factor_exponent and the real-valued keys are range-checked, and one request's work is
// capped (ForecastLimits) with an error that names the cap and how to raise it.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/checked.h"
#include "core/env.h"
#include "io/json.h"
#include "models/kronos/config.h"
#include "models/kronos/weights.h"
#include "models/registry.h"
#include "models/toto/config.h"
#include "models/toto/weights.h"
#include "runtime/executor_factory.h"
#include "test_util.h"
#include "tools/compile_flags.h"

namespace fcast {
namespace {

using test::error_of;
using test::expect_contains;

// 2^31 - 1, 2^63 - 1 and 2^64 - 1 as JSON integers (the last parses as unsigned).
const int64_t kI32Max = std::numeric_limits<int32_t>::max();
const int64_t kI64Max = std::numeric_limits<int64_t>::max();
const uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

nlohmann::json toto_json() { return nlohmann::json(toto::toto_preset("tiny").to_json()); }
nlohmann::json kronos_predictor_json() { return nlohmann::json(kronos::kronos_predictor_preset("kronos-tiny").to_json()); }
nlohmann::json kronos_tokenizer_json() {
  return nlohmann::json(kronos::kronos_tokenizer_preset("kronos-tokenizer-tiny").to_json());
}

std::string toto_error(const nlohmann::json& j) { return error_of([&] { toto::TotoConfig::from_json(j, "cfg.json"); }); }
std::string predictor_error(const nlohmann::json& j) {
  return error_of([&] { kronos::KronosPredictorConfig::from_json(j, "cfg.json"); });
}
std::string tokenizer_error(const nlohmann::json& j) {
  return error_of([&] { kronos::KronosTokenizerConfig::from_json(j, "cfg.json"); });
}

void set_config(const std::string& dir, const nlohmann::json& j) {
  test::spit((std::filesystem::path(dir) / "config.json").string(), j.dump(2));
}

// ------------------------------------------------------------------ Toto config

TEST(ConfigLimits, TotoLayerCountIsCapped) {
  nlohmann::json j = toto_json();
  j["num_layers"] = 999999999;  // a multiple of spacewise_every_n_layers (3): passes that rule
  expect_contains(toto_error(j), {"cfg.json", "num_layers = 999999999", "at most 1024"});
  for (int64_t n : {kI32Max, kI64Max}) {
    j["num_layers"] = n;
    expect_contains(toto_error(j), {"num_layers", "at most 1024"});
  }
}

TEST(ConfigLimits, TotoWidthsAreCappedBeforeShapesOverflow) {
  for (const char* key : {"mlp_hidden_dim", "embed_dim", "num_heads", "patch_size"}) {
    nlohmann::json j = toto_json();
    j[key] = kI64Max;
    if (std::string(key) == "patch_size") j["stride"] = kI64Max;
    const std::string e = toto_error(j);
    expect_contains(e, {key, "9223372036854775807", "at most"});
    EXPECT_EQ(e.find("expected ["), std::string::npos) << e;
  }
  nlohmann::json j = toto_json();
  j["output_distribution_kwargs"]["k_components"] = kI64Max;
  expect_contains(toto_error(j), {"k_components", "at most"});
}

TEST(ConfigLimits, TotoIntegersThatDoNotFitInt64AreErrors) {
  nlohmann::json j = toto_json();
  j["spacewise_every_n_layers"] = kU64Max;  // was read as -1 ("no space-wise layer") without a word
  expect_contains(toto_error(j), {"spacewise_every_n_layers", "18446744073709551615", "does not fit"});
  j = toto_json();
  j["num_layers"] = kU64Max;
  expect_contains(toto_error(j), {"num_layers", "does not fit"});
  j = toto_json();
  j["spacewise_every_n_layers"] = -2;
  expect_contains(toto_error(j), {"spacewise_every_n_layers"});
}

TEST(ConfigLimits, TotoRealKeys) {
  for (double e : {0.0, -1.0, -10.0}) {
    nlohmann::json j = toto_json();
    j["scale_factor_exponent"] = e;
    expect_contains(toto_error(j), {"scale_factor_exponent", "> 0"});
  }
  nlohmann::json j = toto_json();
  j["scale_factor_exponent"] = std::numeric_limits<double>::infinity();
  expect_contains(toto_error(j), {"scale_factor_exponent", "finite"});
  j["scale_factor_exponent"] = 0.5;
  EXPECT_EQ(toto::TotoConfig::from_json(j, "cfg").scale_factor_exponent, 0.5);
  for (double p : {-0.1, 1.0, 7.0}) {
    j = toto_json();
    j["dropout"] = p;
    expect_contains(toto_error(j), {"dropout", "[0, 1)"});
  }
  j = toto_json();
  j["scale_factor_exponent"] = "10";
  expect_contains(toto_error(j), {"scale_factor_exponent"});
}

TEST(ConfigLimits, TotoLayerCountMustMatchTheCheckpoint) {
  test::TempDir tmp("config_limits_toto");
  const std::string dir = tmp.sub("tiny");
  toto::write_random_toto(toto::toto_preset("tiny"), 1, dir);
  nlohmann::json j = toto_json();
  j["num_layers"] = 999;  // within the cap, a multiple of 3: only the checkpoint can refuse it
  set_config(dir, j);
  expect_contains(error_of([&] { toto::load_toto(dir); }),
                  {"config.json", "num_layers = 999", "holds 3 layer(s)", "does not belong to this checkpoint"});
  j["num_layers"] = 3;
  set_config(dir, j);
  EXPECT_EQ(toto::load_toto(dir).layers.size(), 3u);
}

// ------------------------------------------------------------------ Kronos configs

TEST(ConfigLimits, KronosLayerCountsAreCapped) {
  for (int64_t n : {int64_t{1000000000}, kI32Max, kI64Max}) {
    nlohmann::json p = kronos_predictor_json();
    p["n_layers"] = n;
    expect_contains(predictor_error(p), {"cfg.json", ("n_layers = " + std::to_string(n)).c_str(), "1024"});
    for (const char* key : {"n_enc_layers", "n_dec_layers"}) {
      nlohmann::json t = kronos_tokenizer_json();
      t[key] = n;
      expect_contains(tokenizer_error(t), {key, std::to_string(n).c_str(), "1025"});
    }
  }
  nlohmann::json p = kronos_predictor_json();
  p["n_layers"] = kU64Max;
  expect_contains(predictor_error(p), {"n_layers", "18446744073709551615", "does not fit"});
  nlohmann::json t = kronos_tokenizer_json();
  t["n_enc_layers"] = kU64Max;
  expect_contains(tokenizer_error(t), {"n_enc_layers", "does not fit"});
}

TEST(ConfigLimits, KronosWidthsAreCapped) {
  for (const char* key : {"d_model", "ff_dim", "n_heads"}) {
    nlohmann::json p = kronos_predictor_json();
    p[key] = kI64Max;
    expect_contains(predictor_error(p), {key, "9223372036854775807"});
    nlohmann::json t = kronos_tokenizer_json();
    t[key] = kI64Max;
    expect_contains(tokenizer_error(t), {key, "9223372036854775807"});
  }
}

TEST(ConfigLimits, KronosRealKeysMustBeFinite) {
  for (const char* key : {"beta", "gamma0", "gamma", "zeta", "ffn_dropout_p"}) {
    nlohmann::json t = kronos_tokenizer_json();
    t[key] = std::numeric_limits<double>::infinity();
    expect_contains(tokenizer_error(t), {key, "finite"});
  }
  nlohmann::json p = kronos_predictor_json();
  p["token_dropout_p"] = std::nan("");
  expect_contains(predictor_error(p), {"token_dropout_p"});
}

TEST(ConfigLimits, KronosBlockCountsMustMatchTheCheckpoint) {
  test::TempDir tmp("config_limits_kronos");
  const std::string pdir = tmp.sub("predictor"), tdir = tmp.sub("tokenizer");
  kronos::write_random_kronos_predictor(kronos::kronos_predictor_preset("kronos-tiny"), 1, pdir);
  kronos::write_random_kronos_tokenizer(kronos::kronos_tokenizer_preset("kronos-tokenizer-tiny"), 2, tdir);
  nlohmann::json p = kronos_predictor_json();
  p["n_layers"] = 1000;
  set_config(pdir, p);
  expect_contains(error_of([&] { kronos::load_kronos_predictor(pdir); }),
                  {"n_layers = 1000", "holds 2", "does not belong to this checkpoint"});
  nlohmann::json t = kronos_tokenizer_json();
  t["n_dec_layers"] = 1000;
  set_config(tdir, t);
  expect_contains(error_of([&] { kronos::load_kronos_tokenizer(tdir); }),
                  {"n_dec_layers = 1000", "999 block(s)", "holds 2", "decoder."});
}

TEST(ConfigLimits, CheckedArithmetic) {
  EXPECT_EQ(checked_mul(3, 4, "x"), 12);
  expect_contains(error_of([] { checked_mul(2, kI64Max, "2 * mlp_hidden_dim"); }), {"2 * mlp_hidden_dim", "overflows"});
  expect_contains(error_of([] { checked_add(kI64Max, 1, "n + 1"); }), {"n + 1", "overflows"});
}

// ------------------------------------------------------------------ request caps

TEST(ForecastLimitsTest, CapsNameTheCapAndHowToRaiseIt) {
  ForecastLimits l;
  EXPECT_NO_THROW(check_forecast_limits(l, "--prediction-length", l.max_horizon, "--num-samples", l.max_samples));
  expect_contains(error_of([&] { check_forecast_limits(l, "--prediction-length", 10000000, "--num-samples", 1); }),
                  {"--prediction-length 10000000", "horizon cap of 4096", "--max-horizon", "FCAST_MAX_HORIZON"});
  expect_contains(error_of([&] { check_forecast_limits(l, "--prediction-length", 1, "--num-samples", 100000000); }),
                  {"--num-samples 100000000", "sample cap of 4096", "--max-samples", "FCAST_MAX_SAMPLES"});
  l.max_horizon = 20000000;
  EXPECT_NO_THROW(check_forecast_limits(l, "h", 10000000, "s", 1));
  l.max_samples = 0;
  expect_contains(error_of([&] { check_forecast_limits(l, "h", 1, "s", 1); }), {"caps must be positive"});
}

TEST(ForecastLimitsTest, CheckRequestAppliesTheRequestsCaps) {
  ForecastRequest r;
  SeriesInput s;
  s.values = {{1.0, 2.0, 3.0}};
  r.series.push_back(s);
  r.horizon = 5000;
  const ModelEntry& e = find_model("toto");
  expect_contains(error_of([&] { check_request(r, e, 1 << 16); }),
                  {"toto: horizon 5000", "horizon cap of 4096", "limits.max_horizon"});
  r.limits.max_horizon = 5000;
  EXPECT_NO_THROW(check_request(r, e, 1 << 16));
  r.num_samples = 5000;
  expect_contains(error_of([&] { check_request(r, e, 1 << 16); }), {"toto: num_samples 5000", "sample cap"});
  r.limits.max_samples = 5000;
  EXPECT_NO_THROW(check_request(r, e, 1 << 16));
  expect_contains(error_of([&] { check_request(r, e, 4999); }), {"horizon 5000", "toto's limit of 4999"});
}

TEST(ForecastLimitsTest, FlagsWinOverEnvironment) {
  Environment env{{{"FCAST_MAX_HORIZON", "100"}, {"FCAST_MAX_SAMPLES", " 7 "}}};
  tools::LimitCliValues cli;
  ForecastLimits l = tools::resolve_limits(env, cli);
  EXPECT_EQ(l.max_horizon, 100);
  EXPECT_EQ(l.max_samples, 7);
  cli.max_horizon = "200";
  EXPECT_EQ(tools::resolve_limits(env, cli).max_horizon, 200);
  EXPECT_EQ(tools::resolve_limits(Environment{}, {}).max_horizon, ForecastLimits{}.max_horizon);
  expect_contains(error_of([] { tools::resolve_limits(Environment{{{"FCAST_MAX_HORIZON", "lots"}}}, {}); }),
                  {"FCAST_MAX_HORIZON='lots'", "valid values"});
  expect_contains(error_of([] { tools::resolve_limits(Environment{{{"FCAST_MAX_SAMPLES", "0"}}}, {}); }),
                  {"FCAST_MAX_SAMPLES='0'"});
  tools::LimitCliValues bad;
  bad.max_samples = "-5";
  expect_contains(error_of([&] { tools::resolve_limits(Environment{}, bad); }), {"--max-samples '-5'"});
}

// ------------------------------------------------------------------ golden executor spec

TEST(GoldenExecutorSpec, BadSpecNamesWhereItCameFrom) {
  EXPECT_FALSE(parse_executor_spec("", "x").has_value());
  EXPECT_FALSE(parse_executor_spec("eager", "x").has_value());
  const auto s = parse_executor_spec("inductor:reduce-overhead:bf16", "x");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->precision, Precision::BF16);
  EXPECT_EQ(s->mode, CompileMode::ReduceOverhead);
  expect_contains(error_of([] { parse_executor_spec("bogus", env_quote("FCAST_GOLDEN_EXECUTOR", "bogus")); }),
                  {"FCAST_GOLDEN_EXECUTOR='bogus'", "eager, inductor, aot_eager"});
  expect_contains(error_of([] { parse_executor_spec("inductor:fast", "--compile 'inductor:fast'"); }),
                  {"--compile 'inductor:fast'", "'fast'"});
}

}  // namespace
}  // namespace fcast

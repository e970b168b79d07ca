// Toto 2.0 (src/models/toto2): config parsing and detection, the strict loader (single file and
// sharded index), the rotary kernel against the formula, the forecaster's batching and options
// through the registry session, quantile interpolation, bf16 against fp32, and `fcast predict
// toto2` on a bundled CSV from a checkpoint written by `fcast init-model`.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "io/json.h"
#include "io/safetensors.h"
#include "models/registry.h"
#include "models/toto2/session.h"
#include "ops/reference/kernels.h"
#include "runtime/executor_factory.h"
#include "test_util.h"

using namespace fcast;
using namespace fcast::toto2;

using test::error_of;

namespace {

std::string golden(const std::string& rel) { return test::test_data("golden/toto2/" + rel); }

CompileSettings eager() {
  CompileSettings s;
  s.enabled = false;
  return s;
}

// A request of `n` random-walk series (one variate each), `T` steps.
ForecastRequest walks(int n, int64_t T, int64_t horizon, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  ForecastRequest r;
  for (int k = 0; k < n; ++k) {
    SeriesInput s;
    s.id = cat("s", k);
    std::vector<double> x(static_cast<size_t>(T));
    double v = 100.0 + 10.0 * k;
    for (auto& e : x) e = v += d(rng);
    s.values.push_back(x);
    r.series.push_back(s);
  }
  r.horizon = horizon;
  r.quantiles = {0.1, 0.5, 0.9};
  return r;
}

}  // namespace

TEST(Toto2Config, ParsesTheGoldenConfigsAndDerivesDefaults) {
  const Toto2Config a = Toto2Config::from_file(golden("models/tiny_a/config.json"));
  EXPECT_EQ(a.d_model, 64);
  EXPECT_EQ(a.ff(), 176);
  EXPECT_EQ(a.rotary_dims(), 8);
  const std::vector<bool> va = a.variate_layers();
  EXPECT_EQ(va, (std::vector<bool>{false, false, false, true}));
  const Toto2Config b = Toto2Config::from_file(golden("models/tiny_b/config.json"));
  EXPECT_EQ(b.variate_layers(), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(b.groups(), 2);
  EXPECT_EQ(b.dv(), 8);
  // Nulls derive: d_ff from the width, qk_dim from the heads.
  nlohmann::json j = read_json_file(golden("models/tiny_a/config.json"));
  j["d_ff"] = nullptr;
  j["qk_dim"] = 0;
  j["unknown_key"] = "ignored, as the reference ignores it";
  const Toto2Config c = Toto2Config::from_json(j, "test");
  EXPECT_EQ(c.ff(), 176);
  EXPECT_EQ(c.dk(), 16);
  // The released 4m shape has exactly its published parameter count.
  EXPECT_EQ(toto2_preset("4m").parameter_count(), 4144448);
  EXPECT_EQ(a.parameter_count(), 291808);
  EXPECT_EQ(b.parameter_count(), 115296);
}

TEST(Toto2Config, BadConfigsGetErrorsNamingTheKey) {
  nlohmann::json j = read_json_file(golden("models/tiny_a/config.json"));
  auto with = [&](const char* key, nlohmann::json v) {
    nlohmann::json k = j;
    k[key] = v;
    return error_of([&] { Toto2Config::from_json(k, "cfg.json"); });
  };
  EXPECT_NE(with("num_heads", 5).find("num_heads"), std::string::npos);
  EXPECT_NE(with("dropout_p", 0.1).find("dropout_p"), std::string::npos);
  EXPECT_NE(with("num_output_patches", 2).find("num_output_patches"), std::string::npos);
  EXPECT_NE(with("patch_size", "16").find("patch_size"), std::string::npos);
  EXPECT_NE(with("residual_attn_ratio", nullptr).find("residual_attn_ratio"), std::string::npos);
  nlohmann::json t1 = {{"patch_size", 64}, {"embed_dim", 768}};
  const std::string e = error_of([&] { Toto2Config::from_json(t1, "toto1.json"); });
  EXPECT_NE(e.find("Toto 1.0"), std::string::npos) << e;
}

TEST(Toto2Registry, DetectsToto2FoldersAndTellsThemFromToto1) {
  std::string part;
  EXPECT_EQ(detect_model(golden("models/tiny_a"), &part).name, "toto2");
  EXPECT_EQ(detect_model(test::test_data("golden/toto/models/tiny_a"), &part).name, "toto");
  const ModelEntry& e = find_model("toto2");
  EXPECT_FALSE(e.draws_samples);
  EXPECT_TRUE(e.golden_accepts && e.golden_accepts(read_json_file(golden("manifest.json"))));
  EXPECT_FALSE(find_model("toto").golden_accepts(read_json_file(golden("manifest.json"))));
  EXPECT_FALSE(e.golden_accepts(read_json_file(test::test_data("golden/toto/manifest.json"))));
  // A Toto 1.0 folder given to toto2 says what it is.
  const std::string err = error_of([&] { e.load({{"model", test::test_data("golden/toto/models/tiny_a")}}, eager()); });
  EXPECT_NE(err.find("toto"), std::string::npos) << err;
}

TEST(Toto2Loader, StrictAboutTensorsAndReadsShardedIndexes) {
  test::TempDir tmp("toto2_loader");
  const SafetensorsFile f = SafetensorsFile::open(golden("models/tiny_a/model.safetensors"));
  std::vector<std::pair<std::string, Tensor>> first, second;
  nlohmann::json map = nlohmann::json::object();
  size_t i = 0;
  for (const TensorInfo& info : f.tensors()) {
    const bool one = i++ % 2 == 0;
    (one ? first : second).emplace_back(info.name, f.get(info.name).clone());
    map[info.name] = one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  const std::string dir = tmp.sub("sharded");
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(golden("models/tiny_a/config.json"), dir + "/config.json");
  write_safetensors(dir + "/model-00001-of-00002.safetensors", first);
  write_safetensors(dir + "/model-00002-of-00002.safetensors", second);
  test::spit(dir + "/model.safetensors.index.json", nlohmann::json{{"weight_map", map}}.dump());
  const Toto2Weights a = load_toto2(golden("models/tiny_a")), b = load_toto2(dir);
  EXPECT_EQ(a.identity, b.identity);
  ForecastRequest r = walks(2, 96, 20, 3);
  auto ma = find_model("toto2").load({{"model", golden("models/tiny_a")}}, eager());
  auto mb = find_model("toto2").load({{"model", dir}}, eager());
  const ForecastResult ra = ma->new_session()->forecast(r), rb = mb->new_session()->forecast(r);
  EXPECT_EQ(ra.series[1].quantiles, rb.series[1].quantiles);

  // A missing tensor and an extra one are named.
  const std::string bad = tmp.sub("bad");
  std::filesystem::create_directories(bad);
  std::filesystem::copy_file(golden("models/tiny_a/config.json"), bad + "/config.json");
  std::vector<std::pair<std::string, Tensor>> all;
  for (const TensorInfo& info : f.tensors())
    if (info.name != "patch_proj.linear1.bias") all.emplace_back(info.name, f.get(info.name).clone());
  write_safetensors(bad + "/model.safetensors", all);
  std::string e = error_of([&] { load_toto2(bad); });
  EXPECT_NE(e.find("'patch_proj.linear1.bias' is missing"), std::string::npos) << e;
  all.emplace_back("patch_proj.linear1.bias", f.get("patch_proj.linear1.bias").clone());
  all.emplace_back("model.extra.weight", f.get("patch_proj.linear1.bias").clone());
  write_safetensors(bad + "/model.safetensors", all);
  e = error_of([&] { load_toto2(bad); });
  EXPECT_NE(e.find("unexpected tensor 'model.extra.weight'"), std::string::npos) << e;
  // A tensor of the wrong shape names itself and both shapes.
  all.pop_back();
  for (auto& [name, t] : all)
    if (name == "patch_proj.linear1.bias") t = Tensor::zeros(DType::F32, {t.dim(0) + 1});
  write_safetensors(bad + "/model.safetensors", all);
  e = error_of([&] { load_toto2(bad); });
  EXPECT_NE(e.find("'patch_proj.linear1.bias' has shape"), std::string::npos) << e;
  e = error_of([&] { load_toto2(tmp.sub("absent")); });
  EXPECT_NE(e.find("not a folder"), std::string::npos) << e;
}

// The rotary kernel against the formula written out in double precision: interleaved pairs on
// the first `rot` dims, xPos factor with base (2i + 0.4 rot) / (1.4 rot), scale base 256, centre
// floor((pos0 + S) / 2). Tolerance 1e-5 relative (float32 tables and products).
TEST(Toto2Kernels, RotaryPartialMatchesTheFormula) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int64_t N = 2, S = 9, H = 3, Dh = 16, rot = 8, D = H * Dh;
  std::vector<float> x(N * S * D), y(N * S * D);
  for (auto& e : x) e = d(rng);
  for (int64_t pos0 : {0, 37})
    for (bool key : {false, true})
      for (float base : {0.0f, 256.0f}) {
        ref::rotary_partial(x.data(), D, y.data(), N, S, H, Dh, rot, pos0, base, key);
        const int64_t centre = (pos0 + S) / 2;
        double worst = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t s = 0; s < S; ++s)
            for (int64_t h = 0; h < H; ++h) {
              const float* t = x.data() + (n * S + s) * D + h * Dh;
              const float* o = y.data() + (n * S + s) * D + h * Dh;
              const double pos = static_cast<double>(pos0 + s);
              for (int64_t i = 0; i < rot / 2; ++i) {
                const double ang = pos / std::pow(10000.0, 2.0 * i / rot);
                double f = 1.0;
                if (base > 0) {
                  f = std::pow((2.0 * i + 0.4 * rot) / (1.4 * rot), (pos - centre) / 256.0);
                  if (key) f = 1.0 / f;
                }
                const double a = t[2 * i], b = t[2 * i + 1];
                const double e0 = (a * std::cos(ang) - b * std::sin(ang)) * f, e1 = (b * std::cos(ang) + a * std::sin(ang)) * f;
                worst = std::max({worst, std::fabs(o[2 * i] - e0) / (std::fabs(e0) + 1), std::fabs(o[2 * i + 1] - e1) / (std::fabs(e1) + 1)});
              }
              for (int64_t k = rot; k < Dh; ++k) EXPECT_EQ(o[k], t[k]);
            }
        EXPECT_LE(worst, 1e-5) << "pos0 " << pos0 << (key ? " key" : " query") << (base > 0 ? " xPos" : "");
      }
}

TEST(Toto2Quantiles, InterpolationIsExactAtTheModelLevelsAndMonotone) {
  const float q[9] = {1, 2, 4, 4, 5, 7, 8, 8.5f, 10};
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(interpolate_quantile(q, 0.1 * (i + 1)), q[i]);
  EXPECT_FLOAT_EQ(interpolate_quantile(q, 0.15), 1.5f);
  float prev = -1e30f;
  for (double l = 0.0; l <= 1.0 + 1e-9; l += 0.01) {
    const float v = interpolate_quantile(q, l);
    EXPECT_GE(v, prev) << l;
    prev = v;
  }
  EXPECT_FLOAT_EQ(interpolate_quantile(q, 0.0), 0.0f);   // the first segment's slope continued
  EXPECT_FLOAT_EQ(interpolate_quantile(q, 1.0), 11.5f);  // the last segment's slope continued
}

TEST(Toto2Session, BatchedSeriesGetTheirAloneNumbersAndOptionsAreChecked) {
  auto m = find_model("toto2").load({{"model", golden("models/tiny_a")}}, eager());
  auto s = m->new_session();
  ForecastRequest r = walks(3, 100, 37, 5);  // 100 steps: left-padded to 112 (7 patches of 16)
  r.series[2].values[0].resize(80);          // another length: its own batch
  const ForecastResult all = s->forecast(r);
  for (size_t k = 0; k < r.series.size(); ++k) {
    ForecastRequest one = r;
    one.series = {r.series[k]};
    const ForecastResult alone = s->forecast(one);
    EXPECT_EQ(alone.series[0].quantiles, all.series[k].quantiles) << k;
    EXPECT_EQ(alone.series[0].median, all.series[k].median) << k;
  }
  const SeriesForecast& f = all.series[0];
  for (size_t h = 0; h < 37; ++h) {
    EXPECT_LE(f.quantiles[0][0][h], f.quantiles[1][0][h]);
    EXPECT_LE(f.quantiles[1][0][h], f.quantiles[2][0][h]);
    EXPECT_EQ(f.median[0][h], f.quantiles[1][0][h]);
    EXPECT_TRUE(f.samples.empty());
  }
  EXPECT_EQ(all.metadata.at("point_forecast"), "median");

  ForecastRequest bad = r;
  bad.num_samples = 16;
  EXPECT_NE(error_of([&] { s->forecast(bad); }).find("num_samples 0"), std::string::npos);
  bad = r;
  bad.options["decode_block_size"] = "20";
  EXPECT_NE(error_of([&] { s->forecast(bad); }).find("multiple of the patch size 16"), std::string::npos);
  bad = r;
  bad.options["has_missing_values"] = "maybe";
  EXPECT_NE(error_of([&] { s->forecast(bad); }).find("has_missing_values"), std::string::npos);
  bad = r;
  bad.series[0].values[0].resize(10);
  EXPECT_NE(error_of([&] { s->forecast(bad); }).find("at least one patch"), std::string::npos);

  // max_context keeps the last steps: a long series cut to 64 equals its last 64 steps.
  ForecastRequest cut = r;
  cut.series = {r.series[0]};
  cut.options["max_context"] = "64";
  ForecastRequest last = cut;
  last.series[0].values[0].erase(last.series[0].values[0].begin(), last.series[0].values[0].end() - 64);
  EXPECT_EQ(s->forecast(cut).series[0].quantiles, s->forecast(last).series[0].quantiles);

  // Block decoding runs (a different computation, by design) and keeps the quantiles ordered.
  ForecastRequest blk = r;
  blk.options["decode_block_size"] = "16";
  const ForecastResult rb = s->forecast(blk);
  for (size_t h = 0; h < 37; ++h) EXPECT_LE(rb.series[0].quantiles[0][0][h], rb.series[0].quantiles[2][0][h]);
}

// bf16 plans against fp32 plans on the golden single-pass cases: the quantiles stay within
// 0.01 (|fp32| + 1) (bf16 keeps 8 bits of mantissa; the head's sinh amplifies its errors; measured
// 1.8e-3 and 1.0e-3 on the two checkpoints).
TEST(Toto2Precision, Bf16QuantilesStayCloseToFp32) {
  const double kTol = 0.01;
  for (const char* model : {"tiny_a", "tiny_b"}) {
    CompileSettings f32 = parse_executor_spec("inductor", "test").value();
    CompileSettings bf = parse_executor_spec("inductor:bf16", "test").value();
    f32.persistent_cache = bf.persistent_cache = false;
    auto m32 = find_model("toto2").load({{"model", golden(cat("models/", model))}}, f32);
    auto m16 = find_model("toto2").load({{"model", golden(cat("models/", model))}}, bf);
    ForecastRequest r = walks(4, 96, 40, 9);
    r.quantiles = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
    const ForecastResult a = m32->new_session()->forecast(r), b = m16->new_session()->forecast(r);
    double worst = 0;
    for (size_t k = 0; k < r.series.size(); ++k)
      for (size_t q = 0; q < 9; ++q)
        for (size_t h = 0; h < 40; ++h) {
          const double x = a.series[k].quantiles[q][0][h], y = b.series[k].quantiles[q][0][h];
          worst = std::max(worst, std::fabs(x - y) / (std::fabs(x) + 1));
        }
    EXPECT_LE(worst, kTol) << model;
    EXPECT_GT(worst, 0.0) << model << ": bf16 gave exactly the fp32 numbers (did it run bf16?)";
    std::cout << model << ": bf16 vs fp32 worst |diff|/(|fp32|+1) = " << worst << "\n";
  }
}

TEST(Toto2Cli, InitModelThenPredictABundledCsv) {
  test::TempDir tmp("toto2_cli");
  const std::string bin = test::fcast_binary();
  const std::string model = tmp.sub("m");
  auto r = test::run_command(cat(bin, " init-model toto2 --preset tiny --out ", model), tmp.sub("o1"), tmp.sub("e1"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string out = tmp.sub("f.csv");
  r = test::run_command(cat(bin, " predict toto2 -m ", model, " -i ", test::test_data("market/stocks5_daily.csv"),
                            " --symbol all -n 10 --quantiles 0.05,0.5,0.95 -o ", out, " -q"),
                        tmp.sub("o2"), tmp.sub("e2"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string csv = test::slurp(out);
  const auto lines = test::split(csv, '\n');
  ASSERT_GT(lines.size(), 40u) << csv;
  EXPECT_NE(lines[0].find("q0.05"), std::string::npos) << lines[0];
  // Samples are not available: asking for them is a clear error, not empty output.
  r = test::run_command(cat(bin, " predict toto2 -m ", model, " -i ", test::test_data("market/stocks5_daily.csv"),
                            " --symbol all -n 10 --num-samples 64 -q"),
                        tmp.sub("o3"), tmp.sub("e3"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("samples"), std::string::npos) << r.err;
}

// Compiled executors pad contexts to their bucket with unobserved steps: every length of a
// bucket shares one plan, and the forecast equals the unpadded (eager) one up to float32
// round-off (padding patches carry group id -1; rotary scores are relative).
TEST(Toto2Session, ContextBucketsShareAPlanAndKeepTheNumbers) {
  CompileSettings compiled = parse_executor_spec("inductor", "test").value();
  compiled.persistent_cache = false;
  compiled.context_buckets = {256, 512};
  auto mc = find_model("toto2").load({{"model", golden("models/tiny_a")}}, compiled);
  auto me = find_model("toto2").load({{"model", golden("models/tiny_a")}}, eager());
  auto sc = mc->new_session();
  auto se = me->new_session();
  for (int64_t T : {100, 200, 250}) {
    ForecastRequest r = walks(2, T, 20, static_cast<uint64_t>(T));
    const ForecastResult a = sc->forecast(r), b = se->forecast(r);
    double worst = 0;
    for (size_t k = 0; k < 2; ++k)
      for (size_t q = 0; q < r.quantiles.size(); ++q)
        for (size_t h = 0; h < 20; ++h) {
          const double x = a.series[k].quantiles[q][0][h], y = b.series[k].quantiles[q][0][h];
          worst = std::max(worst, std::fabs(x - y) / (std::fabs(y) + 1));
        }
    EXPECT_LE(worst, 1e-4) << "context " << T;
  }
  EXPECT_EQ(sc->stats().plans_built, 1) << "contexts 100, 200 and 250 share the 256 bucket's plan";
  EXPECT_EQ(bucketed_length(112, {256, 512}, 16), 256);
  EXPECT_EQ(bucketed_length(600, {256, 512}, 16), 1024);
  EXPECT_EQ(bucketed_length(112, {}, 16), 112);
}

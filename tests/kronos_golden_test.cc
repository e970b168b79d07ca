// The Kronos golden folder through the library runner: every case passes with the KV cache
// and with the reference's full recomputation; cases are driven by manifest fields (a renamed,
// re-filed case still runs), and a case that cannot run is a failure, never a skip.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/json.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "models/kronos/golden_runner.h"
#include "test_util.h"

namespace fcast::kronos {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = std::string(FCAST_TEST_DATA) + "/golden/kronos";

void expect_all_pass(const std::vector<GoldenCaseResult>& rs, size_t n) {
  EXPECT_EQ(rs.size(), n);
  for (auto& r : rs) EXPECT_TRUE(r.passed) << r.line();
}

TEST(KronosGolden, EveryCasePassesWithTheKvCache) {
  const auto m = read_json_file(kGolden + "/manifest.json");
  expect_all_pass(run_kronos_golden_cases(kGolden, m), m["cases"].size());
}

TEST(KronosGolden, EveryPredictCasePassesWithFullRecompute) {
  auto m = read_json_file(kGolden + "/manifest.json");
  nlohmann::json keep = nlohmann::json::array();
  for (auto& c : m["cases"])
    if (c["kind"] == "predict" || c["kind"] == "predict_batch") keep.push_back(c);
  m["cases"] = keep;
  GoldenOptions o;
  o.use_kv_cache = false;
  o.statistical = false;  // covered above; this run is about the generation path
  expect_all_pass(run_kronos_golden_cases(kGolden, m, o), keep.size());
}

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("kronos_golden") {}
};

TEST(KronosGolden, CasesAreDrivenByTheManifestNotByFileNames) {
  // A copy of the folder where cases have new names and files: the runner must not care.
  TempDir tmp;
  fs::copy(kGolden + "/models", tmp.path / "models", fs::copy_options::recursive);
  fs::copy(kGolden + "/data", tmp.path / "data", fs::copy_options::recursive);
  fs::copy_file(kGolden + "/tolerances.json", tmp.path / "tolerances.json");
  fs::create_directories(tmp.path / "other");
  auto m = read_json_file(kGolden + "/manifest.json");
  nlohmann::json cases = nlohmann::json::array();
  int k = 0;
  for (auto c : m["cases"]) {
    const std::string name = c["name"];
    if (name != "greedy_tiny_c64_p24_mc80" && name != "sample_tiny_T07_k5_p09_n8_c64_p8" && name != "tok_small10_b2_t128" &&
        name != "batch_tiny_3series_c64_p8_n2")
      continue;
    const std::string file = "other/case" + std::to_string(k) + ".st";
    fs::copy_file(kGolden + "/" + c["file"].get<std::string>(), tmp.path / file);
    c["file"] = file;
    c["name"] = "renamed_" + std::to_string(k);
    if (c.contains("csv")) {
      nlohmann::json csvs = nlohmann::json::array();
      int j = 0;
      for (auto& p : c["csv"]) {
        const std::string f = "other/frame" + std::to_string(k) + "_" + std::to_string(j++) + ".csv";
        fs::copy_file(kGolden + "/" + p.get<std::string>(), tmp.path / f);
        csvs.push_back(f);
      }
      c["csv"] = csvs;
    }
    cases.push_back(c);
    ++k;
  }
  ASSERT_EQ(cases.size(), 4u);
  // Cases that cannot run are failures: unknown kind, missing file, a lying manifest.
  nlohmann::json bad_kind = cases[0];
  bad_kind["name"] = "bad_kind";
  bad_kind["kind"] = "predict_quantiles";
  nlohmann::json no_file = cases[0];
  no_file["name"] = "no_file";
  no_file["file"] = "other/absent.safetensors";
  nlohmann::json wrong_len;
  for (auto& c : cases)
    if (c["kind"] == "predict") wrong_len = c;
  ASSERT_TRUE(wrong_len.is_object());
  wrong_len["name"] = "wrong_pred_len";
  wrong_len["args"]["pred_len"] = 20;  // the stored tensors hold 24 steps
  nlohmann::json no_model = cases[0];
  no_model["name"] = "no_model";
  no_model["models"] = "huge";
  cases.push_back(bad_kind);
  cases.push_back(no_file);
  cases.push_back(wrong_len);
  cases.push_back(no_model);
  m["cases"] = cases;
  GoldenOptions o;
  o.chi_square_draws = 5000;
  auto rs = run_kronos_golden_cases(tmp.path.string(), m, o);
  ASSERT_EQ(rs.size(), 8u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(rs[i].passed) << rs[i].line();
  for (int i = 4; i < 8; ++i) EXPECT_FALSE(rs[i].passed) << rs[i].name << " should fail";
  EXPECT_NE(rs[4].line().find("unknown case kind"), std::string::npos) << rs[4].line();
  EXPECT_NE(rs[5].line().find("could not run"), std::string::npos) << rs[5].line();
  EXPECT_NE(rs[7].line().find("no model pair 'huge'"), std::string::npos) << rs[7].line();
}

TEST(KronosGolden, ADifferentOutputIsCaught) {
  // Perturb one stored logit beyond the tolerance: the case must fail and name the tensor.
  TempDir tmp;
  fs::copy(kGolden + "/models", tmp.path / "models", fs::copy_options::recursive);
  fs::copy(kGolden + "/data", tmp.path / "data", fs::copy_options::recursive);
  fs::copy_file(kGolden + "/tolerances.json", tmp.path / "tolerances.json");
  auto m = read_json_file(kGolden + "/manifest.json");
  nlohmann::json c;
  for (auto& x : m["cases"])
    if (x["name"] == "greedy_tiny_c64_p8_mc128") c = x;
  SafetensorsFile f = SafetensorsFile::open(kGolden + "/" + c["file"].get<std::string>());
  std::vector<std::pair<std::string, Tensor>> ts;
  for (auto& info : f.tensors()) {
    Tensor t = f.get(info.name).clone();
    if (info.name == "step_s1_logits") t.data<float>()[37] += 1e-4f;
    ts.emplace_back(info.name, t);
  }
  write_safetensors((tmp.path / "perturbed.safetensors").string(), ts);
  c["file"] = "perturbed.safetensors";
  c.erase("csv");
  m["cases"] = nlohmann::json::array({c});
  auto rs = run_kronos_golden_cases(tmp.path.string(), m);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_FALSE(rs[0].passed);
  EXPECT_NE(rs[0].line().find("step_s1_logits"), std::string::npos) << rs[0].line();
}

TEST(KronosGolden, TolerancesComeFromTheStructuredFileOnly) {
  // No tolerances.json, a missing field or a non-number: an error before any case runs, never a
  // built-in default.
  TempDir tmp;
  auto m = read_json_file(kGolden + "/manifest.json");
  const auto error_of = [&] {
    try {
      run_kronos_golden_cases(tmp.path.string(), m);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  std::string err = error_of();
  EXPECT_NE(err.find("tolerances.json: not found"), std::string::npos) << err;
  const nlohmann::json good = read_json_file(kGolden + "/tolerances.json");
  const auto write = [&](const nlohmann::json& j) { write_file_atomic((tmp.path / "tolerances.json").string(), j.dump()); };
  nlohmann::json j = good;
  j.erase("logits_atol");
  write(j);
  err = error_of();
  EXPECT_NE(err.find("missing 'logits_atol'"), std::string::npos) << err;
  j = good;
  j["output_frames"]["relative"] = "1e-6";
  write(j);
  err = error_of();
  EXPECT_NE(err.find("'output_frames.relative' is \"1e-6\""), std::string::npos) << err;
  j = good;
  j["probabilities_atol"] = -1;
  write(j);
  err = error_of();
  EXPECT_NE(err.find("probabilities_atol"), std::string::npos) << err;
}

}  // namespace
}  // namespace fcast::kronos

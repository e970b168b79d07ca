// Kronos golden-vector checks: runs every case of a folder laid out like
// tests/data/golden/kronos (manifest.json + tolerances.json + models + cases + data) against
// this engine, driven only by the manifest's fields (kind, models, args, series, csv), so new
// cases with other configs, seeds or lengths run without code changes. A case that cannot run
// is a failure. Tolerances come from tolerances.json (numbers; the manifest states them in
// prose); a missing or invalid tolerance is an fcast::Error before any case runs.
// A test-and-tool harness, not part of the model library (fcast_tools).
//
//   nlohmann::json m = read_json_file(dir + "/manifest.json");
//   auto results = run_kronos_golden_cases(dir, m, {}, [](const GoldenCaseResult& r) { puts(r.line().c_str()); });
//
// Kinds: tokenizer_encode_decode, predictor_forward, predict, predict_batch. Predict cases are
// rebuilt from the input CSV and the case's series (rows, columns present), so column handling,
// normalisation and time features are tested, not just the network. Greedy cases (top_k == 1)
// run free; sampling cases teacher-force the recorded ids (deterministic checks of every
// probability table and the output) and run a chi-square test of first-step draws.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "models/kronos/model.h"
#include "models/kronos/sampling.h"
#include "runtime/executor.h"

namespace fcast::kronos {

struct GoldenOptions {
  bool use_kv_cache = true;        // false: the reference's full recomputation every step
  bool statistical = true;         // chi-square checks of sampling cases
  int64_t chi_square_draws = 20000;
  double chi_square_alpha = 1e-3;  // fail when p < alpha (fixed seed: deterministic)
  uint64_t chi_square_seed = 20240618;
  // Makes each loaded network's executor from its weights' identity; empty: golden_executor
  // (FCAST_GOLDEN_EXECUTOR).
  std::function<std::shared_ptr<Executor>(const std::string& identity)> make_executor;
};

struct GoldenCaseResult {
  std::string name, kind;
  bool passed = false;
  double worst_ratio = 0;          // largest error / tolerance over every compared tensor
  std::string worst;               // which tensor, with its error and tolerance
  std::vector<std::string> failures;
  std::vector<std::string> notes;  // e.g. chi-square statistics
  double seconds = 0;
  std::string line() const;        // one line for `fcast golden`
};

std::vector<GoldenCaseResult> run_kronos_golden_cases(const std::string& dir, const nlohmann::json& manifest,
                                                      const GoldenOptions& opt = {},
                                                      const std::function<void(const GoldenCaseResult&)>& on_case = {});

// ---- the statistical check, reusable with any sampler ----

using TokenSampler = std::function<int64_t(const float* logits, int64_t V, Rng& rng)>;

struct FirstStepDistributionCheck {
  ChiSquareResult s1, s2;          // s2: pooled over every candidate s1 that was drawn
  bool passed = false;
  std::string detail;
};

// Draws `draws` first steps: s1 ~ sampler(s1_logits), then s2 ~ sampler(s2 logits given s1)
// when s1 is one of `candidates` (s2_logits row j belongs to candidates[j]). Chi-square of the
// s1 counts against want_s1 [V1] and of the s2 counts per candidate against want_s2 [C, V2].
FirstStepDistributionCheck check_first_step_distribution(const std::vector<float>& s1_logits,
                                                         const std::vector<int64_t>& candidates,
                                                         const std::vector<float>& s2_logits,
                                                         const std::vector<float>& want_s1,
                                                         const std::vector<float>& want_s2,
                                                         const TokenSampler& sampler, int64_t draws, uint64_t seed,
                                                         double alpha);

}  // namespace fcast::kronos

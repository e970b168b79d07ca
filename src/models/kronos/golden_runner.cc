#include "models/kronos/golden_runner.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "io/csv.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "models/kronos/predictor.h"
#include "runtime/executor_factory.h"

namespace fcast::kronos {

namespace fs = std::filesystem;

std::string GoldenCaseResult::line() const {
  std::ostringstream s;
  s << (passed ? "PASS " : "FAIL ") << name << " [" << kind << "] worst " << worst_ratio << "x tol";
  if (!worst.empty()) s << " (" << worst << ")";
  s.precision(3);
  s << std::fixed << " " << seconds << "s";
  for (auto& n : notes) s << "; " << n;
  for (size_t i = 0; i < failures.size() && i < 4; ++i) s << " | " << failures[i];
  if (failures.size() > 4) s << " | ... " << failures.size() - 4 << " more";
  return s.str();
}

// ------------------------------------------------------------------ statistical check

FirstStepDistributionCheck check_first_step_distribution(const std::vector<float>& s1_logits,
                                                         const std::vector<int64_t>& candidates,
                                                         const std::vector<float>& s2_logits,
                                                         const std::vector<float>& want_s1,
                                                         const std::vector<float>& want_s2,
                                                         const TokenSampler& sampler, int64_t draws, uint64_t seed,
                                                         double alpha) {
  const int64_t V1 = static_cast<int64_t>(s1_logits.size());
  const int64_t C = static_cast<int64_t>(candidates.size());
  FCAST_CHECK(static_cast<int64_t>(want_s1.size()) == V1, "first-step s1 table has ", want_s1.size(), " entries, logits ", V1);
  const int64_t V2 = C > 0 ? static_cast<int64_t>(s2_logits.size()) / C : 0;
  FCAST_CHECK(C == 0 || (static_cast<int64_t>(s2_logits.size()) == C * V2 && static_cast<int64_t>(want_s2.size()) == C * V2),
              "first-step s2 tables do not match ", C, " candidates");
  std::map<int64_t, int64_t> row_of;
  for (int64_t j = 0; j < C; ++j) row_of[candidates[j]] = j;
  Rng rng(seed);
  std::vector<int64_t> c1(V1, 0), c2(C * V2, 0);
  for (int64_t k = 0; k < draws; ++k) {
    const int64_t a = sampler(s1_logits.data(), V1, rng);
    FCAST_CHECK(a >= 0 && a < V1, "sampler returned s1 ", a, " outside [0, ", V1, ")");
    ++c1[a];
    auto it = row_of.find(a);
    if (it == row_of.end()) continue;
    const int64_t j = it->second;
    const int64_t b = sampler(s2_logits.data() + j * V2, V2, rng);
    FCAST_CHECK(b >= 0 && b < V2, "sampler returned s2 ", b, " outside [0, ", V2, ")");
    ++c2[j * V2 + b];
  }
  FirstStepDistributionCheck out;
  out.s1 = chi_square_test(c1, std::vector<double>(want_s1.begin(), want_s1.end()));
  // s2: one test per drawn candidate, pooled (sum of statistics and degrees of freedom).
  for (int64_t j = 0; j < C; ++j) {
    std::vector<int64_t> cnt(c2.begin() + j * V2, c2.begin() + (j + 1) * V2);
    ChiSquareResult r = chi_square_test(cnt, std::vector<double>(want_s2.begin() + j * V2, want_s2.begin() + (j + 1) * V2));
    out.s2.statistic += r.statistic;
    out.s2.dof += r.dof;
    out.s2.impossible_draws += r.impossible_draws;
  }
  out.s2.p_value = out.s2.impossible_draws > 0 ? 0.0
                   : out.s2.dof > 0           ? chi_square_sf(out.s2.statistic, static_cast<double>(out.s2.dof))
                                              : 1.0;
  out.passed = out.s1.p_value >= alpha && out.s2.p_value >= alpha;
  std::ostringstream d;
  d.precision(3);
  d << "chi2 s1 " << out.s1.statistic << "/" << out.s1.dof << " dof p=" << out.s1.p_value;
  if (out.s1.impossible_draws) d << " (" << out.s1.impossible_draws << " draws of filtered-out tokens)";
  d << ", s2 " << out.s2.statistic << "/" << out.s2.dof << " dof p=" << out.s2.p_value;
  if (out.s2.impossible_draws) d << " (" << out.s2.impossible_draws << " draws of filtered-out tokens)";
  d << " over " << draws << " draws";
  out.detail = d.str();
  return out;
}

namespace {

// ------------------------------------------------------------------ tolerances and comparison

// Read from the folder's tolerances.json (numbers transcribed from the manifest's prose, with
// the quoted source): the runner never parses prose, and never falls back to a built-in value.
struct Tolerances {
  double logits = 0, hidden = 0, probs = 0, recon = 0;
  double frame_std = 0, frame_std_offset = 0, frame_rel = 0;  // |a-b| <= frame_std*(x_std+offset) + frame_rel*|b|
  double stats_rel = 0;                                       // x_mean / x_std / x_norm
};

double tolerance_field(const nlohmann::json& j, const std::string& path, const std::string& key,
                       const std::string& file) {
  FCAST_CHECK(j.is_object() && j.contains(key), file, ": missing '", path, key, "' (a number >= 0)");
  const auto& v = j[key];
  FCAST_CHECK(v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0, file, ": '", path, key,
              "' is ", v.dump(), ", not a finite number >= 0");
  return v.get<double>();
}

Tolerances read_tolerances(const std::string& dir) {
  const std::string file = (fs::path(dir) / "tolerances.json").string();
  FCAST_CHECK(fs::exists(file), file, ": not found; a Kronos golden folder needs tolerances.json with numeric "
              "tolerances (see tests/data/golden/kronos/tolerances.json)");
  const nlohmann::json j = read_json_file(file);
  Tolerances t;
  t.logits = tolerance_field(j, "", "logits_atol", file);
  t.hidden = tolerance_field(j, "", "hidden_atol", file);
  t.probs = tolerance_field(j, "", "probabilities_atol", file);
  t.recon = tolerance_field(j, "", "tokenizer_atol", file);
  FCAST_CHECK(j.contains("output_frames"), file, ": missing 'output_frames' (x_std_scale, x_std_offset, relative)");
  const auto& f = j["output_frames"];
  t.frame_std = tolerance_field(f, "output_frames.", "x_std_scale", file);
  t.frame_std_offset = tolerance_field(f, "output_frames.", "x_std_offset", file);
  t.frame_rel = tolerance_field(f, "output_frames.", "relative", file);
  t.stats_rel = tolerance_field(j, "", "series_stats_relative", file);
  return t;
}

class Checker {
 public:
  explicit Checker(GoldenCaseResult& r) : r_(r) {}

  void record(const std::string& what, double err, double tol, const std::string& where) {
    const double ratio = tol > 0 ? err / tol : (err > 0 ? INFINITY : 0.0);
    if (r_.worst.empty() || ratio > r_.worst_ratio) {
      r_.worst_ratio = ratio;
      r_.worst = cat(what, " ", err, " vs tol ", tol);
    }
    if (!(err <= tol)) r_.failures.push_back(cat(what, ": error ", err, " > tol ", tol, where));
  }
  bool same_count(const std::string& what, int64_t got, int64_t want) {
    if (got == want) return true;
    r_.failures.push_back(cat(what, ": ", got, " values computed, golden holds ", want));
    return false;
  }
  // |got - want| <= atol + rtol * |want|, reported as the worst ratio.
  void close(const std::string& what, const float* got, const float* want, int64_t n, double atol, double rtol = 0) {
    double worst = 0, worst_err = 0, worst_tol = atol;
    int64_t at = -1;
    for (int64_t i = 0; i < n; ++i) {
      const double e = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
      const double tol = atol + rtol * std::fabs(static_cast<double>(want[i]));
      const double ratio = tol > 0 ? e / tol : (e > 0 ? INFINITY : 0.0);
      if (!(ratio <= worst) || std::isnan(e)) {
        worst = std::isnan(e) ? INFINITY : ratio;
        worst_err = std::isnan(e) ? INFINITY : e;
        worst_tol = tol;
        at = i;
      }
    }
    record(what, worst_err, worst_tol, at >= 0 ? cat(" at flat index ", at, " (got ", got[at], ", golden ", want[at], ")") : "");
  }
  void exact(const std::string& what, const int64_t* got, const int64_t* want, int64_t n) {
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; ++i)
      if (got[i] != want[i]) {
        if (first < 0) first = i;
        ++bad;
      }
    record(what, static_cast<double>(bad), 0.0,
           bad ? cat(" (", bad, " of ", n, " ids differ; first at flat index ", first, ": got ", got[first], ", golden ",
                     want[first], ")")
               : "");
  }

 private:
  GoldenCaseResult& r_;
};

// ------------------------------------------------------------------ case context

struct Models {
  std::map<std::string, std::shared_ptr<KronosTokenizer>> tokenizers;
  std::map<std::string, std::shared_ptr<KronosModel>> predictors;
  std::map<std::string, MarketTable> tables;
};

struct CaseEnv {
  std::string dir;
  const nlohmann::json& manifest;
  const nlohmann::json& c;
  const GoldenOptions& opt;
  Tolerances tol;
  Models& models;

  std::shared_ptr<Executor> executor_for(const std::string& identity) const {
    return opt.make_executor ? opt.make_executor(identity) : golden_executor(identity);  // FCAST_GOLDEN_EXECUTOR
  }
  const nlohmann::json& model_entry() const {
    FCAST_CHECK(c.contains("models") && c["models"].is_string(), "case has no 'models' key");
    const std::string key = c["models"].get<std::string>();
    FCAST_CHECK(manifest.contains("models") && manifest["models"].contains(key), "manifest has no model pair '", key, "'");
    return manifest["models"][key];
  }
  std::shared_ptr<KronosTokenizer> tokenizer() {
    const auto& m = model_entry();
    FCAST_CHECK(m.contains("tokenizer_dir") && m["tokenizer_dir"].is_string(), "model pair '", c["models"].get<std::string>(),
                "' names no tokenizer_dir");
    const std::string path = (fs::path(dir) / m["tokenizer_dir"].get<std::string>()).string();
    auto& t = models.tokenizers[path];
    if (!t) {
      KronosTokenizerWeights w = load_kronos_tokenizer(path);
      const std::string identity = w.identity;
      t = std::make_shared<KronosTokenizer>(std::move(w), executor_for(identity));
    }
    return t;
  }
  bool has_tokenizer() const {
    const auto& m = model_entry();
    return m.contains("tokenizer_dir") && m["tokenizer_dir"].is_string();
  }
  std::shared_ptr<KronosModel> predictor() {
    const auto& m = model_entry();
    FCAST_CHECK(m.contains("predictor_dir") && m["predictor_dir"].is_string(), "model pair '",
                c["models"].get<std::string>(), "' names no predictor_dir");
    const std::string path = (fs::path(dir) / m["predictor_dir"].get<std::string>()).string();
    auto& p = models.predictors[path];
    if (!p) {
      KronosPredictorWeights w = load_kronos_predictor(path);
      const std::string identity = w.identity;
      p = std::make_shared<KronosModel>(std::move(w), executor_for(identity));
    }
    return p;
  }
  const MarketTable& input_table() {
    std::string rel = "data/regression_input.csv";
    if (c.contains("args") && c["args"].contains("input_csv")) rel = c["args"]["input_csv"].get<std::string>();
    else if (manifest.contains("input_csv")) rel = manifest["input_csv"].get<std::string>();
    const std::string path = (fs::path(dir) / rel).string();
    auto it = models.tables.find(path);
    if (it == models.tables.end()) it = models.tables.emplace(path, read_market_csv(path)).first;
    return it->second;
  }
};

int64_t wallclock(const MarketTable& t, int64_t r) { return t.timestamps[r] + t.utc_offsets[r]; }

// Builds the series of rows [start, start + len) with the given columns (all six by default).
KronosSeries series_from(const MarketTable& t, int64_t start, int64_t len, const std::vector<std::string>& columns) {
  FCAST_CHECK(start >= 0 && len >= 1 && start + len <= t.rows(), "rows [", start, ", ", start + len, ") outside the ",
              t.rows(), " rows of ", t.path);
  KronosSeries s;
  for (int64_t r = start; r < start + len; ++r) s.timestamps.push_back(wallclock(t, r));
  for (auto& name : columns) {
    const auto& col = t.column(name);
    s.columns[name] = std::vector<double>(col.begin() + start, col.begin() + start + len);
  }
  return s;
}

std::vector<std::string> all_columns() {
  return {"open", "high", "low", "close", "volume", "amount"};
}

std::vector<std::string> window_columns(const nlohmann::json& args) {
  return args.contains("columns_present") ? args["columns_present"].get<std::vector<std::string>>() : all_columns();
}

Tensor need(const SafetensorsFile& f, const std::string& name) {
  FCAST_CHECK(f.has(name), f.path(), ": the case file lacks tensor '", name, "'");
  return f.get(name);
}

// ------------------------------------------------------------------ tokenizer cases

void run_tokenizer_case(CaseEnv& env, const SafetensorsFile& f, Checker& ck) {
  auto tok = env.tokenizer();
  const auto& args = env.c.at("args");
  const auto& table = env.input_table();
  std::vector<PreparedSeries> windows;
  for (auto& w : args.at("windows_rows")) {
    const int64_t a = w.at(0).get<int64_t>(), b = w.at(1).get<int64_t>();
    windows.push_back(prepare_series(series_from(table, a, b - a, window_columns(args)), {}, args.value("clip", 5.0)));
  }
  const int64_t B = static_cast<int64_t>(windows.size()), T = windows[0].context;
  for (auto& w : windows) FCAST_CHECK(w.context == T, "tokenizer case windows differ in length");
  Tensor x = Tensor::empty(DType::F32, {B, T, kFeatures});
  std::vector<float> mean, stdv;
  for (int64_t b = 0; b < B; ++b) {
    std::copy(windows[b].x_norm.begin(), windows[b].x_norm.end(), x.data<float>() + b * T * kFeatures);
    mean.insert(mean.end(), windows[b].mean.begin(), windows[b].mean.end());
    stdv.insert(stdv.end(), windows[b].std.begin(), windows[b].std.end());
  }
  auto cmp = [&](const std::string& name, const Tensor& got, double atol, double rtol = 0) {
    Tensor want = need(f, name);
    if (ck.same_count(name, got.numel(), want.numel())) ck.close(name, got.data<float>(), want.data<float>(), got.numel(), atol, rtol);
  };
  auto cmp_ids = [&](const std::string& name, const Tensor& got) {
    Tensor want = need(f, name);
    if (ck.same_count(name, got.numel(), want.numel())) ck.exact(name, got.data<int64_t>(), want.data<int64_t>(), got.numel());
  };
  cmp("x_mean", Tensor::from_vector(mean, {B, kFeatures}), 0, env.tol.stats_rel);
  cmp("x_std", Tensor::from_vector(stdv, {B, kFeatures}), 0, env.tol.stats_rel);
  cmp("x", x, env.tol.stats_rel, env.tol.stats_rel);
  KronosTokens t = tok->encode(x, true);
  cmp("enc_hidden", t.hidden, env.tol.hidden);
  cmp("quant_in", t.quant_in, env.tol.recon);
  cmp_ids("s1", t.s1);
  cmp_ids("s2", t.s2);
  cmp("quantized", tok->bits(t.s1, t.s2), env.tol.recon);
  Tensor full = tok->encode_full(x);
  cmp_ids("full_index", full);
  cmp("bits_from_ids", tok->bits(t.s1, t.s2), env.tol.recon);
  cmp("recon", tok->decode(t.s1, t.s2), env.tol.recon);
  cmp("recon_full", tok->decode_full(full), env.tol.recon);
}

// ------------------------------------------------------------------ predictor forward cases

void run_forward_case(CaseEnv& env, const SafetensorsFile& f, Checker& ck, GoldenCaseResult& r) {
  auto model = env.predictor();
  Tensor s1 = need(f, "s1"), s2 = need(f, "s2"), stamp = need(f, "stamp"), s1_cond = need(f, "s1_cond");
  auto cmp = [&](const std::string& name, const Tensor& got, double atol) {
    Tensor want = need(f, name);
    if (ck.same_count(name, got.numel(), want.numel())) ck.close(name, got.data<float>(), want.data<float>(), got.numel(), atol);
  };
  // Rebuild the inputs from the CSV windows: stamps from the timestamps, tokens through the
  // pair's tokenizer. The forward below runs on the case's stored ids so that one token
  // mismatch is reported once, not cascaded.
  const auto& args = env.c.at("args");
  if (args.contains("windows_rows")) {
    const auto& table = env.input_table();
    std::vector<float> st;
    std::vector<PreparedSeries> windows;
    for (auto& w : args["windows_rows"]) {
      const int64_t a = w.at(0).get<int64_t>(), b = w.at(1).get<int64_t>();
      windows.push_back(prepare_series(series_from(table, a, b - a, window_columns(args)), {}, args.value("clip", 5.0)));
      st.insert(st.end(), windows.back().x_stamp.begin(), windows.back().x_stamp.end());
    }
    const int64_t B = static_cast<int64_t>(windows.size()), T = windows[0].context;
    if (ck.same_count("stamp", static_cast<int64_t>(st.size()), stamp.numel()))
      ck.close("stamp", st.data(), stamp.data<float>(), stamp.numel(), 0);
    if (env.has_tokenizer()) {
      Tensor x = Tensor::empty(DType::F32, {B, T, kFeatures});
      for (int64_t b = 0; b < B; ++b) std::copy(windows[b].x_norm.begin(), windows[b].x_norm.end(), x.data<float>() + b * T * kFeatures);
      KronosTokens t = env.tokenizer()->encode(x);
      if (ck.same_count("s1", t.s1.numel(), s1.numel())) {
        ck.exact("s1 (re-encoded)", t.s1.data<int64_t>(), s1.data<int64_t>(), s1.numel());
        ck.exact("s2 (re-encoded)", t.s2.data<int64_t>(), s2.data<int64_t>(), s2.numel());
      }
    } else {
      r.notes.push_back("no tokenizer for this pair: tokens taken from the case file");
    }
  }
  KronosForward fw = model->decode_s1(s1, s2, &stamp, true);
  cmp("token_embedding", fw.token_embedding, env.tol.hidden);
  cmp("time_embedding", fw.time_embedding, env.tol.hidden);
  cmp("s1_logits", fw.s1_logits, env.tol.logits);
  cmp("context", fw.context, env.tol.hidden);
  cmp("s2_logits_full", model->decode_s2(fw.context, s1_cond), env.tol.logits);
  const int64_t B = s1_cond.dim(0), T = s1_cond.dim(1);
  Tensor last = Tensor::empty(DType::I64, {B, 1});
  for (int64_t b = 0; b < B; ++b) last.data<int64_t>()[b] = s1_cond.data<int64_t>()[b * T + T - 1];
  cmp("s2_logits_ar", model->decode_s2(fw.context, last), env.tol.logits);
  KronosForward ns = model->decode_s1(s1, s2, nullptr);
  cmp("s1_logits_nostamp", ns.s1_logits, env.tol.logits);
  cmp("context_nostamp", ns.context, env.tol.hidden);
}

// ------------------------------------------------------------------ predict cases

void run_predict_case(CaseEnv& env, const SafetensorsFile& f, Checker& ck, GoldenCaseResult& r) {
  const auto& args = env.c.at("args");
  SamplingParams sp;
  sp.temperature = args.at("T").get<double>();
  sp.top_k = args.at("top_k").get<int64_t>();
  sp.top_p = args.at("top_p").get<double>();
  sp.sample_count = args.at("sample_count").get<int64_t>();
  sp.seed = env.c.value("torch_seed", uint64_t{0});
  const int64_t P = args.at("pred_len").get<int64_t>();
  KronosPredictorOptions po;
  po.max_context = args.at("max_context").get<int64_t>();
  po.clip = args.value("clip", 5.0);
  po.use_kv_cache = env.opt.use_kv_cache;
  po.log = [](const std::string&) {};
  KronosPredictor predictor(env.predictor(), env.tokenizer(), po);

  // Rebuild every series from the CSV: rows, present columns, timestamps.
  const auto& table = env.input_table();
  std::vector<PreparedSeries> prepared;
  for (auto& s : args.at("series")) {
    const int64_t start = s.at("row_start").get<int64_t>(), L = s.at("context_len").get<int64_t>();
    std::vector<std::string> cols = s.contains("columns_present") ? s["columns_present"].get<std::vector<std::string>>()
                                                                  : all_columns();
    KronosSeries ks = series_from(table, start, L, cols);
    FCAST_CHECK(start + L + P <= table.rows(), "future rows [", start + L, ", ", start + L + P, ") outside the CSV");
    std::vector<int64_t> y;
    for (int64_t k = 0; k < P; ++k) y.push_back(wallclock(table, start + L + k));
    prepared.push_back(prepare_series(ks, y, po.clip));
  }
  const int64_t B = static_cast<int64_t>(prepared.size()), L = prepared[0].context, S = sp.sample_count;
  auto cat_f = [&](auto member) {
    std::vector<float> v;
    for (auto& p : prepared) v.insert(v.end(), (p.*member).begin(), (p.*member).end());
    return v;
  };
  auto cmp_v = [&](const std::string& name, const std::vector<float>& got, double atol, double rtol = 0) {
    Tensor want = need(f, name);
    if (ck.same_count(name, static_cast<int64_t>(got.size()), want.numel()))
      ck.close(name, got.data(), want.data<float>(), want.numel(), atol, rtol);
  };
  auto cmp_ids = [&](const std::string& name, const std::vector<int64_t>& got) {
    Tensor want = need(f, name);
    if (ck.same_count(name, static_cast<int64_t>(got.size()), want.numel()))
      ck.exact(name, got.data(), want.data<int64_t>(), want.numel());
  };
  cmp_v("x_raw", cat_f(&PreparedSeries::x_raw), 0, env.tol.stats_rel);
  cmp_v("x_mean", cat_f(&PreparedSeries::mean), 0, env.tol.stats_rel);
  cmp_v("x_std", cat_f(&PreparedSeries::std), 0, env.tol.stats_rel);
  cmp_v("x_norm", cat_f(&PreparedSeries::x_norm), env.tol.stats_rel, env.tol.stats_rel);
  cmp_v("x_stamp", cat_f(&PreparedSeries::x_stamp), 0);
  cmp_v("y_stamp", cat_f(&PreparedSeries::y_stamp), 0);

  const bool greedy = sp.greedy();
  Tensor forced_s1, forced_s2;
  ForcedTokens forced;
  if (!greedy) {  // torch's draws cannot be reproduced: teacher-force them
    forced_s1 = need(f, "step_s1");
    forced_s2 = need(f, "step_s2");
    FCAST_CHECK(forced_s1.numel() == B * S * P && forced_s2.numel() == B * S * P, "step_s1/step_s2 hold ",
                forced_s1.numel(), " ids, expected B*S*P = ", B * S * P);
    forced.s1 = forced_s1.data<int64_t>();
    forced.s2 = forced_s2.data<int64_t>();
    r.notes.push_back("teacher-forced");
  }
  GenerationTrace tr;
  std::vector<KronosForecast> fc = predictor.generate(prepared, P, sp, &tr, greedy ? nullptr : &forced);
  const int64_t R = tr.rows_per_series, V1 = tr.v1, V2 = tr.v2, Wf = tr.final_window;
  // Expand computed rows to [B, S, ...] (greedy computes one shared path per series).
  auto expand = [&](const auto& v, int64_t per_row) {
    std::decay_t<decltype(v)> out;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t n = b * R + (R == 1 ? 0 : s);
        out.insert(out.end(), v.begin() + n * per_row, v.begin() + (n + 1) * per_row);
      }
    return out;
  };
  cmp_ids("ctx_s1", tr.ctx_s1);
  cmp_ids("ctx_s2", tr.ctx_s2);
  cmp_ids("step_window_start", tr.window_start);
  cmp_ids("step_window_len", tr.window_len);
  cmp_ids("step_s1", expand(tr.step_s1, P));
  cmp_ids("step_s2", expand(tr.step_s2, P));
  cmp_v("step_s1_logits", expand(tr.step_s1_logits, P * V1), env.tol.logits);
  cmp_v("step_s2_logits", expand(tr.step_s2_logits, P * V2), env.tol.logits);
  cmp_ids("final_dec_s1", expand(tr.final_s1, Wf));
  cmp_ids("final_dec_s2", expand(tr.final_s2, Wf));
  cmp_v("final_decoded", expand(tr.final_decoded, Wf * kFeatures), env.tol.recon);
  cmp_v("preds_norm", tr.preds_norm, env.tol.recon);

  // Output frames: |a-b| <= frame_std*(x_std+offset) + frame_rel*|b| per column.
  Tensor want_out = need(f, "output");
  auto frame = [&](const std::string& what, int64_t b, const float* got, const float* want) {
    double worst = 0, err_at = 0, tol_at = 0;
    std::string where;
    for (int64_t t = 0; t < P; ++t)
      for (int c = 0; c < kFeatures; ++c) {
        const double g = got[t * kFeatures + c], w = want[t * kFeatures + c];
        const double tol = env.tol.frame_std * (prepared[b].std[c] + env.tol.frame_std_offset) + env.tol.frame_rel * std::fabs(w);
        const double e = std::fabs(g - w);
        if (!(e / tol <= worst)) {
          worst = std::isnan(e) ? INFINITY : e / tol;
          err_at = e, tol_at = tol;
          where = cat(" at row ", t, " column ", kFeatureNames[c], " (got ", g, ", golden ", w, ")");
        }
      }
    ck.record(what, err_at, tol_at, where);
  };
  if (ck.same_count("output", B * P * kFeatures, want_out.numel()))
    for (int64_t b = 0; b < B; ++b)
      frame(B == 1 ? "output" : cat("output[", b, "]"), b, fc[b].values.data(), want_out.data<float>() + b * P * kFeatures);
  // The CSV frames as the reference printed them.
  if (env.c.contains("csv")) {
    const auto& csvs = env.c["csv"];
    if (ck.same_count("csv files", static_cast<int64_t>(csvs.size()), B))
      for (int64_t b = 0; b < B; ++b) {
        const MarketTable t = read_market_csv((fs::path(env.dir) / csvs[b].get<std::string>()).string());
        if (!ck.same_count(cat("csv[", b, "] rows"), t.rows(), P)) continue;
        std::vector<float> v(P * kFeatures);
        int64_t bad_ts = 0;
        for (int64_t k = 0; k < P; ++k) {
          if (wallclock(t, k) != fc[b].timestamps[k]) ++bad_ts;
          for (int c = 0; c < kFeatures; ++c) v[k * kFeatures + c] = static_cast<float>(t.column(kFeatureNames[c])[k]);
        }
        ck.record(cat("csv[", b, "] timestamps"), static_cast<double>(bad_ts), 0, " (future timestamps differ)");
        frame(cat("csv[", b, "]"), b, fc[b].values.data(), v.data());
      }
  }

  if (greedy) return;
  // Sampling: every recorded step's filtered probability table, from our logits.
  std::vector<float> p1(tr.step_s1_logits.size()), p2(tr.step_s2_logits.size());
  const int64_t N = B * R;
  for (int64_t k = 0; k < N * P; ++k) {
    filtered_probs(tr.step_s1_logits.data() + k * V1, V1, sp, p1.data() + k * V1);
    filtered_probs(tr.step_s2_logits.data() + k * V2, V2, sp, p2.data() + k * V2);
  }
  cmp_v("step_s1_probs", expand(p1, P * V1), env.tol.probs);
  cmp_v("step_s2_probs", expand(p2, P * V2), env.tol.probs);

  // First step of series 0: s1 table, s2 tables per candidate s1 (through decode_s1/decode_s2,
  // the plain API, independent of the generation graphs), then the chi-square test.
  const std::vector<float> l1(tr.step_s1_logits.begin(), tr.step_s1_logits.begin() + V1);
  std::vector<float> want1(V1);
  if (f.has("first_s1_probs")) {
    Tensor w = f.get("first_s1_probs");
    if (!ck.same_count("first_s1_probs", w.numel(), V1)) return;
    std::copy(w.data<float>(), w.data<float>() + V1, want1.begin());
  } else {
    Tensor w = need(f, "step_s1_probs");  // step 0 of sample 0 has the same table
    std::copy(w.data<float>(), w.data<float>() + V1, want1.begin());
  }
  std::vector<float> got1(V1);
  filtered_probs(l1.data(), V1, sp, got1.data());
  ck.close("first_s1_probs", got1.data(), want1.data(), V1, env.tol.probs);

  std::vector<int64_t> cand;
  std::vector<float> want2, l2;
  if (f.has("first_s2_candidates") && f.has("first_s2_probs_given_s1")) {
    Tensor c = f.get("first_s2_candidates"), w = f.get("first_s2_probs_given_s1");
    cand.assign(c.data<int64_t>(), c.data<int64_t>() + c.numel());
    const int64_t C = static_cast<int64_t>(cand.size());
    if (!ck.same_count("first_s2_probs_given_s1", w.numel(), C * V2)) return;
    want2.assign(w.data<float>(), w.data<float>() + w.numel());
    const int64_t M = po.max_context, start = std::max<int64_t>(0, L - M), W = L - start;
    Tensor ws1 = Tensor::empty(DType::I64, {1, W}), ws2 = Tensor::empty(DType::I64, {1, W});
    Tensor wst = Tensor::empty(DType::F32, {1, W, kTimeFeatures});
    std::copy(tr.ctx_s1.begin() + start, tr.ctx_s1.begin() + L, ws1.data<int64_t>());
    std::copy(tr.ctx_s2.begin() + start, tr.ctx_s2.begin() + L, ws2.data<int64_t>());
    std::copy(prepared[0].x_stamp.begin() + start * kTimeFeatures, prepared[0].x_stamp.end(), wst.data<float>());
    KronosForward fw = env.predictor()->decode_s1(ws1, ws2, &wst);
    const int64_t d = fw.context.dim(2);
    Tensor ctx = Tensor::empty(DType::F32, {C, W, d}), q = Tensor::from_vector(cand, {C, 1});
    for (int64_t j = 0; j < C; ++j) std::copy(fw.context.data<float>(), fw.context.data<float>() + W * d, ctx.data<float>() + j * W * d);
    Tensor l = env.predictor()->decode_s2(ctx, q);
    l2.assign(l.data<float>(), l.data<float>() + C * V2);
    std::vector<float> got2(C * V2);
    for (int64_t j = 0; j < C; ++j) filtered_probs(l2.data() + j * V2, V2, sp, got2.data() + j * V2);
    ck.close("first_s2_probs_given_s1", got2.data(), want2.data(), C * V2, env.tol.probs);
  }
  if (!env.opt.statistical) return;
  TokenSampler sampler = [&](const float* logits, int64_t V, Rng& rng) { return sample_token(logits, V, sp, rng); };
  FirstStepDistributionCheck chk = check_first_step_distribution(l1, cand, l2, want1, want2, sampler,
                                                                 env.opt.chi_square_draws, env.opt.chi_square_seed,
                                                                 env.opt.chi_square_alpha);
  r.notes.push_back(chk.detail);
  if (!chk.passed) r.failures.push_back(cat("sampler distribution rejected at alpha ", env.opt.chi_square_alpha, ": ", chk.detail));
}

}  // namespace

std::vector<GoldenCaseResult> run_kronos_golden_cases(const std::string& dir, const nlohmann::json& manifest,
                                                      const GoldenOptions& opt,
                                                      const std::function<void(const GoldenCaseResult&)>& on_case) {
  FCAST_CHECK(manifest.contains("cases") && manifest["cases"].is_array(), dir, ": manifest has no 'cases' list");
  Models models;
  const Tolerances tol = read_tolerances(dir);
  std::vector<GoldenCaseResult> results;
  for (const auto& c : manifest["cases"]) {
    GoldenCaseResult r;
    r.name = c.value("name", std::string("(unnamed)"));
    r.kind = c.value("kind", std::string("(no kind)"));
    const auto t0 = std::chrono::steady_clock::now();
    try {
      CaseEnv env{dir, manifest, c, opt, tol, models};
      FCAST_CHECK(c.contains("file") && c["file"].is_string(), "case has no 'file'");
      const SafetensorsFile f = SafetensorsFile::open((fs::path(dir) / c["file"].get<std::string>()).string());
      Checker ck(r);
      if (r.kind == "tokenizer_encode_decode")
        run_tokenizer_case(env, f, ck);
      else if (r.kind == "predictor_forward")
        run_forward_case(env, f, ck, r);
      else if (r.kind == "predict" || r.kind == "predict_batch")
        run_predict_case(env, f, ck, r);
      else
        fail("unknown case kind '", r.kind, "' (known: tokenizer_encode_decode, predictor_forward, predict, predict_batch)");
    } catch (const std::exception& e) {
      r.failures.push_back(cat("could not run: ", e.what()));
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.passed = r.failures.empty();
    if (on_case) on_case(r);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace fcast::kronos

#include "models/registry.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "io/calendar.h"
#include "io/csv.h"
#include "io/file.h"
#include "io/json.h"
#include "models/kronos/session.h"
#include "models/toto/session.h"
#include "models/toto2/session.h"

namespace fcast {

namespace {
constexpr const char* kRandomWeightsMarker = "RANDOM_WEIGHTS.txt";

// The lower median of the steps between stamps (86400 with one stamp): the interval at which
// future stamps continue.
int64_t median_step(const std::vector<int64_t>& stamps) {
  std::vector<int64_t> steps;
  for (size_t t = 1; t < stamps.size(); ++t) steps.push_back(stamps[t] - stamps[t - 1]);
  if (steps.empty()) return 86400;
  const auto mid = steps.begin() + static_cast<std::ptrdiff_t>((steps.size() - 1) / 2);
  std::nth_element(steps.begin(), mid, steps.end());
  return *mid;
}
}  // namespace

namespace {
// Every entry's load names the model a wrong folder belongs to (load_with_hint).
ModelEntry with_load_hint(ModelEntry e) {
  auto load = e.load;
  const std::string name = e.name;
  e.load = [load, name](const ModelPaths& paths, const CompileSettings& settings) {
    return load_with_hint(paths, name, [&] { return load(paths, settings); });
  };
  return e;
}
}  // namespace

const std::vector<ModelEntry>& model_registry() {
  // One line per model.
  static const std::vector<ModelEntry> all = {
      with_load_hint(toto::registry_entry()),
      with_load_hint(kronos::registry_entry()),
      with_load_hint(toto2::registry_entry()),
  };
  return all;
}

std::string wrong_checkpoint_hint(const std::string& dir, const std::string& model, const std::string& part) {
  for (const ModelEntry& e : model_registry()) {
    std::string p, why;
    bool yes = false;
    try {
      yes = e.detect(dir, p, why);
    } catch (const std::exception&) {
      yes = false;  // a hint must never hide the real error
    }
    if (!yes || (e.name == model && p == part)) continue;
    const std::string what = p == "model" ? e.name : cat(e.name, " ", p);
    if (e.name != model) return cat("this looks like a ", what, " checkpoint; use `fcast predict ", e.name, "`");
    return cat("this looks like a ", what, " checkpoint; pass it as --", p == "model" ? "model" : p);
  }
  return "";
}

std::string model_names() {
  std::string s;
  for (const ModelEntry& e : model_registry()) s += (s.empty() ? "" : ", ") + e.name;
  return s;
}

const ModelEntry& find_model(const std::string& name) {
  for (const ModelEntry& e : model_registry())
    if (e.name == name) return e;
  fail("unknown model '", name, "' (registered models: ", model_names(), ")");
}

const ModelEntry& detect_model(const std::string& dir, std::string* part) {
  std::string whys;
  for (const ModelEntry& e : model_registry()) {
    std::string p, why;
    if (e.detect(dir, p, why)) {
      if (part) *part = p;
      return e;
    }
    whys += cat("; ", e.name, ": ", why);
  }
  fail(dir, ": not a checkpoint of any registered model", whys);
}

ExecutorStats ForecastSession::stats() {
  ExecutorStats s;
  for (Executor* e : executors()) s += e->stats();
  return s;
}

ModelPaths ensure_random_checkpoint(const ModelEntry& e, const std::string& root) {
  namespace fs = std::filesystem;
  const fs::path base = fs::path(root) / cat(e.name, "-", e.test_preset, "-random");
  ModelPaths paths;
  bool present = true;
  for (const ModelPart& p : e.parts) {
    paths[p.name] = (base / p.name).string();
    std::error_code ec;
    present = present && fs::exists(base / p.name / "config.json", ec) && fs::exists(base / p.name / "model.safetensors", ec);
  }
  if (!present) {
    for (const auto& [part, dir] : paths) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      FCAST_CHECK(!ec, "cannot create ", dir, ": ", ec.message());
    }
    e.write_random(e.test_preset, 0, paths);
  }
  return paths;
}

bool has_random_weights_marker(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(dir) / kRandomWeightsMarker, ec);
}

void write_random_weights_marker(const std::string& dir, const std::string& what) {
  const std::string path = (std::filesystem::path(dir) / kRandomWeightsMarker).string();
  write_file_atomic(path, cat("RANDOM weights (", what, ").\n",
                              "This is not a trained model: forecasts and accuracy figures made with it mean nothing.\n"));
}

void check_request_options(const ForecastRequest& r, const ModelEntry& e) {
  for (const auto& [name, value] : r.options) {
    bool known = false;
    for (const ModelOption& o : e.options) known |= o.name == name;
    if (!known) {
      std::string all;
      for (const ModelOption& o : e.options) all += (all.empty() ? "" : ", ") + o.name;
      fail(e.name, ": unknown option '", name, "' (", e.name, " takes: ", all.empty() ? "none" : all, ")");
    }
  }
}

int64_t parse_int_option(const std::string& model, const std::string& name, const std::string& v) {
  size_t used = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  FCAST_CHECK(used == v.size() && !v.empty(), model, ": option ", name, "='", v, "' is not an integer");
  return x;
}

double parse_number_option(const std::string& model, const std::string& name, const std::string& v) {
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  FCAST_CHECK(used == v.size() && !v.empty() && std::isfinite(x), model, ": option ", name, "='", v,
              "' is not a finite number");
  return x;
}

bool parse_bool_option(const std::string& model, const std::string& name, const std::string& v) {
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return false;
  fail(model, ": option ", name, "='", v, "' is not a boolean (true/false/1/0/on/off/yes/no)");
}

bool config_has_keys(const std::string& dir, const std::vector<std::string>& keys, std::string& why) {
  const std::string cfg = (std::filesystem::path(dir) / "config.json").string();
  std::error_code ec;
  if (!std::filesystem::exists(cfg, ec)) {
    why = "no config.json";
    return false;
  }
  const nlohmann::json j = read_json_file(cfg);
  std::string missing;
  for (const std::string& k : keys)
    if (!j.is_object() || !j.contains(k)) missing += (missing.empty() ? "" : "/") + k;
  if (missing.empty()) return true;
  why = "config.json has no " + missing;
  return false;
}

std::string request_option(const ForecastRequest& r, const ModelEntry& e, const std::string& name) {
  auto it = r.options.find(name);
  if (it != r.options.end()) return it->second;
  for (const ModelOption& o : e.options)
    if (o.name == name) return o.default_value;
  fail("internal error: ", e.name, " reads the undeclared option '", name, "'");
}

std::string series_label(const ForecastRequest& r, size_t k) {
  const std::string& id = r.series[k].id;
  return id.empty() ? cat("series #", k) : cat("series '", id, "'");
}

void check_forecast_limits(const ForecastLimits& l, const std::string& horizon_what, int64_t horizon,
                           const std::string& samples_what, int64_t samples) {
  FCAST_CHECK(l.max_horizon >= 1 && l.max_samples >= 1, "the forecast caps must be positive (max_horizon ",
              l.max_horizon, ", max_samples ", l.max_samples, ")");
  FCAST_CHECK(horizon <= l.max_horizon, horizon_what, " ", horizon, " exceeds the horizon cap of ", l.max_horizon,
              " (a guard against unbounded work); raise it with --max-horizon N or FCAST_MAX_HORIZON=N "
              "(ForecastRequest::limits.max_horizon in the API)");
  FCAST_CHECK(samples <= l.max_samples, samples_what, " ", samples, " exceeds the sample cap of ", l.max_samples,
              " (a guard against unbounded work); raise it with --max-samples N or FCAST_MAX_SAMPLES=N "
              "(ForecastRequest::limits.max_samples in the API)");
}

void check_request(const ForecastRequest& r, const ModelEntry& e, int64_t max_horizon) {
  check_request_options(r, e);
  FCAST_CHECK(r.horizon > 0, e.name, ": horizon must be positive, got ", r.horizon);
  FCAST_CHECK(r.horizon <= max_horizon, e.name, ": horizon ", r.horizon, " exceeds ", e.name, "'s limit of ",
              max_horizon);
  FCAST_CHECK(r.num_samples >= 0, e.name, ": num_samples must be >= 0 (0 = point forecast), got ", r.num_samples);
  check_forecast_limits(r.limits, e.name + ": horizon", r.horizon, e.name + ": num_samples", r.num_samples);
  for (double q : r.quantiles)
    FCAST_CHECK(q >= 0.0 && q <= 1.0, e.name, ": quantile level ", q, " is outside [0, 1]");
  FCAST_CHECK(!r.series.empty(), e.name, ": the request holds no series");
  FCAST_CHECK(r.series_seeds.empty() || r.series_seeds.size() == r.series.size(), e.name, ": ",
              r.series_seeds.size(), " series seeds for ", r.series.size(), " series (give one per series, or none)");
  for (size_t k = 0; k < r.series.size(); ++k) {
    const SeriesInput& s = r.series[k];
    const std::string who = series_label(r, k);
    FCAST_CHECK(!s.values.empty(), e.name, ": ", who, " has no variates");
    FCAST_CHECK(s.variate_names.empty() || s.variate_names.size() == s.values.size(), e.name, ": ", who, " has ",
                s.values.size(), " variates but ", s.variate_names.size(), " variate names");
    const size_t T = s.values[0].size();
    FCAST_CHECK(T >= 1, e.name, ": ", who, " is empty");
    for (size_t v = 0; v < s.values.size(); ++v)
      FCAST_CHECK(s.values[v].size() == T, e.name, ": ", who, ": variate ", v, " has ", s.values[v].size(),
                  " values, variate 0 has ", T);
    FCAST_CHECK(s.observed.empty() || s.observed.size() == s.values.size(), e.name, ": ", who,
                ": the observed mask has ", s.observed.size(), " rows for ", s.values.size(), " variates");
    for (size_t v = 0; v < s.observed.size(); ++v)
      FCAST_CHECK(s.observed[v].size() == T, e.name, ": ", who, ": observed mask row ", v, " has ",
                  s.observed[v].size(), " entries for ", T, " values");
    for (size_t v = 0; v < s.values.size(); ++v)
      for (size_t t = 0; t < T; ++t) {
        const bool observed = s.observed.empty() || s.observed[v][t];
        const double x = s.values[v][t];
        // Observed values must be finite and inside float32 (the models compute in float32).
        if (!observed) continue;
        const std::string variate = s.variate_names.empty() ? cat("variate ", v) : cat("variate '", s.variate_names[v], "'");
        FCAST_CHECK(std::isfinite(x), e.name, ": ", who, ": ", variate, " has a non-finite value (", x, ") at step ", t,
                    " of ", T);
        FCAST_CHECK(std::fabs(x) <= std::numeric_limits<float>::max(), e.name, ": ", who, ": ", variate, " has ", x,
                    " at step ", t, " of ", T, ", out of float32 range (|x| <= 3.4e38; the models compute in float32)");
      }
    FCAST_CHECK(s.timestamps.empty() || s.timestamps.size() == T, e.name, ": ", who, " has ", s.timestamps.size(),
                " timestamps for ", T, " values");
    for (size_t t = 1; t < s.timestamps.size(); ++t)
      FCAST_CHECK(s.timestamps[t] > s.timestamps[t - 1], e.name, ": ", who, ": timestamps must increase (step ", t,
                  ")");
    FCAST_CHECK(s.future_timestamps.empty() || static_cast<int64_t>(s.future_timestamps.size()) == r.horizon,
                e.name, ": ", who, " has ", s.future_timestamps.size(), " future timestamps for a horizon of ",
                r.horizon);
    // Stamps are seconds of the years 0001-9999, the range fcast reads and writes (io/csv.h).
    for (const std::vector<int64_t>* stamps : {&s.timestamps, &s.future_timestamps})
      for (size_t t = 0; t < stamps->size(); ++t)
        FCAST_CHECK((*stamps)[t] >= kFirstTimestamp && (*stamps)[t] <= kLastTimestamp, e.name, ": ", who, ": ",
                    stamps == &s.timestamps ? "timestamp " : "future timestamp ", t, " (", (*stamps)[t],
                    " s) is outside the years 0001-9999");
    if (s.future_timestamps.empty() && !s.timestamps.empty())
      check_future_timestamps(s.timestamps.back(), median_step(s.timestamps), r.horizon, 0,
                              cat(e.name, ": ", who, ": the horizon"));
  }
}

std::vector<int64_t> future_timestamps_of(const SeriesInput& s, int64_t horizon) {
  if (!s.future_timestamps.empty()) return s.future_timestamps;
  if (s.timestamps.empty()) return {};
  // The series' own calendar (business days, trading sessions) when its stamps show one.
  return continue_calendar(s.timestamps, horizon, Frequency{});
}

void summarise_samples(SeriesForecast& f, const std::vector<double>& levels) {
  const size_t V = f.mean.size();
  f.median.assign(V, {});
  f.std.assign(V, {});
  f.quantiles.assign(levels.size(), std::vector<std::vector<float>>(V));
  for (size_t v = 0; v < V; ++v) {
    const size_t H = f.mean[v].size();
    for (size_t h = 0; h < H; ++h) {
      std::vector<float> s = f.samples.empty() ? std::vector<float>{f.mean[v][h]} : f.samples[v][h];
      const size_t N = s.size();
      // NaN paths (let through by NonFinitePolicy::kWarn) have no order: the summaries are NaN.
      if (std::any_of(s.begin(), s.end(), [](float x) { return std::isnan(x); })) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        f.std[v].push_back(nan);
        f.median[v].push_back(nan);
        for (size_t k = 0; k < levels.size(); ++k) f.quantiles[k][v].push_back(nan);
        continue;
      }
      double m = 0, var = 0;
      for (float x : s) m += x;
      m /= static_cast<double>(N);
      for (float x : s) var += (x - m) * (x - m);
      f.std[v].push_back(N > 1 ? static_cast<float>(std::sqrt(var / static_cast<double>(N - 1))) : 0.0f);
      std::sort(s.begin(), s.end());
      // Linear interpolation between order statistics (torch.quantile / numpy's default).
      auto q = [&](double level) {
        const double pos = level * static_cast<double>(N - 1);
        const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, N - 1);
        return static_cast<float>(s[lo] + (s[hi] - s[lo]) * (pos - static_cast<double>(lo)));
      };
      f.median[v].push_back(f.samples.empty() ? f.mean[v][h] : q(0.5));
      for (size_t k = 0; k < levels.size(); ++k) f.quantiles[k][v].push_back(f.samples.empty() ? f.mean[v][h] : q(levels[k]));
    }
  }
}

}  // namespace fcast

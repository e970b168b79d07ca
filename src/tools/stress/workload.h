// The stress test's workload: real market series (the bundled tests/data/market files by default),
// walk-forward forecast windows over their held-out bars, and one forecast of any registered model
// (through its session) that returns the mean, the sample spread and the quantile band of the close.
//
//   std::vector<MarketSeries> series = load_series(default_data_files(), 512 + 1 * 6);
//   std::vector<Window> w = walk_forward(series[0], /*context=*/512, /*horizon=*/1, /*windows=*/6, /*round=*/0);
//   SessionRunner run(find_model("toto").load(paths, settings));  ForecastOut f = run.forecast(series[0], w[0], opts);
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "io/csv.h"
#include "io/file.h"
#include "models/registry.h"
#include "runtime/executor.h"

namespace fcast::stress {

namespace fs = std::filesystem;

// One univariate-close (plus OHLCV for Kronos) series of one symbol.
struct MarketSeries {
  std::string label;   // "MSTR", "BTCUSD", ...
  std::string file;
  std::vector<int64_t> timestamps;  // wall-clock seconds (UTC + the file's offset)
  bool with_time = false;
  std::map<std::string, std::vector<double>> columns;  // open, high, low, close, volume, amount (close always)
  int64_t rows() const { return static_cast<int64_t>(timestamps.size()); }
  const std::vector<double>& close() const { return columns.at("close"); }
};

// tests/data/<what> of the source tree: next to the binary (build/fcast -> ../tests/data/<what>) or
// under the current directory; "" when neither exists. The binary carries no data of its own.
inline std::string bundled_data_dir(const std::string& what) {
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path())
      candidates.push_back(p / "tests" / "data" / what);
  candidates.push_back(fs::current_path(ec) / "tests" / "data" / what);
  for (const auto& c : candidates)
    if (fs::is_directory(c, ec)) return c.string();
  return "";
}
inline std::string default_data_dir() { return bundled_data_dir("market"); }

// The default checkpoints of `fcast stress`: the tiny models trained on the bundled market data,
// tests/data/models/<model>-tiny-market (tests/data/models/README.md). The folder, or each of its
// sub-folders, is assigned to the part whose config detection accepts it, so a model with several
// parts (Kronos: predictor and tokenizer) needs no table here. Throws naming the folder when it
// is missing or lacks a part.
// Whether the bundled trained checkpoint folder of `e` exists (tests/data/models/<name>-tiny-market).
inline bool has_trained_default(const ModelEntry& e) {
  const std::string root = bundled_data_dir("models");
  std::error_code ec;
  return !root.empty() && fs::is_directory(fs::path(root) / (e.name + "-tiny-market"), ec);
}

inline ModelPaths trained_default_checkpoint(const ModelEntry& e) {
  const std::string root = bundled_data_dir("models");
  FCAST_CHECK(!root.empty(),
              "cannot find the default trained checkpoints (tests/data/models next to the fcast binary or under the "
              "current directory); run from the repository, pass --",
              e.name, "-<part> folders, or use --random-weights");
  const fs::path dir = fs::path(root) / (e.name + "-tiny-market");
  std::error_code ec;
  FCAST_CHECK(fs::is_directory(dir, ec), "the default trained ", e.name, " checkpoint folder '", dir.string(),
              "' does not exist; pass --", e.name, "-<part> folders, or use --random-weights");
  std::vector<fs::path> candidates = {dir};
  std::vector<fs::path> subs;
  for (const auto& d : fs::directory_iterator(dir, ec))
    if (d.is_directory(ec)) subs.push_back(d.path());
  std::sort(subs.begin(), subs.end());
  candidates.insert(candidates.end(), subs.begin(), subs.end());
  ModelPaths out;
  for (const fs::path& c : candidates) {
    if (!fs::exists(c / "config.json", ec)) continue;
    std::string part, why;
    if (e.detect && e.detect(c.string(), part, why) && !part.empty()) out.emplace(part, c.string());
  }
  for (const ModelPart& p : e.parts)
    FCAST_CHECK(out.count(p.name), "the default trained ", e.name, " checkpoint '", dir.string(), "' has no ", p.name,
                " folder (config.json + model.safetensors); pass --", e.name, "-", p.name,
                ", or use --random-weights");
  return out;
}

// The context length a default trained model was trained with (tests/data/models/stress_defaults.json,
// "context_length": {"<model>": bars}); nothing when the file or the entry is absent. A malformed
// file is an error naming it.
inline std::optional<int64_t> trained_default_context(const ModelEntry& e) {
  const std::string root = bundled_data_dir("models");
  if (root.empty()) return std::nullopt;
  const fs::path f = fs::path(root) / "stress_defaults.json";
  std::error_code ec;
  if (!fs::exists(f, ec)) return std::nullopt;
  std::ifstream in(f);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  FCAST_CHECK(!j.is_discarded() && j.is_object(), f.string(), ": not a JSON object");
  if (!j.contains("context_length") || !j["context_length"].contains(e.name)) return std::nullopt;
  const nlohmann::json& v = j["context_length"][e.name];
  FCAST_CHECK(v.is_number_integer() && v.get<int64_t>() >= 16, f.string(), ": context_length.", e.name,
              " must be an integer >= 16");
  return v.get<int64_t>();
}

// The bundled daily and hourly files whose series are long enough for a 512-bar context.
inline std::vector<std::string> default_data_files() {
  const std::string dir = default_data_dir();
  FCAST_CHECK(!dir.empty(),
              "cannot find the bundled market data (tests/data/market next to the fcast binary or under the current "
              "directory); run from the repository, or pass CSV files with --data");
  std::vector<std::string> out;
  for (const char* f : {"MSTR.csv", "SUIUSDT.csv", "TSLA-2021-11-21 14:37:52.060172.csv", "WIKI-AAPL.csv",
                        "selector_sim_crypto5_mixed7_epoch003_lag1_eval90d_baseactions_int1_realistic_20260211/bars.csv"}) {
    const fs::path p = fs::path(dir) / f;
    std::error_code ec;
    if (fs::exists(p, ec)) out.push_back(p.string());
  }
  FCAST_CHECK(!out.empty(), "no market CSV found in ", dir);
  return out;
}

inline std::string lower_ascii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The distinct values of a long-format file's `symbol` column, in order of appearance; empty
// when the file has no such column.
inline std::vector<std::string> symbols_in(const std::string& path) { return market_csv_symbols(path); }

// Reads one table into a series. Files with split-adjusted "adj. *" columns (the Quandl WIKI
// layout) use those, so splits do not show up as price jumps. Rows with a missing close are dropped.
inline MarketSeries series_from_table(const MarketTable& t, const std::string& label) {
  MarketSeries s;
  s.label = label;
  s.file = t.path;
  s.with_time = t.has_time_of_day;
  const bool adjusted = t.has("adj. close") && t.has("adj. open") && t.has("adj. high") && t.has("adj. low");
  FCAST_CHECK(t.has("close") || adjusted, t.path, ": no 'close' column; the stress test forecasts the close");
  std::map<std::string, const std::vector<double>*> src;
  for (const char* c : {"open", "high", "low", "close", "volume", "amount"}) {
    const std::string adj = std::string("adj. ") + c;
    if (adjusted && t.has(adj)) src[c] = &t.column(adj);
    else if (t.has(c)) src[c] = &t.column(c);
  }
  for (int64_t r = 0; r < t.rows(); ++r) {
    bool ok = true;
    for (auto& [name, col] : src) ok = ok && std::isfinite((*col)[r]);
    if (!ok) continue;
    s.timestamps.push_back(t.timestamps[r] + t.utc_offsets[r]);
    for (auto& [name, col] : src) s.columns[name].push_back((*col)[r]);
  }
  return s;
}

// Every series of the files (one per symbol in long-format files) with at least `min_rows` rows;
// `skipped` gets one note per series left out.
inline std::vector<MarketSeries> load_series(const std::vector<std::string>& files, int64_t min_rows,
                                             std::vector<std::string>* skipped = nullptr) {
  std::vector<MarketSeries> out;
  for (const std::string& f : files) {
    std::error_code ec;
    FCAST_CHECK(fs::exists(f, ec), "--data: file '", f, "' does not exist");
    const std::vector<std::string> symbols = symbols_in(f);
    std::vector<std::pair<std::string, CsvOptions>> parts;
    if (symbols.empty()) {
      std::string label = fs::path(f).stem().string();
      if (label == "bars") label = fs::path(f).parent_path().filename().string();
      label = label.substr(0, label.find(' '));  // "TSLA-2021-11-21 14:37:52.060172" -> "TSLA-2021-11-21"
      parts.push_back({label, CsvOptions{}});
    } else {
      for (const auto& sym : symbols) parts.push_back({sym, CsvOptions{sym}});
    }
    for (const auto& [label, opt] : parts) {
      MarketSeries s = series_from_table(read_market_csv(f, opt), label);
      if (s.rows() < min_rows) {
        if (skipped)
          skipped->push_back(cat(label, " (", f, "): ", s.rows(), " usable rows, fewer than the ", min_rows,
                                 " needed for the context and the held-out bars"));
        continue;
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

// A forecast window: context rows [origin - context, origin), held-out rows [origin, origin + horizon).
struct Window {
  int64_t origin = 0;
};

// Walk-forward windows of one round: `windows` consecutive origins `horizon` bars apart, placed
// so that round 0 ends at the last bar, round 1 just before round 0's block, and so on (wrapping
// around when the series runs out). Every window's actual bars are held out from its context.
inline std::vector<Window> walk_forward(const MarketSeries& s, int64_t context, int64_t horizon, int64_t windows,
                                        int64_t round) {
  const int64_t block = windows * horizon;
  const int64_t rounds = std::max<int64_t>(1, (s.rows() - context) / block);
  const int64_t r = round % rounds;
  const int64_t first = s.rows() - (r + 1) * block;
  FCAST_ASSERT(first - context >= 0);
  std::vector<Window> out;
  for (int64_t w = 0; w < windows; ++w) out.push_back({first + w * horizon});
  return out;
}

// What the stress test needs from one forecast (the close only).
struct ForecastOut {
  std::vector<double> mean, std, q10, q90;  // per step
};

struct ForecastSettings {
  int64_t context = 512, horizon = 1, num_samples = 128;
  uint64_t seed = 0;
  ForecastLimits limits;  // the request's caps (--max-horizon, --max-samples)
};

// Any registered model through its forecasting session (models/registry.h): the request holds
// the window's context of the model's market variates (those the file has), its timestamps and
// the held-out bars' timestamps; the result's close is what the stress test rates. Options the
// model declares: max_context is set to the context length (the model sees the whole context) and
// samples_per_batch to num_samples (all paths in one batch).
class SessionRunner {
 public:
  explicit SessionRunner(std::shared_ptr<LoadedModel> model) : model_(std::move(model)), session_(model_->new_session()) {}

  ForecastOut forecast(const MarketSeries& s, const Window& w, const ForecastSettings& fs) {
    const ModelEntry& e = model_->entry();
    const int64_t C = fs.context, H = fs.horizon;
    ForecastRequest r;
    SeriesInput in;
    in.id = s.label;
    for (const std::string& v : e.market_variates) {
      auto it = s.columns.find(v);
      if (it == s.columns.end()) continue;
      in.variate_names.push_back(v);
      in.values.emplace_back(it->second.begin() + (w.origin - C), it->second.begin() + w.origin);
    }
    FCAST_CHECK(!in.values.empty(), s.label, ": none of ", e.name, "'s market columns is in ", s.file);
    in.timestamps.assign(s.timestamps.begin() + (w.origin - C), s.timestamps.begin() + w.origin);
    in.future_timestamps.assign(s.timestamps.begin() + w.origin, s.timestamps.begin() + w.origin + H);
    r.series.push_back(std::move(in));
    r.horizon = H;
    r.num_samples = e.draws_samples ? fs.num_samples : 0;  // quantile models draw no paths
    r.seed = fs.seed;
    r.limits = fs.limits;
    r.quantiles = {0.1, 0.9};
    for (const ModelOption& o : e.options)
      if (o.name == "max_context") r.options["max_context"] = std::to_string(C);
      else if (o.name == "samples_per_batch" && fs.num_samples > 0)
        r.options["samples_per_batch"] = std::to_string(fs.num_samples);
    const ForecastResult res = session_->forecast(r);
    const SeriesForecast& f = res.series.at(0);
    size_t close = f.variate_names.size();
    for (size_t v = 0; v < f.variate_names.size(); ++v)
      if (f.variate_names[v] == "close") close = v;
    FCAST_CHECK(close < f.variate_names.size(), e.name, " returned no 'close' forecast");
    ForecastOut out;
    for (int64_t t = 0; t < H; ++t) {
      out.mean.push_back(f.mean[close][t]);
      out.std.push_back(f.std[close][t]);
      out.q10.push_back(f.quantiles[0][close][t]);
      out.q90.push_back(f.quantiles[1][close][t]);
    }
    return out;
  }
  ForecastSession& session() { return *session_; }
  LoadedModel& model() { return *model_; }

 private:
  std::shared_ptr<LoadedModel> model_;
  std::unique_ptr<ForecastSession> session_;
};

inline bool has_random_marker(const std::string& dir) { return has_random_weights_marker(dir); }

inline void check_model_dir(const std::string& dir, const char* flag) {
  std::error_code ec;
  FCAST_CHECK(fs::is_directory(dir, ec), flag, " '", dir, "' does not exist or is not a directory");
  for (const char* f : {"config.json", "model.safetensors"})
    FCAST_CHECK(fs::exists(fs::path(dir) / f, ec), flag, " '", dir, "' has no ", f,
                " (expected a checkpoint folder with config.json and model.safetensors)");
}

// A bench workload's request (fcast bench, models/registry.h BenchWorkload): `series` random series of `context` steps, either random OHLCV bars
// (5-minute bars, named by the model's market variates) or `variates` random walks, all drawn
// from the workload's data seed, so every run and version forecasts the same numbers.
inline ForecastRequest bench_request(const ModelEntry& e, const BenchWorkload& w) {
  ForecastRequest r;
  r.horizon = w.horizon;
  r.num_samples = w.samples;
  r.seed = 0;
  r.options = w.options;
  r.quantiles.clear();  // the timed work is the forecast; summaries of the paths are not asked for
  Rng walk(w.data_seed);
  for (int64_t b = 0; b < w.series; ++b) {
    SeriesInput in;
    in.id = cat("series", b);
    if (w.market_bars) {
      Rng rng(w.data_seed + static_cast<uint64_t>(b));
      std::map<std::string, std::vector<double>> col;
      double c = 100;
      for (int64_t t = 0; t < w.context; ++t) {
        in.timestamps.push_back(1700000000 + 300 * t);
        const double o = c;
        c = o * (1 + 0.002 * rng.normal());
        col["open"].push_back(o);
        col["high"].push_back(std::max(o, c) * 1.001);
        col["low"].push_back(std::min(o, c) * 0.999);
        col["close"].push_back(c);
        col["volume"].push_back(1000 + 100 * rng.uniform());
        col["amount"].push_back(col["volume"].back() * c);
      }
      for (int64_t t = 0; t < w.horizon; ++t) in.future_timestamps.push_back(in.timestamps.back() + 300 * (t + 1));
      for (const std::string& v : e.market_variates) {
        auto it = col.find(v);
        FCAST_CHECK(it != col.end(), "bench: ", e.name, " forecasts from a market column '", v,
                    "' that random bars do not have");
        in.variate_names.push_back(v);
        in.values.push_back(it->second);
      }
    } else {
      for (int64_t v = 0; v < w.variates; ++v) {
        const int64_t row = b * w.variates + v;
        std::vector<double> x;
        float level = 100.0f + 10.0f * static_cast<float>(row);
        for (int64_t t = 0; t < w.context; ++t) x.push_back(level += static_cast<float>(walk.normal()));
        in.values.push_back(std::move(x));
      }
    }
    r.series.push_back(std::move(in));
  }
  return r;
}

}  // namespace fcast::stress

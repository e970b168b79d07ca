#include "serve/drift.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"

namespace fcast::serve {

namespace {

// Mean of the finite values; NaN when there is none.
template <class Get>
double mean_of(const std::deque<DriftScore>& scores, Get get) {
  double sum = 0;
  int64_t n = 0;
  for (const DriftScore& s : scores) {
    const double v = get(s);
    if (std::isfinite(v)) {
      sum += v;
      ++n;
    }
  }
  return n ? sum / static_cast<double>(n) : kNaN;
}

}  // namespace

DriftScore score_forecast(const StoredForecast& f, const SeriesActuals& a, std::vector<std::vector<uint8_t>>& scored) {
  DriftScore s;
  s.id = f.id;
  s.origin = f.origin;
  s.status = DriftScore::Status::kNoMatch;
  const size_t V = f.mean.size();
  // Actual variate k -> forecast variate (or -1: not forecast).
  std::vector<int> to_forecast(a.values.size(), -1);
  if (a.variate_names.empty()) {
    if (a.values.size() != V) {
      s.note = cat("the actuals have ", a.values.size(), " unnamed variate(s), the forecast has ", V,
                   "; name them (variates) to match");
      return s;
    }
    for (size_t k = 0; k < V; ++k) to_forecast[k] = static_cast<int>(k);
  } else {
    for (size_t k = 0; k < a.variate_names.size() && k < a.values.size(); ++k)
      for (size_t v = 0; v < V && v < f.variate_names.size(); ++v)
        if (f.variate_names[v] == a.variate_names[k]) to_forecast[k] = static_cast<int>(v);
    if (std::all_of(to_forecast.begin(), to_forecast.end(), [](int v) { return v < 0; })) {
      std::string names;
      for (const std::string& n : f.variate_names) names += (names.empty() ? "" : ", ") + n;
      s.note = cat("no variate of the actuals is one of the forecast's (", names, ")");
      return s;
    }
  }
  std::unordered_map<int64_t, size_t> step_of;
  for (size_t h = 0; h < f.timestamps.size(); ++h) step_of.emplace(f.timestamps[h], h);
  const bool interval = !f.lower.empty() && !f.upper.empty();
  double abs_sum = 0, sq_sum = 0, actual_abs_sum = 0, ape_sum = 0;
  int64_t ape_n = 0, covered = 0, matched = 0;
  std::vector<uint8_t> step_scored(f.timestamps.size(), 0);
  for (size_t k = 0; k < a.values.size(); ++k) {
    if (to_forecast[k] < 0) continue;
    const size_t v = static_cast<size_t>(to_forecast[k]);
    for (size_t t = 0; t < a.timestamps.size() && t < a.values[k].size(); ++t) {
      auto it = step_of.find(a.timestamps[t]);
      if (it == step_of.end()) continue;
      if (!a.observed.empty() && !a.observed[k][t]) continue;
      const size_t h = it->second;
      const double actual = a.values[k][t], point = f.mean[v][h];
      if (!std::isfinite(actual) || !std::isfinite(point)) continue;
      ++matched;
      if (scored[v][h]) {
        ++s.already_scored;
        continue;
      }
      scored[v][h] = 1;
      step_scored[h] = 1;
      ++s.values;
      const double err = point - actual;
      abs_sum += std::fabs(err);
      sq_sum += err * err;
      actual_abs_sum += std::fabs(actual);
      if (actual != 0) {
        ape_sum += std::fabs(err) / std::fabs(actual);
        ++ape_n;
      }
      if (interval && actual >= f.lower[v][h] && actual <= f.upper[v][h]) ++covered;
    }
  }
  s.steps = std::count(step_scored.begin(), step_scored.end(), 1);
  if (s.values == 0) {
    s.note = matched ? "every matched step was scored before"
             : f.timestamps.empty()
                 ? "the stored forecast has no timestamps"
                 : cat("no timestamp matches a forecast step (the stored forecast, origin ", f.origin, ", covers ",
                       f.timestamps.front(), " .. ", f.timestamps.back(), ")");
    return s;
  }
  const double n = static_cast<double>(s.values);
  s.status = DriftScore::Status::kScored;
  s.mae = abs_sum / n;
  s.rmse = std::sqrt(sq_sum / n);
  if (ape_n) s.mape = ape_sum / static_cast<double>(ape_n);
  if (actual_abs_sum > 0) s.wape = abs_sum / actual_abs_sum;
  if (interval) s.coverage = static_cast<double>(covered) / n;
  return s;
}

bool drift_inputs(const SeriesInput& in, const SeriesForecast& f, const std::vector<double>& quantile_levels,
                  StoredForecast& next, SeriesActuals& bars) {
  if (in.id.empty() || in.timestamps.empty() || f.timestamps.empty() || f.mean.empty()) return false;
  next = StoredForecast{};
  next.id = in.id;
  next.origin = in.timestamps.back();
  next.timestamps = f.timestamps;
  next.variate_names = f.variate_names;
  next.mean = f.mean;
  if (quantile_levels.size() >= 2 && f.quantiles.size() == quantile_levels.size()) {
    const auto [lo, hi] = std::minmax_element(quantile_levels.begin(), quantile_levels.end());
    if (*lo < *hi) {
      next.lower = f.quantiles[static_cast<size_t>(lo - quantile_levels.begin())];
      next.upper = f.quantiles[static_cast<size_t>(hi - quantile_levels.begin())];
      next.lower_level = *lo;
      next.upper_level = *hi;
    }
  }
  bars = SeriesActuals{};
  bars.id = in.id;
  bars.variate_names = in.variate_names;  // none: by position
  bars.timestamps = in.timestamps;
  bars.values = in.values;
  bars.observed = in.observed;
  return true;
}

std::string drift_alert_state(const std::vector<double>& deltas) {
  const size_t n = deltas.size();
  if (n < static_cast<size_t>(kAlertScores)) return "insufficient";
  double sum = 0;
  size_t pos = 0;
  for (double d : deltas) {
    sum += d;
    pos += d > 0 ? 1 : 0;
  }
  const double mean = sum / static_cast<double>(n);
  if (std::fabs(mean) > 0.01) return mean > 0 ? "promote" : "regress";
  if (std::fabs(mean) > 0.005) return "watch";
  if (static_cast<double>(pos) / static_cast<double>(n) <= 0.3) return "regress";
  return "ok";
}

DriftStore::DriftStore(DriftOptions o) : o_(std::move(o)) {
  FCAST_CHECK(o_.max_series >= 1, "--drift-max-series must be >= 1, got ", o_.max_series);
  FCAST_CHECK(o_.window >= 1, "--drift-window must be >= 1, got ", o_.window);
  for (const auto& [model, b] : o_.baseline_wape)
    FCAST_CHECK(std::isfinite(b) && b > 0, "--drift-baseline-wape ", model, "=", b, ": the baseline must be > 0");
}

DriftStore::ModelStats& DriftStore::stats(const std::string& model) {
  auto [it, fresh] = models_.try_emplace(model);
  if (fresh) {
    auto b = o_.baseline_wape.find(model);
    if (b != o_.baseline_wape.end()) {
      it->second.baseline = b->second;
      it->second.baseline_source = "flag";
    }
  }
  return it->second;
}

void DriftStore::touch(Entry& e) { lru_.splice(lru_.begin(), lru_, e.lru); }

DriftOutcome DriftStore::score_locked(const std::string& model, Entry& e, const SeriesActuals& a) {
  DriftOutcome out;
  out.score = score_forecast(e.forecast, a, e.scored);
  if (out.score.status != DriftScore::Status::kScored) return out;
  out.scored = true;
  touch(e);
  ModelStats& m = stats(model);
  ++m.scores;
  m.scored_values += out.score.values;
  if (std::isfinite(out.score.wape)) {
    if (std::isnan(m.baseline)) {
      m.learning.push_back(out.score.wape);
      if (static_cast<int>(m.learning.size()) == kAlertScores) {
        double sum = 0;
        for (double w : m.learning) sum += w;
        m.baseline = sum / kAlertScores;
        m.baseline_source = "first 5 scores";
        // A perfect start (WAPE 0) leaves nothing to compare against: learn again.
        if (!(m.baseline > 0)) m.baseline = kNaN;
        m.learning.clear();
      }
    } else {
      out.score.delta = (m.baseline - out.score.wape) / m.baseline;
      m.deltas.push_back(out.score.delta);
      while (static_cast<int>(m.deltas.size()) > kAlertScores) m.deltas.pop_front();
    }
  }
  m.rolling.push_back(out.score);
  while (static_cast<int64_t>(m.rolling.size()) > o_.window) m.rolling.pop_front();
  return out;
}

DriftOutcome DriftStore::record(const std::string& model, const SeriesActuals& input, StoredForecast next) {
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{model, next.id};
  auto it = entries_.find(key);
  DriftOutcome out;
  if (it != entries_.end()) {
    Entry& e = it->second;
    out = score_locked(model, e, input);
    bool all_scored = true;
    for (const auto& v : e.scored) all_scored = all_scored && std::all_of(v.begin(), v.end(), [](uint8_t x) { return x; });
    if (next.origin >= e.forecast.origin || all_scored) {
      e.scored.assign(next.mean.size(), std::vector<uint8_t>(next.timestamps.size(), 0));
      e.forecast = std::move(next);
    }
    touch(e);
    return out;
  }
  Entry& e = entries_[key];
  e.model = model;
  e.scored.assign(next.mean.size(), std::vector<uint8_t>(next.timestamps.size(), 0));
  e.forecast = std::move(next);
  lru_.push_front(key);
  e.lru = lru_.begin();
  ++stats(model).tracked;
  while (static_cast<int64_t>(entries_.size()) > o_.max_series) {
    const Key oldest = lru_.back();
    lru_.pop_back();
    ModelStats& m = stats(oldest.first);
    --m.tracked;
    ++m.evicted;
    out.evicted.push_back(oldest.first);
    entries_.erase(oldest);
  }
  return out;
}

DriftOutcome DriftStore::score(const std::string& model, const SeriesActuals& actuals) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(Key{model, actuals.id});
  if (it == entries_.end()) {
    DriftOutcome out;
    out.score.id = actuals.id;
    out.score.status = DriftScore::Status::kNotFound;
    out.score.note = cat("no forecast of series '", actuals.id, "' by ", model,
                         " is stored (never forecast with timestamps, or evicted)");
    return out;
  }
  return score_locked(model, it->second, actuals);
}

void DriftStore::add_model(const std::string& model) {
  std::lock_guard<std::mutex> lock(mu_);
  stats(model);
}

std::vector<std::string> DriftStore::models() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, m] : models_) out.push_back(name);
  return out;
}

DriftModelReport DriftStore::report(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  DriftModelReport r;
  auto it = models_.find(model);
  if (it == models_.end()) {
    auto b = o_.baseline_wape.find(model);
    if (b != o_.baseline_wape.end()) {
      r.baseline = b->second;
      r.baseline_source = "flag";
    } else {
      r.baseline_source = cat("learning (0 of ", kAlertScores, " scores)");
    }
    return r;
  }
  const ModelStats& m = it->second;
  r.baseline = m.baseline;
  r.baseline_source = std::isnan(m.baseline) ? cat("learning (", m.learning.size(), " of ", kAlertScores, " scores)")
                                              : m.baseline_source;
  r.scores = m.scores;
  r.scored_values = m.scored_values;
  r.tracked_series = m.tracked;
  r.evicted = m.evicted;
  r.rolling_scores = static_cast<int64_t>(m.rolling.size());
  r.mae = mean_of(m.rolling, [](const DriftScore& s) { return s.mae; });
  r.rmse = mean_of(m.rolling, [](const DriftScore& s) { return s.rmse; });
  r.mape = mean_of(m.rolling, [](const DriftScore& s) { return s.mape; });
  r.wape = mean_of(m.rolling, [](const DriftScore& s) { return s.wape; });
  r.coverage = mean_of(m.rolling, [](const DriftScore& s) { return s.coverage; });
  r.deltas.assign(m.deltas.begin(), m.deltas.end());
  r.state = drift_alert_state(r.deltas);
  r.last.assign(m.rolling.begin(), m.rolling.end());
  return r;
}

}  // namespace fcast::serve

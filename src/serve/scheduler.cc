#include "serve/scheduler.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"

namespace fcast::serve {

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// A seeded random walk (a constant series gives the scaler a zero scale, a path no real
// forecast takes).
SeriesInput dummy_series(int64_t length, int64_t variates, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d(0, 1);
  SeriesInput s;
  for (int64_t v = 0; v < variates; ++v) {
    std::vector<double> x(static_cast<size_t>(length));
    double level = 100;
    for (auto& e : x) e = level += d(g);
    s.values.push_back(std::move(x));
  }
  for (int64_t t = 0; t < length; ++t) s.timestamps.push_back(1'700'006'400 + 86400 * t);
  return s;
}

bool same_numbers(const SeriesForecast& a, const SeriesForecast& b) {
  return a.mean == b.mean && a.quantiles == b.quantiles && a.samples == b.samples;
}

int64_t nonfinite(const SeriesForecast& f) {
  int64_t n = 0;
  for (const auto& v : f.mean)
    for (float x : v) n += std::isfinite(x) ? 0 : 1;
  return n;
}

}  // namespace

std::string recompile_reason_label(const std::string& reason) {
  // "context 64 -> 128, batch 1 -> 2": the field names, sorted, joined by '+'.
  std::vector<std::string> fields;
  size_t at = 0;
  while (at < reason.size()) {
    size_t end = reason.find(", ", at);
    if (end == std::string::npos) end = reason.size();
    const std::string part = reason.substr(at, end - at);
    const std::string field = part.substr(0, part.find(' '));
    if (!field.empty()) fields.push_back(field);
    at = end + 2;
  }
  std::sort(fields.begin(), fields.end());
  fields.erase(std::unique(fields.begin(), fields.end()), fields.end());
  std::string out;
  for (const std::string& f : fields) out += (out.empty() ? "" : "+") + f;
  return out.empty() ? "unknown" : out;
}

ModelScheduler::ModelScheduler(std::string name, std::shared_ptr<LoadedModel> model, SchedulerOptions o, Metrics* metrics,
                               ComputeThread* compute)
    : name_(std::move(name)),
      model_(std::move(model)),
      session_(model_->new_session()),
      opts_(o),
      metrics_(metrics),
      compute_(compute) {
  FCAST_CHECK(opts_.max_batch >= 1, "--max-batch must be >= 1, got ", opts_.max_batch);
  FCAST_CHECK(opts_.queue_size >= 1, "--queue-size must be >= 1, got ", opts_.queue_size);
  executor_name_ = session_->executors().empty() ? "" : session_->executors().front()->name();
  metrics_->set("queue_depth", {{"model", name_}}, 0);
  metrics_->inc("nonfinite_outputs_total", {{"model", name_}}, 0);
}

ModelScheduler::~ModelScheduler() { drain(); }

std::vector<std::string> ModelScheduler::warm_up(const WarmUpSpec& spec) {
  if (!compute_) return warm_up_here(spec);
  std::vector<std::string> lines;
  compute_->run([&] { lines = warm_up_here(spec); });
  return lines;
}

std::vector<std::string> ModelScheduler::warm_up_here(const WarmUpSpec& spec) {
  std::vector<std::string> lines;
  const ModelEntry& e = model_->entry();
  // Probe: does a forecast give the same numbers alone and next to another series (with another
  // seed), as a point forecast and with sample paths? The sessions give each series its own random
  // stream, so only the arithmetic could differ (a kernel whose blocking depends on the batch).
  const int64_t probe_len = spec.context_lengths.empty() ? 64 : spec.context_lengths.front();
  // A model that reads several named market columns (Kronos: OHLCV + amount) gets them all.
  const int64_t V = e.market_variates.size() > 1 ? static_cast<int64_t>(e.market_variates.size()) : spec.variates;
  ForecastRequest alone;
  alone.horizon = spec.horizon;
  alone.series = {dummy_series(probe_len, V, 1), dummy_series(probe_len, V, 2)};
  for (SeriesInput& s : alone.series)
    for (size_t v = 0; v < s.values.size(); ++v)
      s.variate_names.push_back(v < e.market_variates.size() ? e.market_variates[v] : cat("v", v));
  ForecastRequest pair = alone;
  pair.series_seeds = {3, 4};
  alone.series.resize(1);
  alone.seed = 3;
  batch_invariant_ = true;
  for (int64_t samples : {int64_t{0}, int64_t{4}}) {
    alone.num_samples = pair.num_samples = samples;
    try {
      const ForecastResult a = session_->forecast(alone), b = session_->forecast(pair);
      batch_invariant_ = batch_invariant_ && same_numbers(a.series[0], b.series[0]);
    } catch (const Error& err) {
      lines.push_back(cat("batch probe failed (requests will run one by one): ", err.what()));
      batch_invariant_ = false;
    }
  }
  pair.num_samples = 0;
  lines.push_back(cat("forecasts ", batch_invariant_ ? "are" : "are NOT",
                      " batch-invariant: concurrent requests ", batching() ? "share runs" : "run one by one"));
  if (batching()) {
    // The batched plans (the batch size is part of a plan's signature), before the model is warm:
    // every warm-up context and sample count, batches of 2..max_batch series.
    for (int64_t len : spec.context_lengths)
      for (int64_t samples : spec.num_samples)
        for (int64_t b = 2; b <= opts_.max_batch; ++b) {
          ForecastRequest r;
          r.horizon = spec.horizon;
          r.num_samples = samples;
          r.options = spec.options;
          r.seed = spec.seed;
          for (int64_t k = 0; k < b; ++k) {
            r.series.push_back(dummy_series(len, V, 10 + static_cast<uint64_t>(k)));
            r.series.back().variate_names = pair.series[0].variate_names;
          }
          const auto t0 = Clock::now();
          session_->forecast(r);
          lines.push_back(cat("context ", len, ", ", samples, " samples, batch of ", b, " in ",
                              seconds_between(t0, Clock::now()), " s"));
        }
  }
  for (const WarmUpStep& s : session_->warm_up(spec)) lines.push_back(s.describe());
  publish_stats();
  return lines;
}

void ModelScheduler::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!worker_.joinable() && !stopping_) worker_ = std::thread([this] { loop(); });
}

std::future<JobOutcome> ModelScheduler::submit(ForecastRequest r, Clock::time_point deadline) {
  auto job = std::make_unique<Job>();
  job->request = std::move(r);
  job->enqueued = Clock::now();
  job->deadline = deadline;
  std::future<JobOutcome> f = job->promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) throw ApiError(503, "shutting_down", "the server is shutting down; retry on another replica");
    if (static_cast<int64_t>(queue_.size()) >= opts_.queue_size)
      throw ApiError(429, "queue_full",
                     cat("model '", name_, "' has ", queue_.size(), " requests waiting (--queue-size ", opts_.queue_size,
                         "); retry later"));
    queue_.push_back(std::move(job));
    metrics_->set("queue_depth", {{"model", name_}}, static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
  return f;
}

int64_t ModelScheduler::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(queue_.size());
}

void ModelScheduler::drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // Never started (no warm-up finished): answer whatever waits.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& j : queue_) {
    JobOutcome o;
    o.error = ApiError(503, "shutting_down", "the server shut down before this request ran");
    j->promise.set_value(std::move(o));
  }
  queue_.clear();
}

bool ModelScheduler::shareable(const ForecastRequest&) const { return batching(); }

bool ModelScheduler::compatible(const ForecastRequest& a, const ForecastRequest& b) {
  return a.horizon == b.horizon && a.num_samples == b.num_samples && a.quantiles == b.quantiles && a.options == b.options;
}

void ModelScheduler::loop() {
  for (;;) {
    std::vector<std::unique_ptr<Job>> group;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
      const ForecastRequest& first = group.front()->request;
      if (shareable(first)) {
        int64_t series = static_cast<int64_t>(first.series.size());
        const auto until = Clock::now() + opts_.batch_wait;
        for (;;) {
          for (auto it = queue_.begin(); it != queue_.end() && series < opts_.max_batch;) {
            const ForecastRequest& r = (*it)->request;
            const int64_t n = static_cast<int64_t>(r.series.size());
            if (shareable(r) && compatible(first, r) && series + n <= opts_.max_batch) {
              series += n;
              group.push_back(std::move(*it));
              it = queue_.erase(it);
            } else {
              ++it;
            }
          }
          // A draining server does not wait for company.
          if (series >= opts_.max_batch || stopping_ || Clock::now() >= until) break;
          cv_.wait_until(lock, until);
        }
      }
      metrics_->set("queue_depth", {{"model", name_}}, static_cast<double>(queue_.size()));
    }
    if (compute_)
      compute_->run([&] { run_group(group); });
    else
      run_group(group);
  }
}

void ModelScheduler::run_alone(Job& job, JobOutcome& out) {
  try {
    out.result = session_->forecast(job.request);
    out.ok = true;
  } catch (const Error& e) {
    const std::string m = e.what();
    out.error = m.rfind("internal error", 0) == 0 ? ApiError(500, "internal", m) : ApiError(400, "invalid_request", m);
  } catch (const std::exception& e) {
    out.error = ApiError(500, "internal", e.what());
  }
}

void ModelScheduler::run_group(std::vector<std::unique_ptr<Job>>& group) {
  const Labels model{{"model", name_}};
  const auto start = Clock::now();
  std::vector<std::unique_ptr<Job>> live;
  for (auto& j : group) {
    metrics_->observe("queue_seconds", model, seconds_between(j->enqueued, start));
    if (start > j->deadline) {
      JobOutcome o;
      o.queue_seconds = seconds_between(j->enqueued, start);
      o.error = ApiError(504, "deadline_exceeded",
                         cat("the request waited ", o.queue_seconds, " s in model '", name_,
                             "''s queue, past its deadline; retry later or raise the timeout"));
      j->promise.set_value(std::move(o));
    } else {
      live.push_back(std::move(j));
    }
  }
  if (live.empty()) return;
  std::vector<JobOutcome> outs(live.size());
  int64_t series = 0;
  for (auto& j : live) series += static_cast<int64_t>(j->request.series.size());
  bool merged_ok = false;
  if (live.size() > 1) {
    // Each series keeps its own request's seed (and so its own random stream).
    ForecastRequest merged = live.front()->request;
    merged.series.clear();
    merged.series_seeds.clear();
    for (auto& j : live)
      for (size_t s = 0; s < j->request.series.size(); ++s) {
        merged.series.push_back(j->request.series[s]);
        merged.series_seeds.push_back(j->request.series_seeds.empty() ? j->request.seed : j->request.series_seeds[s]);
      }
    try {
      ForecastResult all = session_->forecast(merged);
      size_t at = 0;
      for (size_t k = 0; k < live.size(); ++k) {
        JobOutcome& o = outs[k];
        o.ok = true;
        o.result.quantile_levels = all.quantile_levels;
        o.result.metadata = all.metadata;
        for (size_t s = 0; s < live[k]->request.series.size(); ++s) o.result.series.push_back(std::move(all.series[at++]));
      }
      merged_ok = true;
    } catch (const std::exception&) {
      // One bad request must not fail its neighbours: each runs alone and gets its own error.
    }
  }
  if (!merged_ok) {
    series = 0;
    for (size_t k = 0; k < live.size(); ++k) {
      run_alone(*live[k], outs[k]);
      outs[k].batch_series = static_cast<int64_t>(live[k]->request.series.size());
    }
  }
  const auto end = Clock::now();
  const double run_s = seconds_between(start, end);
  metrics_->observe("model_run_seconds", model, run_s);
  // One observation per session run: the gathered run, or each request run alone.
  if (merged_ok) metrics_->observe("batch_series", model, static_cast<double>(series));
  else
    for (const JobOutcome& o : outs) metrics_->observe("batch_series", model, static_cast<double>(o.batch_series));
  for (size_t k = 0; k < live.size(); ++k) {
    JobOutcome& o = outs[k];
    o.queue_seconds = seconds_between(live[k]->enqueued, start);
    o.run_seconds = run_s;
    if (merged_ok) o.batch_series = series;
    if (o.ok) {
      int64_t bad = 0;
      for (const SeriesForecast& f : o.result.series) bad += nonfinite(f);
      if (bad) metrics_->inc("nonfinite_outputs_total", model, static_cast<double>(bad));
    }
  }
  // The counters first: a client that reads /metrics right after its answer sees its run.
  publish_stats();
  for (size_t k = 0; k < live.size(); ++k) live[k]->promise.set_value(std::move(outs[k]));
}

void ModelScheduler::publish_stats() {
  const ExecutorStats now = session_->stats();
  const Labels model{{"model", name_}};
  auto add = [&](const char* metric, int64_t cur, int64_t& was, Labels l) {
    if (cur > was) metrics_->inc(metric, l, static_cast<double>(cur - was));
    else metrics_->inc(metric, l, 0);  // the series exists from the start (0, not absent)
    was = cur;
  };
  add("plans_built_total", now.plans_built, published_.plans_built, model);
  // Recompiles by reason: the signature fields that differed from the nearest plan built
  // before (e.g. "context", "batch+context"), from the plan store's explanation.
  std::vector<std::string> reasons;
  for (Executor* x : session_->executors())
    for (const std::string& r : x->recompile_reasons()) reasons.push_back(r);
  for (size_t k = published_reasons_; k < reasons.size(); ++k)
    metrics_->inc("recompiles_by_reason_total", {{"model", name_}, {"reason", recompile_reason_label(reasons[k])}}, 1);
  published_reasons_ = std::max(published_reasons_, reasons.size());
  add("recompiles_total", now.recompiles, published_.recompiles, model);
  add("eager_fallbacks_total", now.fallbacks_to_eager, published_.fallbacks_to_eager, model);
  add("persistent_cache_hits_total", now.cache_hits, published_.cache_hits, model);
  add("persistent_cache_misses_total", now.cache_misses, published_.cache_misses, model);
  add("graph_runs_total", now.runs, published_.runs, model);
}

}  // namespace fcast::serve

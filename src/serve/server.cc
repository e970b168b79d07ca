#include "serve/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace fcast::serve {

namespace {

using ojson = nlohmann::ordered_json;

void send_json(httplib::Response& res, int status, const ojson& j) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, error_json(e)); }

nlohmann::json parse_body(const httplib::Request& req) {
  try {
    return nlohmann::json::parse(req.body);
  } catch (const nlohmann::json::exception& e) {
    throw ApiError(400, "invalid_json", cat("the body is not valid JSON: ", e.what()));
  }
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Constant-time comparison: the key's length leaks, its content does not.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t k = 0; k < a.size(); ++k) diff |= static_cast<unsigned char>(a[k] ^ (k < b.size() ? b[k] : 0));
  return diff == 0;
}

// The drift gauges of every model, from the store's reports (run by render()).
void publish_drift(Metrics& m, const DriftStore& store) {
  for (const std::string& model : store.models()) {
    const DriftModelReport r = store.report(model);
    const Labels l = {{"model", model}};
    m.set("drift_tracked_series", l, static_cast<double>(r.tracked_series));
    // Rolling values only once defined (Prometheus reads an absent series better than a NaN).
    const std::pair<const char*, double> rolling[] = {{"drift_mae", r.mae},   {"drift_rmse", r.rmse},
                                                      {"drift_mape", r.mape}, {"drift_wape", r.wape},
                                                      {"drift_coverage", r.coverage}, {"drift_baseline_wape", r.baseline}};
    for (const auto& [name, v] : rolling)
      if (std::isfinite(v)) m.set(name, l, v);
    for (const std::string& state : drift_alert_states())
      m.set("drift_alert", {{"model", model}, {"state", state}}, state == r.state ? 1 : 0);
  }
}

}  // namespace

void define_serve_metrics(Metrics& m) {
  m.define_counter("requests_total", "HTTP requests answered, by endpoint, model and status code");
  m.define_histogram("request_seconds", "Time from a request's arrival to its answer (forecast endpoints)",
                     Metrics::latency_buckets());
  m.define_histogram("queue_seconds", "Time a forecast request waited in its model's queue", Metrics::latency_buckets());
  m.define_histogram("model_run_seconds", "Time of one scheduler run of the session (a gathered batch or one request)",
                     Metrics::latency_buckets());
  m.define_histogram("batch_series", "Series per session run (1 = no batching)", {1, 2, 4, 8, 16, 32, 64, 128});
  m.define_gauge("queue_depth", "Requests waiting in a model's queue (the autoscaling signal)");
  m.define_gauge("requests_in_flight", "Forecast requests received and not yet answered");
  m.define_counter("plans_built_total", "Compiled plans built by the serving session (warm-up included)");
  m.define_counter("recompiles_total", "Plans built after warm-up (should stay 0)");
  m.define_counter("recompiles_by_reason_total",
                   "Plans built after warm-up, by the plan-signature fields that differed from the nearest warm plan");
  m.define_counter("eager_fallbacks_total", "Calls run eagerly because the recompile limit was reached");
  m.define_counter("persistent_cache_hits_total", "Plans loaded from the persistent cache");
  m.define_counter("persistent_cache_misses_total", "Persistent-cache lookups that had to build");
  m.define_counter("graph_runs_total", "Graph executions of the serving session");
  m.define_counter("nonfinite_outputs_total", "Non-finite mean forecast values returned");
  m.define_gauge("process_resident_memory_bytes", "Resident set size of the process (VmRSS)");
  m.define_gauge("process_peak_resident_memory_bytes", "Peak resident set size of the process (VmHWM)");
  m.define_gauge("model_load_seconds", "Seconds to load a model (weights and compiled model)");
  m.define_gauge("model_warm_up_seconds", "Seconds of a model's warm-up before the server became ready");
  m.define_gauge("ready", "1 when the server answers forecasts, 0 while loading or draining");
  m.define_counter("drift_scores_total", "Drift scoring events: an earlier forecast scored against newly realised values");
  m.define_counter("drift_scored_steps_total", "Forecast time steps scored against realised values (each step once)");
  m.define_counter("drift_series_evicted_total", "Tracked series evicted from the drift store at its cap (--drift-max-series)");
  m.define_gauge("drift_tracked_series", "Series whose latest forecast is kept for drift scoring");
  m.define_gauge("drift_mae", "Mean MAE of the last --drift-window scores (series units: mixes scales)");
  m.define_gauge("drift_rmse", "Mean RMSE of the last --drift-window scores (series units)");
  m.define_gauge("drift_mape", "Mean MAPE (a ratio; zero actuals skipped) of the last --drift-window scores");
  m.define_gauge("drift_wape", "Mean WAPE (MAE / mean |actual|, scale-free) of the last --drift-window scores");
  m.define_gauge("drift_coverage", "Mean share of actuals inside the forecast interval (outermost quantiles), last --drift-window scores");
  m.define_gauge("drift_baseline_wape", "The WAPE the alert deltas compare against (--drift-baseline-wape, or the first 5 scores)");
  m.define_gauge("drift_alert", "Drift alert state over the last 5 scores: 1 for the current state (ok, watch, regress, promote, insufficient)");
  m.add_collector([](Metrics& self) {
    self.set("process_resident_memory_bytes", {}, static_cast<double>(process_rss_bytes()));
    self.set("process_peak_resident_memory_bytes", {}, static_cast<double>(process_peak_rss_bytes()));
  });
  m.set("requests_in_flight", {}, 0);
  m.set("ready", {}, 0);
}

HttpServer::HttpServer(ServeOptions o, Metrics* metrics)
    : http_(std::make_unique<httplib::Server>()), o_(std::move(o)), metrics_(metrics),
      drift_(std::make_shared<DriftStore>(o_.drift)) {
  routes();
  metrics_->add_collector([d = drift_](Metrics& m) { publish_drift(m, *d); });
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  const int threads = o_.http_threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http_->set_payload_max_length(static_cast<size_t>(o_.max_body_bytes));
  // Small answers must leave at once: with Nagle's algorithm on, a keep-alive client that
  // delays its ACKs added ~40 ms per request (measured with `fcast loadtest`: p50 90 ms for a
  // 0.1 ms forecast). Accepted sockets inherit TCP_NODELAY from the listening one.
  http_->set_tcp_nodelay(true);
  // Debian's libcpp-httplib listens with a backlog of 5: a burst of simultaneous clients then
  // overflows the accept queue (the 7th connection of a burst went unanswered in tests). The
  // listening socket is caught here and listen() is called again with the system's maximum.
  int listen_fd = -1;
  http_->set_socket_options([&listen_fd](socket_t fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);  // what httplib's default option set does
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    listen_fd = fd;
  });
  int port = o_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(o_.host);
    FCAST_CHECK(port > 0, "cannot listen on ", o_.host, " (an ephemeral port)");
  } else {
    FCAST_CHECK(http_->bind_to_port(o_.host, port), "cannot listen on ", o_.host, ":", port,
                " (in use, or not an address of this machine); choose another --port or --host");
  }
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  return port;
}

void HttpServer::start() {
  listener_ = std::thread([this] { http_->listen_after_bind(); });
}

void HttpServer::add_model(const std::string& name, std::shared_ptr<ModelScheduler> s) {
  served_[name] = ServedModel{&s->model().entry(), &s->model()};
  schedulers_[name] = std::move(s);
  drift_->add_model(name);
  for (const char* c : {"drift_scores_total", "drift_scored_steps_total", "drift_series_evicted_total"})
    metrics_->inc(c, {{"model", name}}, 0);
}

void HttpServer::count_drift(const std::string& model, const DriftOutcome& o) {
  if (o.scored) {
    metrics_->inc("drift_scores_total", {{"model", model}});
    metrics_->inc("drift_scored_steps_total", {{"model", model}}, static_cast<double>(o.score.steps));
  }
  for (const std::string& m : o.evicted) metrics_->inc("drift_series_evicted_total", {{"model", m}});
}

void HttpServer::record_drift(const std::string& model, const ForecastRequest& req, const ForecastResult& res) {
  // The forecast is answered whatever happens here: drift is monitoring, not the service.
  try {
    for (size_t k = 0; k < req.series.size() && k < res.series.size(); ++k) {
      StoredForecast next;
      SeriesActuals bars;
      if (drift_inputs(req.series[k], res.series[k], res.quantile_levels, next, bars))
        count_drift(model, drift_->record(model, bars, std::move(next)));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fcast serve: drift scoring of a %s forecast failed: %s\n", model.c_str(), e.what());
  }
}

void HttpServer::set_ready(bool ready) {
  ready_.store(ready);
  metrics_->set("ready", {}, ready ? 1 : 0);
}

void HttpServer::stop() {
  draining_.store(true);
  metrics_->set("ready", {}, 0);
  if (listener_.joinable()) {
    http_->stop();
    listener_.join();  // the thread pool finishes every request it holds before listen returns
  }
}

void HttpServer::routes() {
  httplib::Server& s = *http_;
  // Authentication first: every endpoint but /health needs the bearer token when one is set.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (o_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.compare(0, prefix.size(), prefix) == 0 && same_secret(auth.substr(prefix.size()), o_.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    metrics_->inc("requests_total", {{"endpoint", req.path.rfind("/v1/", 0) == 0 ? req.path : "other"}, {"model", ""}, {"status", "401"}});
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, ApiError(401, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <--api-key>)"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Answers httplib gives without a handler (unknown path 404, body over the limit 413) in JSON.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      metrics_->inc("requests_total", {{"endpoint", req.path.rfind("/v1/", 0) == 0 ? req.path : "other"}, {"model", ""}, {"status", "413"}});
      send_error(res, ApiError(413, "body_too_large",
                               cat("the request body is larger than the server takes (", o_.max_body_bytes,
                                   " bytes, --max-body-bytes)")));
    } else if (res.status == 404) {
      metrics_->inc("requests_total", {{"endpoint", "other"}, {"model", ""}, {"status", "404"}});
      send_error(res, ApiError(404, "not_found",
                               cat("no endpoint ", req.method, " ", req.path,
                                   "; endpoints: POST /v1/forecast, POST /v1/timeseries/forecast, POST /v1/actuals, "
                                   "GET /v1/models, GET /v1/drift, GET /health, GET /ready, GET /metrics")));
    } else {
      send_error(res, ApiError(res.status, "http_error", cat("HTTP ", res.status)));
    }
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, "internal", "internal error: " + what));
  });

  s.Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, {{"status", "ok"}}); });
  s.Get("/ready", [this](const httplib::Request&, httplib::Response& res) {
    if (draining_.load()) return send_json(res, 503, {{"status", "draining"}});
    if (!ready_.load()) return send_json(res, 503, {{"status", "loading"}});
    send_json(res, 200, {{"status", "ready"}});
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_->render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    if (!ready_.load()) return send_error(res, ApiError(503, "not_ready", "the server is loading its models"));
    ojson list = ojson::array();
    for (const auto& [name, sch] : schedulers_) {
      const LoadedModel& m = sch->model();
      const CompileSettings& cs = m.settings();
      ojson parts = ojson::array();
      for (const ModelPart& p : m.entry().parts) parts.push_back(p.name);
      list.push_back({{"name", name},
                      {"summary", m.entry().summary},
                      {"identity", m.identity()},
                      {"parts", parts},
                      {"weight_file_bytes", m.weight_file_bytes()},
                      {"packed_weight_bytes", m.packed_weight_bytes()},
                      {"random_weights", m.random_weights()},
                      {"executor", sch->executor_name()},
                      {"compiled", cs.enabled},
                      {"mode", to_string(cs.mode)},
                      {"backend", to_string(cs.backend)},
                      {"dtype", to_string(cs.precision)},
                      {"batching", sch->batching()},
                      {"max_batch", sch->options().max_batch},
                      {"queue_size", sch->options().queue_size}});
    }
    send_json(res, 200, {{"models", list}});
  });

  // Both forecast endpoints: parse, queue, wait, answer; every failure is a JSON error.
  auto forecast = [this](const std::string& endpoint, bool kserve) {
    return [this, endpoint, kserve](const httplib::Request& req, httplib::Response& res) {
      const auto t0 = Clock::now();
      metrics_->inc("requests_in_flight", {}, 1);
      std::string model;
      try {
        // Draining does not refuse here: a request that reached a handler was accepted and runs
        // (the schedulers stop only after the HTTP layer has stopped accepting).
        if (!ready_.load()) throw ApiError(503, "not_ready", "the server is loading its models; retry when /ready says 200");
        const nlohmann::json body = parse_body(req);
        NativeRequest native;
        KServeRequest ks;
        ForecastRequest* fr = nullptr;
        if (kserve) {
          ks = parse_kserve(body, served_, o_.limits);
          model = ks.model;
          fr = &ks.request;
        } else {
          native = parse_native(body, served_, o_.limits);
          model = native.model;
          fr = &native.request;
        }
        if (fr->series.empty()) {
          // KServe: every input was rejected; answer the first reason as the request's error.
          const ApiError& first = ks.inputs.front().error;
          ojson j = kserve_response(ks, nullptr, since(t0));
          j["status"] = "error";
          j["error"] = error_json(first)["error"];
          send_json(res, 400, j);
        } else {
          const auto deadline = t0 + o_.timeout;
          std::future<JobOutcome> f = schedulers_.at(model)->submit(*fr, deadline);
          JobOutcome out = f.get();
          if (!out.ok) throw out.error;
          record_drift(model, *fr, out.result);
          if (kserve) send_json(res, 200, kserve_response(ks, &out.result, since(t0)));
          else send_json(res, 200, native_response(native, out.result, schedulers_.at(model)->model(), since(t0), out.batch_series));
        }
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, "internal", cat("internal error: ", e.what())));
      }
      metrics_->inc("requests_total", {{"endpoint", endpoint}, {"model", model}, {"status", std::to_string(res.status)}});
      metrics_->observe("request_seconds", {{"endpoint", endpoint}, {"model", model}}, since(t0));
      metrics_->inc("requests_in_flight", {}, -1);
    };
  };
  s.Post("/v1/forecast", forecast("/v1/forecast", false));
  s.Post("/v1/timeseries/forecast", forecast("/v1/timeseries/forecast", true));

  // Realised values sent on their own: each series scores its stored forecast (or says why not).
  s.Post("/v1/actuals", [this](const httplib::Request& req, httplib::Response& res) {
    std::string model;
    try {
      if (!ready_.load()) throw ApiError(503, "not_ready", "the server is loading its models; retry when /ready says 200");
      const nlohmann::json body = parse_body(req);
      ActualsRequest a = parse_actuals(body, served_, o_.limits);
      model = a.model;
      std::vector<DriftScore> scores;
      for (const SeriesActuals& series : a.series) {
        DriftOutcome o = drift_->score(model, series);
        count_drift(model, o);
        scores.push_back(std::move(o.score));
      }
      send_json(res, 200, actuals_response(model, scores));
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, "internal", cat("internal error: ", e.what())));
    }
    metrics_->inc("requests_total", {{"endpoint", "/v1/actuals"}, {"model", model}, {"status", std::to_string(res.status)}});
  });
  s.Get("/v1/drift", [this](const httplib::Request&, httplib::Response& res) {
    if (!ready_.load()) return send_error(res, ApiError(503, "not_ready", "the server is loading its models"));
    ojson models = ojson::object();
    for (const auto& [name, sch] : schedulers_) models[name] = drift_report_json(drift_->report(name), drift_->options());
    send_json(res, 200, {{"models", models}});
  });
}

}  // namespace fcast::serve

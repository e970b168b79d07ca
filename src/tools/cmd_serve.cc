// `fcast serve`: the forecasting service. Loads every model named on the command line once,
// warms it up (from the persistent cache when present), then answers forecasts over HTTP with
// one scheduler per model (src/serve/, docs/SERVING.md). SIGTERM/SIGINT: stop accepting, answer
// every request in flight, exit 0.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "models/registry.h"
#include "serve/server.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"

namespace fcast::tools {

namespace {

struct ServeArgs {
  std::map<std::string, ModelPaths> paths;  // model -> part -> folder
  serve::ServeOptions http;
  serve::SchedulerOptions sched;
  int64_t batch_wait_ms = 5, timeout_ms = 30000;
  std::string warm_contexts, warm_samples;
  int64_t warm_horizon = 0;
  bool no_warm_up = false;
  int threads = 0;
  std::vector<std::string> drift_baselines;  // MODEL=VALUE
  CompileCliValues compile;
};

// "--toto" for a model's main part, "--kronos-tokenizer" for the others.
std::string part_flag(const ModelEntry& e, const ModelPart& p) {
  return p.name == "model" ? "--" + e.name : "--" + e.name + "-" + p.name;
}

std::vector<int64_t> int_list(const std::string& flag, const std::string& s, int64_t min) {
  std::vector<int64_t> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    int64_t v = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
    FCAST_CHECK(r.ec == std::errc() && r.ptr == item.data() + item.size() && v >= min, flag, " '", item,
                "' is not valid; expected a comma-separated list of integers >= ", min);
    out.push_back(v);
  }
  FCAST_CHECK(!out.empty(), flag, " is empty");
  return out;
}

void run_serve(const ServeArgs& a) {
  using Clock = std::chrono::steady_clock;
  // The models to serve: every one with its main part given; each of its parts is required.
  std::vector<const ModelEntry*> models;
  std::map<std::string, CompileSettings> settings;
  for (const ModelEntry& e : model_registry()) {
    auto it = a.paths.find(e.name);
    bool any = false;
    if (it != a.paths.end())
      for (const auto& [part, dir] : it->second) any = any || !dir.empty();
    if (!any) continue;
    for (const ModelPart& p : e.parts)
      FCAST_CHECK(it->second.count(p.name) && !it->second.at(p.name).empty(), "missing ", part_flag(e, p), " DIR (",
                  p.help, ")");
    models.push_back(&e);
    settings[e.name] = resolve_cli_settings(e.compile, a.compile);  // bad flags fail before any work
  }
  std::string flags;
  for (const ModelEntry& e : model_registry()) flags += (flags.empty() ? "" : ", ") + part_flag(e, e.parts.front());
  FCAST_CHECK(!models.empty(), "no model to serve: give at least one of ", flags);
  FCAST_CHECK(a.batch_wait_ms >= 0, "--batch-wait-ms must be >= 0");
  FCAST_CHECK(a.timeout_ms >= 1, "--timeout-ms must be >= 1");
  FCAST_CHECK(a.http.max_body_bytes >= 1024, "--max-body-bytes must be >= 1024");
  serve::DriftOptions drift = a.http.drift;
  for (const std::string& b : a.drift_baselines) {
    const size_t eq = b.find('=');
    const std::string model = b.substr(0, eq == std::string::npos ? 0 : eq);
    double v = 0;
    const char* end = b.data() + b.size();
    const auto r = eq == std::string::npos ? std::from_chars_result{b.data(), std::errc::invalid_argument}
                                            : std::from_chars(b.data() + eq + 1, end, v);
    FCAST_CHECK(!model.empty() && r.ec == std::errc() && r.ptr == end && v > 0, "--drift-baseline-wape '", b,
                "' is not valid; expected MODEL=VALUE with a WAPE > 0, e.g. toto=0.02");
    FCAST_CHECK(std::any_of(models.begin(), models.end(), [&](const ModelEntry* e) { return e->name == model; }),
                "--drift-baseline-wape names model '", model, "', which is not served");
    drift.baseline_wape[model] = v;
  }

  serve::ServeOptions http = a.http;
  http.drift = drift;
  http.timeout = std::chrono::milliseconds(a.timeout_ms);
  if (http.api_key.empty())
    if (const char* k = std::getenv("FCAST_API_KEY")) http.api_key = k;
  serve::SchedulerOptions sched = a.sched;
  sched.batch_wait = std::chrono::milliseconds(a.batch_wait_ms);

  // SIGTERM/SIGINT go to one thread (sigwait), blocked everywhere else: every thread made from
  // here on (OpenMP, HTTP pool, schedulers) inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  serve::Metrics metrics;
  serve::define_serve_metrics(metrics);
  serve::HttpServer server(http, &metrics);
  const int port = server.bind();
  server.start();
  std::cout << "listening on http://" << http.host << ":" << port << std::endl;
  if (http.host != "127.0.0.1" && http.host != "localhost" && http.host != "::1" && http.api_key.empty())
    std::cerr << "fcast serve: WARNING: listening on " << http.host << " without --api-key: anyone who reaches this "
              << "address can use the server\n";

  std::atomic<bool> ready{false};
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  int signal_number = 0;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (!ready.load()) {
      // Nothing can be in flight while loading (forecasts answer 503): leave at once.
      std::cerr << "fcast serve: signal " << sig << " while loading; exiting\n";
      std::_Exit(0);
    }
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
    signal_number = sig;
    cv.notify_all();
  });
  signals.detach();

  // Every model's work (loading, warm-up, forecasts) runs on one thread: one OpenMP team for the
  // whole process (serve/compute_thread.h says why).
  serve::ComputeThread compute(a.threads);
  std::vector<std::shared_ptr<serve::ModelScheduler>> schedulers;
  for (const ModelEntry* e : models) {
    const auto t0 = Clock::now();
    std::shared_ptr<LoadedModel> m;
    compute.run([&] { m = e->load(a.paths.at(e->name), settings.at(e->name)); });
    const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    metrics.set("model_load_seconds", {{"model", e->name}}, load_s);
    std::cerr << "fcast serve: loaded " << e->name << " (identity " << m->identity() << ", "
              << (m->random_weights() ? "RANDOM weights, " : "") << m->weight_file_bytes() << " bytes) in " << load_s
              << " s\n";
    auto s = std::make_shared<serve::ModelScheduler>(e->name, m, sched, &metrics, &compute);
    if (!a.no_warm_up) {
      WarmUpSpec spec = e->warm_up;
      if (!a.warm_contexts.empty()) spec.context_lengths = int_list("--warm-up-contexts", a.warm_contexts, 2);
      if (!a.warm_samples.empty()) spec.num_samples = int_list("--warm-up-samples", a.warm_samples, 0);
      if (a.warm_horizon > 0) spec.horizon = a.warm_horizon;
      const auto w0 = Clock::now();
      for (const std::string& line : s->warm_up(spec)) std::cerr << "fcast serve: " << e->name << " warm-up: " << line << "\n";
      metrics.set("model_warm_up_seconds", {{"model", e->name}}, std::chrono::duration<double>(Clock::now() - w0).count());
    }
    s->start();
    server.add_model(e->name, s);
    schedulers.push_back(std::move(s));
  }
  ready.store(true);
  server.set_ready(true);
  std::cout << "ready" << std::endl;

  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stop; });
  }
  std::cerr << "fcast serve: signal " << signal_number << ": draining (no new connections; answering every request in flight)\n";
  server.stop();
  for (auto& s : schedulers) s->drain();
  std::cerr << "fcast serve: drained; exiting\n";
  std::cout << "stopped" << std::endl;
}

}  // namespace

void register_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve forecasts over HTTP (" + model_names() +
                   "): models loaded once and warmed up, one batching scheduler per model, Prometheus /metrics");
  for (const ModelEntry& e : model_registry())
    for (const ModelPart& p : e.parts)
      cmd->add_option(part_flag(e, p), a->paths[e.name][p.name],
                      "Serve " + e.name + ": " + p.help + (e.parts.size() > 1 ? " (all of " + e.name + "'s folders are required)" : ""));
  cmd->add_option("--host", a->http.host, "Address to listen on (default: 127.0.0.1, loopback only)");
  cmd->add_option("--port", a->http.port, "Port; 0 = an ephemeral port, printed as 'listening on http://HOST:PORT' (default: 8080)");
  cmd->add_option("--api-key", a->http.api_key,
                  "Bearer token required on every endpoint except /health (default: none; env FCAST_API_KEY)");
  cmd->add_option("--max-batch", a->sched.max_batch,
                  "Series gathered into one run from concurrent compatible requests; 1 = no gathering (default: 8)");
  cmd->add_option("--batch-wait-ms", a->batch_wait_ms,
                  "Longest wait for more requests to gather once one is taken (default: 5)");
  cmd->add_option("--queue-size", a->sched.queue_size, "Requests waiting per model; more are answered 429 (default: 256)");
  cmd->add_option("--timeout-ms", a->timeout_ms,
                  "Per-request deadline: a request still queued past it is answered 504 (default: 30000)");
  cmd->add_option("--max-body-bytes", a->http.max_body_bytes, "Largest request body; larger: 413 (default: 8388608)");
  cmd->add_option("--max-series", a->http.limits.max_series, "Series per request; more: 413 (default: 64)");
  cmd->add_option("--max-series-length", a->http.limits.max_series_length,
                  "Time steps per series; longer: 413 (default: 16384)");
  cmd->add_option("--max-horizon", a->http.limits.max_horizon, "Largest horizon; larger: 400 (default: 4096)");
  cmd->add_option("--max-samples", a->http.limits.max_samples, "Largest num_samples; larger: 400 (default: 4096)");
  cmd->add_option("--http-threads", a->http.http_threads, "Connections served at once (default: 64)");
  cmd->add_option("--threads", a->threads, "OpenMP threads of the model runs; 0 = default (default: 0)");
  cmd->add_option("--warm-up-contexts", a->warm_contexts,
                  "Comma-separated context lengths to build plans for before ready, as `fcast compile "
                  "--context-lengths` (default: each model's, 512)");
  cmd->add_option("--warm-up-samples", a->warm_samples,
                  "Comma-separated sample counts to warm up (default: each model's, as `fcast compile`)");
  cmd->add_option("--warm-up-horizon", a->warm_horizon, "Horizon of the warm-up forecasts (default: each model's)");
  cmd->add_flag("--no-warm-up", a->no_warm_up, "Become ready without warming up (plans are then built by requests)");
  cmd->add_option("--drift-max-series", a->http.drift.max_series,
                  "Series (model, id) whose latest forecast is kept for drift scoring; the least recently updated "
                  "is evicted (default: 10000)");
  cmd->add_option("--drift-window", a->http.drift.window,
                  "Scores in the rolling drift gauges fcast_drift_mae/rmse/mape/wape/coverage (default: 20)");
  cmd->add_option("--drift-baseline-wape", a->drift_baselines,
                  "MODEL=VALUE, repeatable: the WAPE (MAE / mean |actual|) the drift alert compares scores with "
                  "(default: the mean WAPE of the model's first 5 scores, frozen once set)");
  add_compile_flags(cmd, a->compile);
  std::string example = "Example: fcast serve";
  for (const ModelEntry& e : model_registry())
    for (const ModelPart& p : e.parts) example += " " + part_flag(e, p) + " DIR";
  cmd->footer(example + " --port 8080\n  curl -s localhost:8080/v1/timeseries/forecast -d '{\"model\":\"toto\",\"inputs\":"
                        "[{\"type\":\"univariate_time_series\",\"name\":\"x\",\"series\":[1,2,3,4,5,6,7,8],\"frequency\":\"D\"}],"
                        "\"options\":{\"horizon\":4}}'\nEndpoints, metrics and alert rules: docs/SERVING.md");
  cmd->callback([a] { run_serve(*a); });
}

}  // namespace fcast::tools

// `fcast loadtest`: drives a running `fcast serve` with N concurrent clients for a bounded time
// and prints throughput, latency percentiles, errors and lost requests (sent, never answered).
// Closed loop by default (each client sends its next request when the last one is answered);
// `--rate R` is an open loop at R requests/s in total, latency counted from each request's
// scheduled time (a slow server cannot hide its queueing by slowing the clients down).
// It scrapes the server's /metrics during the run (recompiles, RSS) and, with
// `--baseline-model`, first times the same request in this process (no HTTP, no queue) and
// through the server, alternating, so the serving overhead comes out as a ratio measured in the
// same run.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "io/file.h"
#include "models/registry.h"
#include "serve/api.h"
#include "tools/commands.h"
#include "tools/compile_flags.h"

namespace fcast::tools {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct LoadArgs {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  std::string path = "/v1/forecast";
  std::string body_file;
  std::string model = "toto";
  int64_t context = 512, horizon = 64, samples = 0, variates = 1, samples_per_batch = 0;
  int clients = 16;
  double seconds = 30, warm_up_seconds = -1, rate = 0, timeout_s = 120, scrape_every = 5;
  std::string json_out;
  std::map<std::string, std::string> baseline_paths;  // part -> folder ("model", "tokenizer")
  int baseline_runs = 20;
  CompileCliValues compile;
};

// A seeded random walk of OHLCV bars: client k's own series (distinct numbers, one shape).
json client_series(const LoadArgs& a, int k) {
  std::mt19937_64 g(1000 + static_cast<uint64_t>(k));
  std::normal_distribution<double> d(0, 1);
  const int64_t T = a.context;
  std::vector<double> close(static_cast<size_t>(T));
  double x = 100 + k;
  for (auto& c : close) c = x *= 1.0 + 0.01 * d(g);
  json s = {{"id", cat("client", k)}};
  std::vector<int64_t> stamps;
  for (int64_t t = 0; t < T; ++t) stamps.push_back(1'700'006'400 + 3600 * t);
  s["timestamps"] = stamps;
  if (a.model == "kronos") {
    std::vector<double> open(close), high(close), low(close), vol(close.size());
    for (size_t t = 0; t < close.size(); ++t) {
      open[t] = t ? close[t - 1] : close[t];
      high[t] = std::max(open[t], close[t]) * 1.002;
      low[t] = std::min(open[t], close[t]) * 0.998;
      vol[t] = 1000 + 50 * std::abs(d(g));
    }
    s["variates"] = {"open", "high", "low", "close", "volume"};
    s["values"] = {open, high, low, close, vol};
  } else {
    json names = json::array(), values = json::array();
    for (int64_t v = 0; v < a.variates; ++v) {
      names.push_back(cat("v", v));
      std::vector<double> row(close);
      for (auto& e : row) e *= 1.0 + 0.1 * static_cast<double>(v);
      values.push_back(row);
    }
    s["variates"] = names;
    s["values"] = values;
  }
  return s;
}

std::string request_body(const LoadArgs& a, int k) {
  if (!a.body_file.empty()) return read_file(a.body_file);
  json b = {{"model", a.model},
            {"series", json::array({client_series(a, k)})},
            {"prediction_length", a.horizon},
            {"num_samples", a.samples},
            {"seed", k}};
  if (a.samples_per_batch > 0) b["options"] = {{"samples_per_batch", a.samples_per_batch}};
  return b.dump();
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// One scrape of /metrics: "name{labels}" -> value (sums over label sets for the names asked).
struct Scrape {
  bool ok = false;
  double recompiles = 0, rss = 0, peak_rss = 0, plans_built = 0;
};

Scrape scrape(const LoadArgs& a) {
  httplib::Client c(a.host, a.port);
  c.set_read_timeout(10, 0);
  httplib::Headers h;
  if (!a.api_key.empty()) h.emplace("Authorization", "Bearer " + a.api_key);
  auto r = c.Get("/metrics", h);
  Scrape s;
  if (!r || r->status != 200) return s;
  s.ok = true;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const std::string name = line.substr(0, line.find_first_of("{ "));
    const double v = std::strtod(line.c_str() + sp + 1, nullptr);
    if (name == "fcast_recompiles_total") s.recompiles += v;
    if (name == "fcast_plans_built_total") s.plans_built += v;
    if (name == "fcast_process_resident_memory_bytes") s.rss = v;
    if (name == "fcast_process_peak_resident_memory_bytes") s.peak_rss = v;
  }
  return s;
}

// Serving overhead at batch 1: the same request timed in this process (the loaded model's
// session: no HTTP, no queue) and through the server by one sequential client, in alternating
// rounds of 5 (after one untimed run each) so that a change in the machine's load hits both
// sides alike.
struct Overhead {
  std::vector<double> in_process, server;
};

Overhead measure_overhead(const LoadArgs& a, const std::string& body) {
  const ModelEntry& e = find_model(a.model);
  const CompileSettings s = resolve_cli_settings(e.compile, a.compile);
  std::shared_ptr<LoadedModel> m = e.load(a.baseline_paths, s);
  serve::ServedModels served;
  served[e.name] = {&e, m.get()};
  const serve::NativeRequest req = serve::parse_native(json::parse(body), served, serve::RequestLimits{});
  auto session = m->new_session();
  httplib::Client c(a.host, a.port);
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);
  c.set_read_timeout(static_cast<time_t>(a.timeout_s), 0);
  httplib::Headers h;
  if (!a.api_key.empty()) h.emplace("Authorization", "Bearer " + a.api_key);
  auto post = [&] {
    auto r = c.Post(a.path, h, body, "application/json");
    FCAST_CHECK(r && r->status == 200, "overhead baseline: the server did not answer 200 (",
                r ? cat(r->status, ": ", r->body.substr(0, 300)) : httplib::to_string(r.error()), ")");
  };
  for (int i = 0; i < 3; ++i) {  // plans built or loaded, caches warm, the connection open
    session->forecast(req.request);
    post();
  }
  Overhead o;
  // Each round starts with one untimed run: OpenMP helper threads spin for a few milliseconds
  // after their team's last region before they sleep, so the first run after a switch would share
  // the cores with the other process's spinning helpers.
  for (int done = 0; done < a.baseline_runs;) {
    const int n = std::min(5, a.baseline_runs - done);
    session->forecast(req.request);
    for (int i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      session->forecast(req.request);
      o.in_process.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    post();
    for (int i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      post();
      o.server.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    done += n;
  }
  return o;
}

struct ClientTally {
  std::vector<double> latencies;  // answered 200, after the warm-up
  int64_t sent = 0, ok = 0, lost = 0;
  std::map<int, int64_t> errors;  // status -> count
  std::string first_error;
};

int run_loadtest(LoadArgs a) {
  FCAST_CHECK(a.clients >= 1, "--clients must be >= 1, got ", a.clients);
  FCAST_CHECK(a.seconds > 0, "--seconds must be > 0, got ", a.seconds);
  if (a.warm_up_seconds < 0) a.warm_up_seconds = std::min(2.0, 0.2 * a.seconds);
  FCAST_CHECK(a.warm_up_seconds < a.seconds, "--warm-up-seconds (", a.warm_up_seconds, ") must be below --seconds (",
              a.seconds, ")");
  FCAST_CHECK(a.rate >= 0, "--rate must be >= 0 (0: closed loop)");
  FCAST_CHECK(a.model == "toto" || a.model == "kronos" || !a.body_file.empty(),
              "--model must be toto or kronos for generated requests (or give --body FILE)");
  if (a.api_key.empty())
    if (const char* k = std::getenv("FCAST_API_KEY")) a.api_key = k;
  std::vector<std::string> bodies;
  for (int k = 0; k < a.clients; ++k) bodies.push_back(request_body(a, k));
  if (!a.body_file.empty()) {
    FCAST_CHECK(json::accept(bodies[0]), a.body_file, ": not JSON");
  }

  // The server must answer before anything is timed.
  {
    httplib::Client c(a.host, a.port);
    c.set_connection_timeout(5, 0);
    auto r = c.Get("/health");
    FCAST_CHECK(r, "no server at http://", a.host, ":", a.port, " (", httplib::to_string(r.error()),
                "); start `fcast serve` first");
  }

  Overhead overhead;
  if (!a.baseline_paths.empty()) {
    std::cerr << "fcast loadtest: serving overhead: " << a.baseline_runs
              << " runs in this process and through the server, alternating...\n";
    overhead = measure_overhead(a, bodies[0]);
  }

  const Scrape before = scrape(a);
  std::vector<double> rss_seen;
  std::mutex rss_mu;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) {
      for (int i = 0; i < static_cast<int>(a.scrape_every * 10) && !done.load(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const Scrape s = scrape(a);
      if (s.ok) {
        std::lock_guard<std::mutex> lock(rss_mu);
        rss_seen.push_back(s.rss);
      }
    }
  });

  const auto start = Clock::now();
  const auto warm_end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.warm_up_seconds));
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  std::atomic<int64_t> slot{0};
  std::vector<ClientTally> tally(static_cast<size_t>(a.clients));
  std::atomic<int64_t> progress_ok{0};
  std::vector<std::thread> pool;
  for (int k = 0; k < a.clients; ++k)
    pool.emplace_back([&, k] {
      ClientTally& t = tally[static_cast<size_t>(k)];
      httplib::Client c(a.host, a.port);
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);
      const time_t to = static_cast<time_t>(a.timeout_s);
      c.set_read_timeout(to, 0);
      c.set_write_timeout(to, 0);
      c.set_connection_timeout(10, 0);
      httplib::Headers h;
      if (!a.api_key.empty()) h.emplace("Authorization", "Bearer " + a.api_key);
      for (;;) {
        Clock::time_point due = Clock::now();
        if (a.rate > 0) {
          const int64_t i = slot.fetch_add(1);
          due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(static_cast<double>(i) / a.rate));
          if (due >= end) break;
          std::this_thread::sleep_until(due);
        } else if (due >= end) {
          break;
        }
        ++t.sent;
        auto r = c.Post(a.path, h, bodies[static_cast<size_t>(k)], "application/json");
        const auto now = Clock::now();
        if (!r) {
          ++t.lost;
          if (t.first_error.empty()) t.first_error = "no answer: " + httplib::to_string(r.error());
          continue;
        }
        if (r->status == 200) {
          ++t.ok;
          ++progress_ok;
          if (due >= warm_end) t.latencies.push_back(std::chrono::duration<double>(now - due).count());
        } else {
          ++t.errors[r->status];
          if (t.first_error.empty()) t.first_error = cat(r->status, ": ", r->body.substr(0, 300));
        }
      }
    });
  // Progress on stderr every 10 s of a long run.
  for (;;) {
    const auto next = std::min(end, Clock::now() + std::chrono::seconds(10));
    std::this_thread::sleep_until(next);
    if (Clock::now() >= end) break;
    std::cerr << "fcast loadtest: " << std::fixed << std::setprecision(0)
              << std::chrono::duration<double>(Clock::now() - start).count() << " / " << a.seconds << " s, "
              << progress_ok.load() << " answered\n";
  }
  for (auto& th : pool) th.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  done.store(true);
  scraper.join();
  const Scrape after = scrape(a);

  ClientTally all;
  for (const ClientTally& t : tally) {
    all.latencies.insert(all.latencies.end(), t.latencies.begin(), t.latencies.end());
    all.sent += t.sent;
    all.ok += t.ok;
    all.lost += t.lost;
    for (const auto& [s, n] : t.errors) all.errors[s] += n;
    if (all.first_error.empty()) all.first_error = t.first_error;
  }
  int64_t errors = 0;
  for (const auto& [s, n] : all.errors) errors += n;
  const double measured_s = a.seconds - a.warm_up_seconds;
  const double throughput = static_cast<double>(all.latencies.size()) / measured_s;
  const double p50 = percentile(all.latencies, 0.5), p90 = percentile(all.latencies, 0.9),
               p99 = percentile(all.latencies, 0.99);
  const double lmax = all.latencies.empty() ? NAN : *std::max_element(all.latencies.begin(), all.latencies.end());
  double rss_min = NAN, rss_max = NAN, rss_first = NAN, rss_last = NAN;
  if (!rss_seen.empty()) {
    rss_min = *std::min_element(rss_seen.begin(), rss_seen.end());
    rss_max = *std::max_element(rss_seen.begin(), rss_seen.end());
    rss_first = rss_seen.front();
    rss_last = rss_seen.back();
  }

  std::ostringstream o;
  o << "fcast loadtest: " << a.clients << " clients, " << (a.rate > 0 ? cat("open loop at ", a.rate, " req/s") : "closed loop")
    << ", " << a.seconds << " s (first " << a.warm_up_seconds << " s not measured), POST " << a.path << "\n";
  o << "  requests   sent " << all.sent << ", answered 200 " << all.ok << ", errors " << errors << ", lost " << all.lost << "\n";
  for (const auto& [s, n] : all.errors) o << "  status " << s << ": " << n << "\n";
  if (!all.first_error.empty()) o << "  first error: " << all.first_error << "\n";
  o << std::fixed << std::setprecision(2) << "  throughput " << throughput << " req/s (measured window)\n";
  o << std::setprecision(1) << "  latency ms p50 " << p50 * 1e3 << ", p90 " << p90 * 1e3 << ", p99 " << p99 * 1e3
    << ", max " << lmax * 1e3 << "\n";
  if (!overhead.in_process.empty()) {
    const double b50 = percentile(overhead.in_process, 0.5), s50 = percentile(overhead.server, 0.5);
    o << std::setprecision(1) << "  overhead at batch 1 (alternating, before the load): in-process p50 " << b50 * 1e3
      << " ms, through the server p50 " << s50 * 1e3 << " ms; ratio " << std::setprecision(3) << s50 / b50 << "\n";
  }
  if (before.ok && after.ok) {
    o << std::setprecision(0) << "  server: recompiles " << after.recompiles - before.recompiles << " during the run, plans built "
      << after.plans_built - before.plans_built << "; RSS MB first " << rss_first / 1e6 << ", last " << rss_last / 1e6
      << ", min " << rss_min / 1e6 << ", max " << rss_max / 1e6 << ", peak " << after.peak_rss / 1e6 << "\n";
  } else {
    o << "  server metrics: /metrics not readable (api key?)\n";
  }
  std::cout << o.str();
  if (!a.json_out.empty()) {
    json j = {{"clients", a.clients}, {"seconds", a.seconds}, {"warm_up_seconds", a.warm_up_seconds},
              {"rate", a.rate}, {"path", a.path}, {"sent", all.sent}, {"ok", all.ok}, {"errors", errors},
              {"lost", all.lost}, {"throughput_rps", throughput}, {"p50_s", p50}, {"p90_s", p90}, {"p99_s", p99},
              {"max_s", lmax}, {"wall_s", wall}};
    json st = json::object();
    for (const auto& [s, n] : all.errors) st[std::to_string(s)] = n;
    j["errors_by_status"] = st;
    if (!overhead.in_process.empty()) {
      j["in_process_p50_s"] = percentile(overhead.in_process, 0.5);
      j["server_p50_s"] = percentile(overhead.server, 0.5);
      j["overhead_ratio_p50"] = percentile(overhead.server, 0.5) / percentile(overhead.in_process, 0.5);
    }
    if (before.ok && after.ok)
      j["server"] = {{"recompiles", after.recompiles - before.recompiles},
                     {"plans_built", after.plans_built - before.plans_built},
                     {"rss_first", rss_first}, {"rss_last", rss_last}, {"rss_min", rss_min}, {"rss_max", rss_max},
                     {"rss_peak", after.peak_rss}, {"rss_samples", rss_seen}};
    write_file_atomic(a.json_out, j.dump(2) + "\n");
  }
  // Lost requests are a failure of the server; error statuses are reported, not fatal.
  return all.lost == 0 ? 0 : 1;
}

}  // namespace

void register_loadtest(CLI::App& app) {
  auto a = std::make_shared<LoadArgs>();
  CLI::App* cmd = app.add_subcommand(
      "loadtest",
      "Drive a running `fcast serve` with concurrent clients for a bounded time: throughput, latency "
      "p50/p90/p99, errors, lost requests, the server's recompiles and RSS during the run");
  cmd->add_option("--host", a->host, "Server address (default: 127.0.0.1)");
  cmd->add_option("--port", a->port, "Server port (default: 8080)");
  cmd->add_option("--api-key", a->api_key, "Bearer token, as given to `fcast serve --api-key` (default: env FCAST_API_KEY)");
  cmd->add_option("--path", a->path, "Endpoint to POST to (default: /v1/forecast)");
  cmd->add_option("--body", a->body_file,
                  "FILE: a JSON request body every client sends as is (default: generated, see --model and the shape "
                  "flags)");
  cmd->add_option("--model", a->model, "Generated requests: toto or kronos (default: toto)");
  cmd->add_option("--context", a->context, "Generated requests: bars per series (default: 512)");
  cmd->add_option("--horizon", a->horizon, "Generated requests: prediction_length (default: 64)");
  cmd->add_option("--samples", a->samples, "Generated requests: num_samples; 0 = point forecast (default: 0)");
  cmd->add_option("--samples-per-batch", a->samples_per_batch,
                  "Generated Toto requests: options.samples_per_batch; 0 = the model's default (default: 0)");
  cmd->add_option("--variates", a->variates, "Generated Toto requests: variates per series (default: 1)");
  cmd->add_option("--clients", a->clients, "Concurrent clients, each with its own series and connection (default: 16)");
  cmd->add_option("--seconds", a->seconds, "Length of the run (default: 30)");
  cmd->add_option("--warm-up-seconds", a->warm_up_seconds,
                  "Leading seconds whose answers are not measured (default: 2, or a fifth of --seconds if less)");
  cmd->add_option("--rate", a->rate,
                  "Open loop: requests per second in total, latency from each request's scheduled time; 0 = closed "
                  "loop (default: 0)");
  cmd->add_option("--timeout-s", a->timeout_s, "Per-request client timeout; no answer by then counts as lost (default: 120)");
  cmd->add_option("--scrape-every", a->scrape_every, "Seconds between /metrics scrapes for RSS (default: 5)");
  cmd->add_option("--json", a->json_out, "Also write the summary as JSON to this file");
  cmd->add_option("--baseline-model", a->baseline_paths["model"],
                  "Before the load, time the same request in this process (the model folder the server serves) "
                  "and through the server with one client, alternating, and print the p50 ratio");
  cmd->add_option("--baseline-tokenizer", a->baseline_paths["tokenizer"], "Kronos: the tokenizer folder for --baseline-model");
  cmd->add_option("--baseline-runs", a->baseline_runs, "Timed runs on each side (default: 20)");
  add_compile_flags(cmd, a->compile);
  cmd->footer(
      "Exit status: 0 when every request got an answer (error statuses are counted and printed), 1 when some were "
      "lost (no answer before --timeout-s).\n"
      "Example: fcast serve --toto DIR & fcast loadtest --clients 16 --seconds 60 --samples 0");
  cmd->callback([a] {
    LoadArgs args = *a;
    for (auto it = args.baseline_paths.begin(); it != args.baseline_paths.end();)
      it = it->second.empty() ? args.baseline_paths.erase(it) : std::next(it);
    const int rc = run_loadtest(args);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace fcast::tools

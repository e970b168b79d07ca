// `fcast serve` end to end, each test with its own server child on an ephemeral loopback port
// and the tiny Toto checkpoint of the golden files: the native API gives `fcast predict`'s
// numbers; a KServe request is answered; every error code; 64 concurrent clients each get their
// own answer; SIGTERM with requests in flight loses none; /metrics agrees with the traffic; a
// real Prometheus scrapes the server.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <regex>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "serve_util.h"

using namespace fcast;
using json = nlohmann::json;

namespace {

std::vector<std::string> base_args(std::vector<std::string> more = {}) { return test::toto_serve_args(std::move(more)); }

// "c<k>" (built by appending: g++ 12 -O2 warns a false -Wrestrict on "c" + std::to_string(k)).
std::string client_id(int k) {
  std::string id = "c";
  id += std::to_string(k);
  return id;
}

json native_body(const std::vector<double>& values, const std::vector<int64_t>& stamps, int64_t samples, uint64_t seed,
                 const std::string& id = "MSTR", int64_t horizon = 5) {
  json s = {{"id", id}, {"variates", {"close"}}, {"values", values}};
  if (!stamps.empty()) s["timestamps"] = stamps;
  json b = {{"model", "toto"}, {"series", json::array({s})}, {"prediction_length", horizon}, {"num_samples", samples},
            {"seed", seed}, {"quantiles", {0.1, 0.5, 0.9}}};
  if (samples > 0) b["options"] = {{"samples_per_batch", 4}};
  return b;
}

// One client's series: MSTR's closes scaled and shifted by its number.
std::vector<double> client_series(int k) {
  std::vector<double> v = test::mstr_closes(96).close;
  for (size_t t = 0; t < v.size(); ++t) v[t] = v[t] * (1.0 + 0.01 * k) + 0.5 * k + 0.01 * static_cast<double>(t % (k + 2));
  return v;
}

std::vector<float> means_of(const json& answer) {
  std::vector<float> m;
  for (const json& row : answer["series"][0]["forecast"]) m.push_back(row["mean"].get<float>());
  return m;
}

// Prometheus text: "name{labels} value" lines into a map (labels as written).
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1) == "+Inf" ? "inf" : line.substr(sp + 1));
  }
  return out;
}

}  // namespace

TEST(Serve, NativeForecastEqualsPredict) {
  test::TempDir dir("serve_native");
  // `fcast predict toto` on the same rows, seed and options.
  const test::CommandResult p = test::run_command(
      test::shell_quote(test::fcast_binary()) + " predict toto --model " + test::shell_quote(test::toto_tiny()) +
          " --input " + test::shell_quote(test::test_data("market/MSTR.csv")) +
          " --context 96 --prediction-length 5 --num-samples 8 --samples-per-batch 4 --seed 4 --format json "
          "--no-persistent-cache --threads 1",
      dir.sub("p.out"), dir.sub("p.err"));
  ASSERT_EQ(p.status, 0) << p.err;
  const json want = json::parse(p.out);

  test::ServeProcess srv(base_args(), dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  const test::MarketSlice m = test::mstr_closes(96);
  const test::HttpAnswer a = test::http_post(port, "/v1/forecast", native_body(m.close, m.timestamps, 8, 4).dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json got = a.json();
  const json& rows = got["series"][0]["forecast"];
  ASSERT_EQ(rows.size(), want["forecast"].size());
  for (size_t k = 0; k < rows.size(); ++k) {
    const json& w = want["forecast"][k];
    const json& g = rows[k];
    EXPECT_EQ(g["timestamp"], w["timestamp"]) << k;
    EXPECT_EQ(g["variate"], w["variate"]) << k;
    EXPECT_EQ(g["step"], w["step"]) << k;
    for (const char* f : {"mean", "median", "std", "q0.1", "q0.5", "q0.9"})
      EXPECT_EQ(g[f].get<float>(), w[f].get<float>()) << "row " << k << " " << f;
  }
  EXPECT_EQ(got["model"]["family"], "toto");
  EXPECT_EQ(got["model"]["weights_identity"], want["metadata"]["identity"]);

  // The same series through the KServe endpoint: the same means, the schema's fields.
  json ks = {{"model", "toto"},
             {"inputs", {{{"type", "univariate_time_series"}, {"name", "MSTR"}, {"series", m.close},
                          {"frequency", "D"}, {"start_timestamp", "2025-06-05T00:00:00Z"}}}},
             {"options", {{"horizon", 5}, {"quantiles", {0.1, 0.5, 0.9}}, {"num_samples", 8}, {"seed", 4},
                          {"samples_per_batch", 4}, {"other_option", "ignored"}}},
             {"metadata", {{"request_id", "abc"}}}};
  const test::HttpAnswer k = test::http_post(port, "/v1/timeseries/forecast", ks.dump());
  ASSERT_EQ(k.status, 200) << k.body;
  const json kj = k.json();
  EXPECT_EQ(kj["status"], "completed");
  EXPECT_EQ(kj["model"], "toto");
  EXPECT_EQ(kj["metadata"]["request_id"], "abc");
  ASSERT_EQ(kj["outputs"].size(), 1u);
  const json& out = kj["outputs"][0];
  EXPECT_EQ(out["type"], "time_series_forecast");
  EXPECT_EQ(out["status"], "completed");
  const json& c = out["content"][0];
  EXPECT_EQ(c["type"], "univariate_time_series");
  EXPECT_EQ(c["name"], "MSTR");
  EXPECT_EQ(c["frequency"], "D");
  // 96 daily observations from 2025-06-05: the forecast starts 96 days later.
  EXPECT_EQ(c["start_timestamp"], "2025-09-09T00:00:00Z");
  ASSERT_EQ(c["mean_forecast"].size(), 5u);
  for (size_t h = 0; h < 5; ++h) {
    EXPECT_EQ(c["mean_forecast"][h].get<float>(), want["forecast"][h]["mean"].get<float>()) << h;
    EXPECT_EQ(c["quantiles"]["0.9"][h].get<float>(), want["forecast"][h]["q0.9"].get<float>()) << h;
  }
  EXPECT_EQ(kj["ignored_options"], json::array({"other_option"}));

  // A multivariate input ([time][variable]) and one rejected input: per-output status.
  json mv = {{"model", "toto"},
             {"inputs", {{{"type", "multivariate_time_series"}, {"name", "pair"}, {"frequency", "H"},
                          {"series", json::array()}},
                         {{"type", "univariate_time_series"}, {"name", "bad"}, {"frequency", "H"},
                          {"series", {nullptr, nullptr}}}}},
             {"options", {{"horizon", 3}}}};
  for (size_t t = 0; t < 40; ++t) mv["inputs"][0]["series"].push_back({m.close[t], m.close[t + 40]});
  const test::HttpAnswer mva = test::http_post(port, "/v1/timeseries/forecast", mv.dump());
  ASSERT_EQ(mva.status, 200) << mva.body;
  const json mj = mva.json();
  EXPECT_EQ(mj["status"], "partial");
  EXPECT_EQ(mj["outputs"][0]["status"], "completed");
  EXPECT_EQ(mj["outputs"][0]["content"][0]["mean_forecast"].size(), 3u);
  EXPECT_EQ(mj["outputs"][0]["content"][0]["mean_forecast"][0].size(), 2u);
  EXPECT_EQ(mj["outputs"][1]["status"], "error");
  EXPECT_EQ(mj["outputs"][1]["error"]["param"], "inputs[1].series");

  // "aggregate": each row's point is the spec over its sample paths (median: the median column).
  json ag = native_body(m.close, m.timestamps, 8, 4);
  ag["aggregate"] = "median";
  const test::HttpAnswer agg = test::http_post(port, "/v1/forecast", ag.dump());
  ASSERT_EQ(agg.status, 200) << agg.body;
  for (const json& row : agg.json()["series"][0]["forecast"]) {
    EXPECT_FLOAT_EQ(row["point"].get<float>(), row["median"].get<float>());
    EXPECT_GE(row["band_p40_p60"].get<float>(), 0.0f);
  }
  ag["aggregate"] = "trimmed_mean_70";
  const test::HttpAnswer bad_agg = test::http_post(port, "/v1/forecast", ag.dump());
  EXPECT_EQ(bad_agg.status, 400) << bad_agg.body;
  EXPECT_EQ(bad_agg.json()["error"]["param"], "aggregate") << bad_agg.body;

  // /v1/models describes the model.
  const test::HttpAnswer models = test::http_get(port, "/v1/models");
  ASSERT_EQ(models.status, 200);
  const json mo = models.json()["models"][0];
  EXPECT_EQ(mo["name"], "toto");
  EXPECT_EQ(mo["identity"], want["metadata"]["identity"]);
  EXPECT_TRUE(mo.contains("executor") && mo.contains("dtype") && mo.contains("random_weights"));
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
}

TEST(Serve, EveryErrorCode) {
  test::TempDir dir("serve_errors");
  const std::string key = "s3cret";
  test::ServeProcess srv(base_args({"--api-key", key, "--max-body-bytes", "4096", "--max-series-length", "200"}),
                         dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  const test::MarketSlice m = test::mstr_closes(96);
  auto expect_error = [&](const test::HttpAnswer& a, int status, const std::string& code, const std::string& param = "") {
    EXPECT_EQ(a.status, status) << a.body;
    const json j = a.json();
    ASSERT_TRUE(j.is_object() && j.contains("error")) << a.body;
    EXPECT_EQ(j["error"]["code"], code) << a.body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    if (!param.empty()) {
      EXPECT_EQ(j["error"]["param"], param) << a.body;
    }
  };
  // 401: no token, a wrong token; /health needs none.
  expect_error(test::http_post(port, "/v1/forecast", "{}"), 401, "unauthorized");
  expect_error(test::http_get(port, "/metrics", "wrong"), 401, "unauthorized");
  EXPECT_EQ(test::http_get(port, "/health").status, 200);
  EXPECT_EQ(test::http_get(port, "/ready", key).status, 200);
  // 400: malformed JSON, wrong types, empty and all-missing series, impossible horizons, unknown fields.
  expect_error(test::http_post(port, "/v1/forecast", "{\"series\": [", key), 400, "invalid_json");
  json b = native_body(m.close, {}, 0, 0);
  b["prediction_length"] = "five";
  expect_error(test::http_post(port, "/v1/forecast", b.dump(), key), 400, "invalid_request", "prediction_length");
  b = native_body({}, {}, 0, 0);
  expect_error(test::http_post(port, "/v1/forecast", b.dump(), key), 400, "invalid_request", "series[0].values");
  b = native_body(m.close, {}, 0, 0);
  b["series"][0]["values"] = json::array({nullptr, nullptr, nullptr});
  expect_error(test::http_post(port, "/v1/forecast", b.dump(), key), 400, "invalid_request", "series[0].values");
  b = native_body(m.close, {}, 0, 0, "x", 0);
  expect_error(test::http_post(port, "/v1/forecast", b.dump(), key), 400, "invalid_request", "prediction_length");
  b = native_body(m.close, {}, 0, 0, "x", 100000);
  expect_error(test::http_post(port, "/v1/forecast", b.dump(), key), 400, "invalid_request", "prediction_length");
  b = native_body(m.close, {}, 0, 0);
  b["file"] = "/etc/passwd";
  expect_error(test::http_post(port, "/v1/forecast", b.dump(), key), 400, "invalid_request", "file");
  b = native_body(m.close, {}, 0, 0);
  b["options"] = {{"no_such_option", 1}};  // the session's validation, answered as 400
  expect_error(test::http_post(port, "/v1/forecast", b.dump(), key), 400, "invalid_request");
  expect_error(test::http_post(port, "/v1/timeseries/forecast", "{\"model\":\"toto\",\"inputs\":[]}", key), 400,
               "invalid_request", "options");
  // 404: an unknown model, an unknown path.
  b = native_body(m.close, {}, 0, 0);
  b["model"] = "chronos";
  expect_error(test::http_post(port, "/v1/forecast", b.dump(), key), 404, "model_not_found", "model");
  expect_error(test::http_get(port, "/v2/nothing", key), 404, "not_found");
  // 413: a body over --max-body-bytes, a series over --max-series-length.
  std::vector<double> long_series(1000, 1.5);
  expect_error(test::http_post(port, "/v1/forecast", native_body(long_series, {}, 0, 0).dump(), key), 413, "body_too_large");
  std::vector<double> over(201, 1.0);
  expect_error(test::http_post(port, "/v1/forecast", native_body(over, {}, 0, 0).dump(), key), 413, "series_too_long");
  // The server is still fine.
  const test::HttpAnswer ok = test::http_post(port, "/v1/forecast", native_body(m.close, {}, 0, 0).dump(), key);
  EXPECT_EQ(ok.status, 200) << ok.body;
  srv.signal(SIGINT);
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
}

// 429 and 504 on a server whose worker waits 2 s for company: the first request is taken and
// waits (past its 1 s deadline: 504), the second (another horizon, so it cannot join) fills the
// one-place queue (504 too: it runs after the first), the third finds the queue full (429).
TEST(Serve, QueueFullAndDeadline) {
  test::TempDir dir("serve_queue");
  test::ServeProcess srv(base_args({"--queue-size", "1", "--batch-wait-ms", "2000", "--timeout-ms", "1000"}),
                         dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  ASSERT_TRUE(test::http_get(port, "/v1/models").json()["models"][0]["batching"].get<bool>())
      << "the batch probe found Toto's point forecasts batch-dependent: " << srv.stderr_text();
  const std::vector<double> v = test::mstr_closes(96).close;
  auto first = std::async(std::launch::async, [&] { return test::http_post(port, "/v1/forecast", native_body(v, {}, 0, 0, "a", 5).dump()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto second = std::async(std::launch::async, [&] { return test::http_post(port, "/v1/forecast", native_body(v, {}, 0, 0, "b", 4).dump()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const test::HttpAnswer third = test::http_post(port, "/v1/forecast", native_body(v, {}, 0, 0, "c", 3).dump());
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_EQ(third.json()["error"]["code"], "queue_full");
  const test::HttpAnswer a = first.get(), b = second.get();
  EXPECT_EQ(a.status, 504) << a.body;
  EXPECT_EQ(a.json()["error"]["code"], "deadline_exceeded");
  EXPECT_EQ(b.status, 504) << b.body;
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
}

// 64 clients at once, each with its own series (point forecasts, which the scheduler gathers,
// and sampled ones, which run alone), each answer equal to the one the same request got alone.
TEST(Serve, ConcurrentClientsGetTheirOwnAnswers) {
  test::TempDir dir("serve_concurrent");
  test::ServeProcess srv(base_args({"--max-batch", "8", "--batch-wait-ms", "20"}), dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  constexpr int kClients = 64;
  std::vector<std::string> bodies;
  std::vector<std::vector<float>> alone;
  for (int k = 0; k < kClients; ++k) {
    bodies.push_back(native_body(client_series(k), {}, k % 8 == 7 ? 8 : 0, static_cast<uint64_t>(k), client_id(k)).dump());
    const test::HttpAnswer a = test::http_post(port, "/v1/forecast", bodies.back());
    ASSERT_EQ(a.status, 200) << a.body;
    alone.push_back(means_of(a.json()));
  }
  const auto before = parse_metrics(test::http_get(port, "/metrics").body);
  std::vector<std::future<test::HttpAnswer>> answers;
  std::atomic<int> go{0};
  for (int k = 0; k < kClients; ++k)
    answers.push_back(std::async(std::launch::async, [&, k] {
      while (!go.load()) std::this_thread::yield();
      return test::http_post(port, "/v1/forecast", bodies[static_cast<size_t>(k)]);
    }));
  go.store(1);
  for (int k = 0; k < kClients; ++k) {
    const test::HttpAnswer a = answers[static_cast<size_t>(k)].get();
    ASSERT_EQ(a.status, 200) << "client " << k << ": " << a.body << "\n" << srv.stderr_text();
    const json j = a.json();
    EXPECT_EQ(j["series"][0]["id"], client_id(k));
    EXPECT_EQ(means_of(j), alone[static_cast<size_t>(k)]) << "client " << k;
  }
  // Some run held more than one series (the gathering happened).
  const auto after = parse_metrics(test::http_get(port, "/metrics").body);
  const std::string sum = "fcast_batch_series_sum{model=\"toto\"}", count = "fcast_batch_series_count{model=\"toto\"}";
  const double series = after.at(sum) - before.at(sum), runs = after.at(count) - before.at(count);
  EXPECT_EQ(series, kClients);
  EXPECT_LT(runs, kClients) << "no run gathered more than one request";
  std::cerr << "[ info ] " << kClients << " concurrent requests ran in " << runs << " session runs\n";
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
}

// SIGTERM while requests wait in the scheduler: every one is answered, the exit status is 0.
TEST(Serve, SigtermFinishesRequestsInFlight) {
  test::TempDir dir("serve_sigterm");
  test::ServeProcess srv(base_args({"--batch-wait-ms", "10000", "--max-batch", "64"}), dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  std::vector<std::future<test::HttpAnswer>> answers;
  for (int k = 0; k < 12; ++k)
    answers.push_back(std::async(std::launch::async, [&, k] {
      // Sampled and point forecasts: some wait in the gathering run, others in the queue behind it.
      return test::http_post(port, "/v1/forecast", native_body(client_series(k), {}, k % 3 == 0 ? 8 : 0, 1).dump());
    }));
  // Signal once all 12 are in the server (received, not answered): under a sanitizer the clients
  // may need seconds to connect, and a request not yet accepted is not in flight.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  double in_flight = 0;
  while (std::chrono::steady_clock::now() < until) {
    const auto m = parse_metrics(test::http_get(port, "/metrics").body);
    in_flight = m.count("fcast_requests_in_flight") ? m.at("fcast_requests_in_flight") : 0;
    if (in_flight >= 12) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(in_flight, 12) << "the 12 requests did not all reach the server";
  srv.signal(SIGTERM);
  for (auto& f : answers) {
    const test::HttpAnswer a = f.get();
    EXPECT_EQ(a.status, 200) << a.body;
  }
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
  EXPECT_EQ(srv.wait_line("stopped", 5), "stopped");
}

TEST(Serve, MetricsAgreeWithTheTraffic) {
  test::TempDir dir("serve_metrics");
  test::ServeProcess srv(base_args(), dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  const test::MarketSlice m = test::mstr_closes(96);
  for (int k = 0; k < 5; ++k)
    ASSERT_EQ(test::http_post(port, "/v1/forecast", native_body(m.close, {}, k % 2 ? 8 : 0, 3).dump()).status, 200);
  for (int k = 0; k < 3; ++k) ASSERT_EQ(test::http_post(port, "/v1/forecast", "not json").status, 400);
  const std::string text = test::http_get(port, "/metrics").body;
  const auto mt = parse_metrics(text);
  auto at = [&](const std::string& series) {
    auto it = mt.find(series);
    EXPECT_NE(it, mt.end()) << series << " missing in\n" << text;
    return it == mt.end() ? -1.0 : it->second;
  };
  EXPECT_EQ(at("fcast_requests_total{endpoint=\"/v1/forecast\",model=\"toto\",status=\"200\"}"), 5);
  EXPECT_EQ(at("fcast_requests_total{endpoint=\"/v1/forecast\",model=\"\",status=\"400\"}"), 3);
  EXPECT_EQ(at("fcast_request_seconds_count{endpoint=\"/v1/forecast\",model=\"toto\"}"), 5);
  EXPECT_EQ(at("fcast_request_seconds_bucket{endpoint=\"/v1/forecast\",model=\"toto\",le=\"+Inf\"}"), 5);
  EXPECT_EQ(at("fcast_queue_seconds_count{model=\"toto\"}"), 5);
  EXPECT_EQ(at("fcast_batch_series_sum{model=\"toto\"}"), 5);
  EXPECT_EQ(at("fcast_queue_depth{model=\"toto\"}"), 0);
  EXPECT_EQ(at("fcast_requests_in_flight"), 0);
  EXPECT_EQ(at("fcast_ready"), 1);
  EXPECT_EQ(at("fcast_nonfinite_outputs_total{model=\"toto\"}"), 0);
  // Requests at the warmed-up shapes build no plan after warm-up.
  EXPECT_EQ(at("fcast_recompiles_total{model=\"toto\"}"), 0);
  EXPECT_EQ(text.find("fcast_recompiles_by_reason_total{"), std::string::npos) << "a recompile at a warmed shape";
  EXPECT_EQ(at("fcast_eager_fallbacks_total{model=\"toto\"}"), 0);
  EXPECT_GT(at("fcast_process_resident_memory_bytes"), 1e6);
  EXPECT_GE(at("fcast_process_peak_resident_memory_bytes"), at("fcast_process_resident_memory_bytes"));
  EXPECT_GT(at("fcast_model_load_seconds{model=\"toto\"}"), 0);
  // Every family has HELP and TYPE; counters end in _total; histogram buckets are cumulative.
  std::regex type_line("# TYPE (fcast_[a-z_]+) (counter|gauge|histogram)");
  int families = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it) {
    ++families;
    const std::string name = (*it)[1], type = (*it)[2];
    EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
    if (type == "counter") {
      EXPECT_EQ(name.substr(name.size() - 6), "_total") << name;
    }
  }
  EXPECT_GE(families, 15);
  // Two variates (warm-up had one) build a plan after warm-up: counted, with the signature
  // field that changed as its reason.
  json two = native_body(m.close, {}, 0, 3);
  two["series"][0]["variates"] = {"close", "close2"};
  two["series"][0]["values"] = {m.close, m.close};
  ASSERT_EQ(test::http_post(port, "/v1/forecast", two.dump()).status, 200);
  const auto after = parse_metrics(test::http_get(port, "/metrics").body);
  EXPECT_GE(after.at("fcast_recompiles_total{model=\"toto\"}"), 1);
  double by_reason = 0;
  for (const auto& [series, value] : after)
    if (series.rfind("fcast_recompiles_by_reason_total{model=\"toto\",reason=\"", 0) == 0) {
      EXPECT_NE(series.find("variates"), std::string::npos) << series;
      by_reason += value;
    }
  EXPECT_EQ(by_reason, after.at("fcast_recompiles_total{model=\"toto\"}"));
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
}

// A real Prometheus (Debian's `prometheus`) scrapes the server every second; the test reads
// fcast_requests_total back through Prometheus' query API (bounded wait, not a timed assertion).
TEST(Serve, PrometheusScrapesTheServer) {
  const std::string prometheus = "/usr/bin/prometheus";
  if (access(prometheus.c_str(), X_OK) != 0) GTEST_SKIP() << prometheus << " is not installed (scripts/setup installs it)";
  test::TempDir dir("serve_prometheus");
  test::ServeProcess srv(base_args(), dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  const test::MarketSlice m = test::mstr_closes(96);
  ASSERT_EQ(test::http_post(port, "/v1/forecast", native_body(m.close, {}, 0, 0).dump()).status, 200);
  // A free loopback port for Prometheus' web server.
  int prom_port = 0;
  {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      prom_port = ntohs(a.sin_port);
    close(fd);
  }
  ASSERT_GT(prom_port, 0);
  test::spit(dir.sub("prometheus.yml"), "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                                        "  - job_name: fcast\n    static_configs:\n      - targets: ['127.0.0.1:" +
                                            std::to_string(port) + "']\n");
  const pid_t prom = fork();
  if (prom == 0) {
    const int err = open(dir.sub("prometheus.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(err, 1);
    dup2(err, 2);
    const std::string cfg = "--config.file=" + dir.sub("prometheus.yml"), data = "--storage.tsdb.path=" + dir.sub("data"),
                      listen = "--web.listen-address=127.0.0.1:" + std::to_string(prom_port);
    execl(prometheus.c_str(), prometheus.c_str(), cfg.c_str(), data.c_str(), listen.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(prom, 0);
  json found;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(prom, nullptr, WNOHANG) == prom) break;  // it exited (its log says why)
    httplib::Client c("127.0.0.1", prom_port);
    auto r = c.Get("/api/v1/query?query=fcast_requests_total");
    if (r && r->status == 200) {
      const json j = json::parse(r->body, nullptr, false);
      if (j.is_object() && j["status"] == "success" && !j["data"]["result"].empty()) {
        found = j;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  kill(prom, SIGTERM);
  waitpid(prom, nullptr, 0);
  ASSERT_FALSE(found.is_null()) << "Prometheus never returned fcast_requests_total; its log:\n" << test::slurp(dir.sub("prometheus.log"));
  bool ok_series = false;
  for (const json& r : found["data"]["result"])
    ok_series = ok_series || (r["metric"]["status"] == "200" && r["metric"]["model"] == "toto" && r["value"][1] == "1");
  EXPECT_TRUE(ok_series) << found.dump();
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
}

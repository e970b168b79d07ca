// Drift scoring of `fcast serve` end to end (a server child on an ephemeral loopback port, the
// tiny Toto): a forecast with timestamps is stored; POST /v1/actuals scores it with the numbers
// this test computes from the forecast's own means and outermost quantiles; a later forecast
// whose bars pass the first origin scores the steps left; /metrics and GET /v1/drift agree; bad
// /v1/actuals bodies are 400 and the server keeps serving; the cap evicts.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>

#include "serve/api.h"
#include "serve_util.h"

using namespace fcast;
using json = nlohmann::json;

namespace {

std::vector<std::string> base_args(std::vector<std::string> more = {}) { return test::toto_serve_args(std::move(more)); }

constexpr int64_t kDay = 86400;
constexpr int64_t kStart = 1700006400;  // 2023-11-15, midnight UTC

// 101 MSTR closes on regular daily stamps: a forecast from the first 96 has its 5 future stamps
// on the last 5.
struct Series {
  std::vector<double> values;
  std::vector<int64_t> stamps;
};
Series daily_closes() {
  Series s;
  s.values = test::mstr_closes(101).close;
  for (size_t k = 0; k < s.values.size(); ++k) s.stamps.push_back(kStart + static_cast<int64_t>(k) * kDay);
  return s;
}

json forecast_body(const Series& s, size_t from, const std::string& id = "MSTR") {
  const std::vector<double> v(s.values.begin() + from, s.values.begin() + from + 96);
  const std::vector<int64_t> t(s.stamps.begin() + from, s.stamps.begin() + from + 96);
  return {{"model", "toto"},
          {"series", json::array({{{"id", id}, {"variates", {"close"}}, {"values", v}, {"timestamps", t}}})},
          {"prediction_length", 5}, {"num_samples", 8}, {"seed", 3}, {"options", {{"samples_per_batch", 4}}},
          {"quantiles", {0.1, 0.5, 0.9}}};
}

// The scores the server should give, from the forecast rows (steps `from`..`to`-1) and actuals.
struct Expected {
  double mae = 0, rmse = 0, mape = 0, wape = 0, coverage = 0;
};
Expected expected_scores(const json& rows, const std::vector<double>& actual, size_t from, size_t to) {
  double abs = 0, sq = 0, ape = 0, act = 0, in = 0;
  for (size_t h = from; h < to; ++h) {
    const double f = rows[h]["mean"].get<double>(), a = actual[h];
    abs += std::fabs(f - a);
    sq += (f - a) * (f - a);
    ape += std::fabs(f - a) / std::fabs(a);
    act += std::fabs(a);
    in += a >= rows[h]["q0.1"].get<double>() && a <= rows[h]["q0.9"].get<double>() ? 1 : 0;
  }
  const double n = static_cast<double>(to - from);
  return {abs / n, std::sqrt(sq / n), ape / n, abs / act, in / n};
}

void expect_scores(const json& got, const Expected& e) {
  // The server scores the float forecast; the JSON carries its shortest decimal form.
  EXPECT_NEAR(got["mae"].get<double>(), e.mae, 1e-6 * (1 + e.mae)) << got.dump();
  EXPECT_NEAR(got["rmse"].get<double>(), e.rmse, 1e-6 * (1 + e.rmse));
  EXPECT_NEAR(got["mape"].get<double>(), e.mape, 1e-6);
  EXPECT_NEAR(got["wape"].get<double>(), e.wape, 1e-6);
  EXPECT_DOUBLE_EQ(got["coverage"].get<double>(), e.coverage);
}

std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

}  // namespace

TEST(ServeDrift, ActualsAndLaterForecastScoreTheStoredForecast) {
  test::TempDir dir("serve_drift");
  test::ServeProcess server(base_args(), (dir.path / "err.txt").string());
  const int port = server.start();
  ASSERT_GT(port, 0) << server.stderr_text();
  const Series s = daily_closes();
  const std::vector<double> future(s.values.begin() + 96, s.values.end());

  test::HttpAnswer a = test::http_post(port, "/v1/forecast", forecast_body(s, 0).dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json rows = a.json()["series"][0]["forecast"];
  ASSERT_EQ(rows.size(), 5u);
  for (size_t h = 0; h < 5; ++h) ASSERT_EQ(rows[h]["timestamp"], format_timestamp(s.stamps[96 + h], false));

  // The first 3 realised closes, stamped as date strings; an id never forecast alongside.
  json dates = json::array();
  for (size_t h = 0; h < 3; ++h) dates.push_back(format_timestamp(s.stamps[96 + h], false));
  const json actuals = {
      {"model", "toto"},
      {"series",
       {{{"id", "MSTR"}, {"variates", {"close"}}, {"timestamps", dates},
         {"values", std::vector<double>(future.begin(), future.begin() + 3)}},
        {{"id", "NEVER"}, {"timestamps", {s.stamps[96]}}, {"values", {1.0}}}}}};
  a = test::http_post(port, "/v1/actuals", actuals.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  json j = a.json();
  EXPECT_EQ(j["scored_series"], 1);
  json got = j["series"][0];
  EXPECT_EQ(got["status"], "scored");
  EXPECT_EQ(got["steps"], 3);
  EXPECT_EQ(got["origin"], s.stamps[95]);
  const Expected first = expected_scores(rows, future, 0, 3);
  expect_scores(got, first);
  EXPECT_TRUE(got["delta"].is_null());  // no baseline before 5 scores
  EXPECT_EQ(j["series"][1]["status"], "not_found");
  EXPECT_EQ(j["series"][1]["error"]["code"], "no_forecast");

  // The same values again score nothing.
  a = test::http_post(port, "/v1/actuals", actuals.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["scored_series"], 0);
  EXPECT_EQ(a.json()["series"][0]["status"], "no_match");
  EXPECT_EQ(a.json()["series"][0]["already_scored"], 3);

  // The next forecast's bars run through all 5 future stamps: steps 4 and 5 are scored now.
  a = test::http_post(port, "/v1/forecast", forecast_body(s, 5).dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const Expected second = expected_scores(rows, future, 3, 5);

  a = test::http_get(port, "/v1/drift");
  ASSERT_EQ(a.status, 200) << a.body;
  const json d = a.json()["models"]["toto"];
  EXPECT_EQ(d["scores"], 2);
  EXPECT_EQ(d["scored_values"], 5);
  EXPECT_EQ(d["tracked_series"], 1);
  EXPECT_EQ(d["state"], "insufficient");
  EXPECT_TRUE(d["baseline_wape"].is_null());
  EXPECT_EQ(d["baseline_source"], "learning (2 of 5 scores)");
  ASSERT_EQ(d["last_scores"].size(), 2u);
  EXPECT_EQ(d["last_scores"][1]["steps"], 2);
  expect_scores(d["last_scores"][1], second);
  EXPECT_NEAR(d["rolling"]["mae"].get<double>(), (first.mae + second.mae) / 2, 1e-6 * (1 + first.mae));

  a = test::http_get(port, "/metrics");
  ASSERT_EQ(a.status, 200);
  auto m = parse_metrics(a.body);
  EXPECT_EQ(m["fcast_drift_scores_total{model=\"toto\"}"], 2);
  EXPECT_EQ(m["fcast_drift_scored_steps_total{model=\"toto\"}"], 5);
  EXPECT_EQ(m["fcast_drift_series_evicted_total{model=\"toto\"}"], 0);
  EXPECT_EQ(m["fcast_drift_tracked_series{model=\"toto\"}"], 1);
  EXPECT_NEAR(m["fcast_drift_mae{model=\"toto\"}"], (first.mae + second.mae) / 2, 1e-6 * (1 + first.mae));
  EXPECT_NEAR(m["fcast_drift_rmse{model=\"toto\"}"], (first.rmse + second.rmse) / 2, 1e-6 * (1 + first.rmse));
  EXPECT_NEAR(m["fcast_drift_wape{model=\"toto\"}"], (first.wape + second.wape) / 2, 1e-6);
  EXPECT_NEAR(m["fcast_drift_coverage{model=\"toto\"}"], (first.coverage + second.coverage) / 2, 1e-12);
  EXPECT_EQ(m["fcast_drift_alert{model=\"toto\",state=\"insufficient\"}"], 1);
  EXPECT_EQ(m["fcast_drift_alert{model=\"toto\",state=\"regress\"}"], 0);
  EXPECT_EQ(m.count("fcast_drift_baseline_wape{model=\"toto\"}"), 0u);
  EXPECT_EQ(m["fcast_requests_total{endpoint=\"/v1/actuals\",model=\"toto\",status=\"200\"}"], 2);
}

TEST(ServeDrift, BadActualsAre400AndTheServerKeepsServing) {
  test::TempDir dir("serve_drift_bad");
  test::ServeProcess server(base_args(), (dir.path / "err.txt").string());
  const int port = server.start();
  ASSERT_GT(port, 0) << server.stderr_text();
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{", "invalid_json"},
      {"[1, 2]", "invalid_request"},
      {R"({"model": "toto"})", "invalid_request"},
      {R"({"model": "toto", "series": []})", "invalid_request"},
      {R"({"model": "toto", "series": [{"id": "A", "values": [1, 2]}]})", "invalid_request"},  // no timestamps
      {R"({"model": "toto", "series": [{"id": "A", "values": [1, 2], "timestamps": [1]}]})", "invalid_request"},
      {R"({"model": "toto", "series": [{"id": "A", "values": ["x"], "timestamps": [1]}]})", "invalid_request"},
      {R"({"model": "toto", "series": [{"id": "A", "values": [1], "timestamps": ["yesterday"]}]})", "invalid_request"},
      {R"({"model": "toto", "series": [{"values": [1], "timestamps": [1]}]})", "invalid_request"},  // no id
      {R"({"model": "toto", "series": [{"id": "A", "values": [1], "timestamps": [1], "path": "/etc"}]})", "invalid_request"},
      {R"({"model": "toto", "series": [{"id": "A", "values": [null], "timestamps": [1]}]})", "invalid_request"},
      {R"({"model": "toto", "extra": 1, "series": [{"id": "A", "values": [1], "timestamps": [1]}]})", "invalid_request"},
  };
  for (const auto& [body, code] : bad) {
    const test::HttpAnswer a = test::http_post(port, "/v1/actuals", body);
    EXPECT_EQ(a.status, 400) << body << " -> " << a.body;
    EXPECT_EQ(a.json()["error"]["code"], code) << body << " -> " << a.body;
  }
  test::HttpAnswer a = test::http_post(port, "/v1/actuals", R"({"model": "chronos", "series": []})");
  EXPECT_EQ(a.status, 404) << a.body;
  EXPECT_EQ(a.json()["error"]["code"], "model_not_found");
  // Still serving.
  a = test::http_post(port, "/v1/forecast", forecast_body(daily_closes(), 0).dump());
  EXPECT_EQ(a.status, 200) << a.body;
  a = test::http_post(port, "/v1/actuals",
                      json({{"series", {{{"id", "MSTR"}, {"timestamps", {kStart + 96 * kDay}}, {"values", {1.0}}}}}}).dump());
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["series"][0]["status"], "scored");
  EXPECT_EQ(test::http_get(port, "/health").status, 200);
}

TEST(ServeDrift, CapEvictsAndKServeInputsAreTracked) {
  test::TempDir dir("serve_drift_cap");
  test::ServeProcess server(base_args({"--drift-max-series", "1", "--drift-baseline-wape", "toto=0.05"}),
                            (dir.path / "err.txt").string());
  const int port = server.start();
  ASSERT_GT(port, 0) << server.stderr_text();
  const Series s = daily_closes();
  ASSERT_EQ(test::http_post(port, "/v1/forecast", forecast_body(s, 0, "A").dump()).status, 200);
  // A KServe input: its name is the id, start_timestamp and frequency give the stamps.
  const std::vector<double> v(s.values.begin(), s.values.begin() + 96);
  const json ks = {{"model", "toto"},
                   {"inputs", {{{"name", "B"}, {"type", "univariate_time_series"}, {"series", v}, {"frequency", "D"},
                                {"start_timestamp", serve::iso8601(kStart)}}}},
                   {"options", {{"horizon", 5}, {"quantiles", {0.1, 0.9}}}}};
  test::HttpAnswer a = test::http_post(port, "/v1/timeseries/forecast", ks.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const double b0 = a.json()["outputs"][0]["content"][0]["mean_forecast"][0].get<double>();

  a = test::http_post(port, "/v1/actuals",
                      json({{"model", "toto"},
                            {"series", {{{"id", "A"}, {"timestamps", {kStart + 96 * kDay}}, {"values", {1.0}}},
                                        {{"id", "B"}, {"timestamps", {kStart + 96 * kDay}}, {"values", {b0 + 1}}}}}})
                          .dump());
  ASSERT_EQ(a.status, 200) << a.body;
  json j = a.json();
  EXPECT_EQ(j["series"][0]["status"], "not_found");  // A was evicted by B
  ASSERT_EQ(j["series"][1]["status"], "scored");
  EXPECT_NEAR(j["series"][1]["mae"].get<double>(), 1.0, 1e-6 * (1 + std::fabs(b0)));  // b0 is a float
  const double wape = 1.0 / std::fabs(b0 + 1);
  EXPECT_NEAR(j["series"][1]["delta"].get<double>(), (0.05 - wape) / 0.05, 1e-6);

  auto m = parse_metrics(test::http_get(port, "/metrics").body);
  EXPECT_EQ(m["fcast_drift_series_evicted_total{model=\"toto\"}"], 1);
  EXPECT_EQ(m["fcast_drift_tracked_series{model=\"toto\"}"], 1);
  EXPECT_EQ(m["fcast_drift_baseline_wape{model=\"toto\"}"], 0.05);
  a = test::http_get(port, "/v1/drift");
  EXPECT_EQ(a.json()["models"]["toto"]["baseline_source"], "flag");
  EXPECT_EQ(a.json()["models"]["toto"]["evicted_series"], 1);
}

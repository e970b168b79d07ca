// The serving pieces without a server: the Prometheus text of the metrics registry (escaping,
// cumulative histogram buckets, _sum/_count) and the request parsers' errors (status, code,
// the field named).
#include <gtest/gtest.h>

#include "serve/api.h"
#include "serve/metrics.h"
#include "serve/scheduler.h"

using namespace fcast;
using namespace fcast::serve;
using json = nlohmann::json;

TEST(ServeMetrics, PrometheusTextFormat) {
  Metrics m;
  m.define_counter("requests_total", "Requests\nanswered \\ by status");
  m.define_gauge("queue_depth", "Waiting");
  m.define_histogram("run_seconds", "Runs", {0.1, 1});
  m.inc("requests_total", {{"model", "a\"b\\c\nd"}, {"status", "200"}});
  m.inc("requests_total", {{"model", "a\"b\\c\nd"}, {"status", "200"}}, 2);
  m.set("queue_depth", {{"model", "toto"}}, 4);
  m.inc("queue_depth", {{"model", "toto"}}, -1);
  for (double v : {0.05, 0.1, 0.5, 7.0}) m.observe("run_seconds", {{"model", "toto"}}, v);
  const std::string t = m.render();
  EXPECT_NE(t.find("# HELP fcast_requests_total Requests\\nanswered \\\\ by status\n# TYPE fcast_requests_total counter\n"),
            std::string::npos) << t;
  EXPECT_NE(t.find("fcast_requests_total{model=\"a\\\"b\\\\c\\nd\",status=\"200\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("fcast_queue_depth{model=\"toto\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("fcast_run_seconds_bucket{model=\"toto\",le=\"0.1\"} 2\n"), std::string::npos) << t;  // le is inclusive
  EXPECT_NE(t.find("fcast_run_seconds_bucket{model=\"toto\",le=\"1\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("fcast_run_seconds_bucket{model=\"toto\",le=\"+Inf\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("fcast_run_seconds_sum{model=\"toto\"} 7.65\n"), std::string::npos) << t;
  EXPECT_NE(t.find("fcast_run_seconds_count{model=\"toto\"} 4\n"), std::string::npos) << t;
  EXPECT_EQ(m.value("queue_depth", {{"model", "toto"}}), 3);
  EXPECT_GT(process_rss_bytes(), 0);
  EXPECT_GE(process_peak_rss_bytes(), process_rss_bytes());
}

TEST(ServeApi, ParsersNameTheField) {
  const ModelEntry& toto = find_model("toto");
  ServedModels served = {{"toto", ServedModel{&toto, nullptr}}};
  RequestLimits limits;
  auto error_of = [&](const std::string& body, bool kserve) -> ApiError {
    try {
      const json j = json::parse(body);
      if (kserve) parse_kserve(j, served, limits);
      else parse_native(j, served, limits);
    } catch (const ApiError& e) {
      return e;
    }
    return ApiError(0, "none", "no error");
  };
  ApiError e = error_of(R"({"series":[{"values":[1,2,"x"]}]})", false);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "series[0].values");
  e = error_of(R"({"model":"nope","series":[]})", false);
  EXPECT_EQ(e.status, 404);
  e = error_of(R"({"series":[{"values":[[1,2],[3]]}]})", false);
  EXPECT_EQ(e.param, "series[0].values[1]");
  e = error_of(R"({"series":[{"values":[1,2]}],"seed":-1})", false);
  EXPECT_EQ(e.param, "seed");
  e = error_of(R"({"series":[{"values":[1,2]}],"quantiles":[1.5]})", false);
  EXPECT_EQ(e.param, "quantiles");
  e = error_of(R"({"model":"toto","inputs":[{"type":"univariate_time_series","name":"a","series":[1,2],"frequency":"D"}],"options":{}})", true);
  EXPECT_EQ(e.param, "options.horizon");
  // A bad input is rejected alone (per-output error), not the request.
  const KServeRequest k = parse_kserve(json::parse(R"({"model":"toto","options":{"horizon":2},"inputs":[
      {"type":"univariate_time_series","name":"a","series":[1,2,3],"frequency":"H","start_timestamp":"2025-01-01T00:00:00Z"},
      {"type":"weekly","name":"b","series":[1],"frequency":"H"},
      {"type":"univariate_time_series","name":"c","series":[1,2],"frequency":"fortnight"}]})"), served, limits);
  ASSERT_EQ(k.inputs.size(), 3u);
  EXPECT_EQ(k.inputs[0].request_index, 0);
  EXPECT_EQ(k.request.series.size(), 1u);
  EXPECT_EQ(k.request.series[0].timestamps, (std::vector<int64_t>{1735689600, 1735693200, 1735696800}));
  EXPECT_EQ(k.inputs[1].error.param, "inputs[1].type");
  EXPECT_EQ(k.inputs[2].error.param, "inputs[2].frequency");
  EXPECT_EQ(iso8601(1735689600), "2025-01-01T00:00:00Z");
  EXPECT_EQ(frequency_seconds("day"), 86400);
}

TEST(ServeMetrics, RecompileReasonLabelIsTheChangedFields) {
  EXPECT_EQ(recompile_reason_label("context 64 -> 128"), "context");
  EXPECT_EQ(recompile_reason_label("context 64 -> 128, batch 1 -> 2"), "batch+context");
  EXPECT_EQ(recompile_reason_label("horizon (none) -> 8, horizon 1 -> 2"), "horizon");
  EXPECT_EQ(recompile_reason_label(""), "unknown");
}

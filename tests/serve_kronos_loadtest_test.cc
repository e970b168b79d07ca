// `fcast serve` with Kronos (the tiny golden predictor + tokenizer): the native answer equals
// `fcast predict kronos` for the same bars, paths and seed; concurrent Kronos requests with
// their own seeds are gathered and each gets the answer it got alone. And `fcast loadtest`
// against a live server: every request answered, the summary consistent, a clear error when no
// server listens.
#include <gtest/gtest.h>

#include <cmath>
#include <future>

#include "serve_util.h"

using namespace fcast;
using json = nlohmann::json;

namespace {

std::string kronos_tiny(const std::string& part) { return test::test_data("golden/kronos/models/tiny/" + part); }

struct Bars {
  std::map<std::string, std::vector<double>> cols;
  std::vector<int64_t> timestamps;
};

Bars mstr_bars(int64_t rows) {
  MarketTable t = read_market_csv(test::test_data("market/MSTR.csv"));
  t.keep_last(rows);
  Bars b;
  for (const char* c : {"open", "high", "low", "close", "volume"}) b.cols[c] = t.column(c);
  for (int64_t k = 0; k < t.rows(); ++k) b.timestamps.push_back(t.timestamps[k] + t.utc_offsets[k]);
  return b;
}

json kronos_body(const Bars& b, int64_t paths, uint64_t seed, const std::string& id, double scale = 1.0) {
  json values = json::array(), names = json::array();
  for (const char* c : {"open", "high", "low", "close", "volume"}) {
    names.push_back(c);
    std::vector<double> v = b.cols.at(c);
    for (auto& x : v) x *= scale;
    values.push_back(v);
  }
  return {{"model", "kronos"},
          {"series", json::array({{{"id", id}, {"variates", names}, {"values", values}, {"timestamps", b.timestamps}}})},
          {"prediction_length", 3},
          {"num_samples", paths},
          {"seed", seed}};
}

// variate -> per-step means of a native answer.
std::map<std::string, std::vector<double>> means_by_variate(const json& answer) {
  std::map<std::string, std::vector<double>> m;
  for (const json& row : answer["series"][0]["forecast"]) m[row["variate"]].push_back(row["mean"].get<double>());
  return m;
}

std::vector<std::string> kronos_args() {
  return {"--kronos", kronos_tiny("predictor"), "--kronos-tokenizer", kronos_tiny("tokenizer"), "--port", "0",
          "--no-persistent-cache", "--warm-up-contexts", "96", "--warm-up-samples", "2", "--warm-up-horizon", "3",
          "--threads", "1", "--max-batch", "4", "--batch-wait-ms", "50"};
}

}  // namespace

TEST(ServeKronos, NativeEqualsPredictAndBatchesKeepEachAnswer) {
  test::TempDir dir("serve_kronos");
  const test::CommandResult p = test::run_command(
      test::shell_quote(test::fcast_binary()) + " predict kronos --model " + test::shell_quote(kronos_tiny("predictor")) +
          " --tokenizer " + test::shell_quote(kronos_tiny("tokenizer")) + " --input " +
          test::shell_quote(test::test_data("market/MSTR.csv")) +
          " --lookback 96 --pred-len 3 --sample-count 2 --seed 5 --format json --no-persistent-cache",
      dir.sub("p.out"), dir.sub("p.err"));
  ASSERT_EQ(p.status, 0) << p.err;
  const json want = json::parse(p.out);

  test::ServeProcess srv(kronos_args(), dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  const Bars bars = mstr_bars(96);
  const test::HttpAnswer a = test::http_post(port, "/v1/forecast", kronos_body(bars, 2, 5, "MSTR").dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const auto got = means_by_variate(a.json());
  // `predict kronos` prints the shortest text of each float: equal to that precision.
  for (const char* c : {"open", "high", "low", "close", "volume", "amount"}) {
    ASSERT_EQ(got.count(c), 1u) << c << " missing: " << a.body;
    ASSERT_EQ(got.at(c).size(), 3u) << c;
    for (size_t h = 0; h < 3; ++h) {
      double w = 0;  // predict's row for variate c, step h + 1
      for (const json& row : want["forecast"])
        if (row["variate"] == c && row["step"] == h + 1) w = row["mean"].get<double>();
      const double g = got.at(c)[h];
      EXPECT_NEAR(g, w, 1e-6 * std::max(1.0, std::abs(w))) << c << " step " << h;
    }
  }
  ASSERT_TRUE(test::http_get(port, "/v1/models").json()["models"][0]["batching"].get<bool>())
      << "the batch probe found Kronos batch-dependent: " << srv.stderr_text();

  // Six clients at once (own series and seeds, 2 paths each): each answer equals the one the same
  // request got alone, and the runs held more than one request.
  std::vector<std::string> bodies;
  std::vector<std::string> alone;
  for (int k = 0; k < 6; ++k) {
    std::string id = "c";
    id += std::to_string(k);  // (not "c" + ...: g++ 12 -O2 warns a false -Wrestrict there)
    bodies.push_back(kronos_body(bars, 2, 100 + static_cast<uint64_t>(k), id, 1.0 + 0.05 * k).dump());
    const test::HttpAnswer r = test::http_post(port, "/v1/forecast", bodies.back());
    ASSERT_EQ(r.status, 200) << r.body;
    alone.push_back(r.json()["series"][0]["forecast"].dump());
  }
  std::vector<std::future<test::HttpAnswer>> answers;
  for (int k = 0; k < 6; ++k)
    answers.push_back(std::async(std::launch::async, [&, k] { return test::http_post(port, "/v1/forecast", bodies[static_cast<size_t>(k)]); }));
  int64_t gathered = 0;
  for (int k = 0; k < 6; ++k) {
    const test::HttpAnswer r = answers[static_cast<size_t>(k)].get();
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = r.json();
    EXPECT_EQ(j["series"][0]["forecast"].dump(), alone[static_cast<size_t>(k)]) << "client " << k;
    gathered = std::max<int64_t>(gathered, j["batch_series"].get<int64_t>());
  }
  EXPECT_GT(gathered, 1) << "no run gathered two Kronos requests";
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
}

TEST(Loadtest, EveryRequestAnsweredAndSummarised) {
  test::TempDir dir("loadtest");
  test::ServeProcess srv({"--toto", test::toto_tiny(), "--port", "0", "--no-persistent-cache", "--warm-up-contexts", "96",
                          "--warm-up-samples", "0", "--warm-up-horizon", "5", "--threads", "1"},
                         dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  const test::CommandResult r = test::run_command(
      test::shell_quote(test::fcast_binary()) + " loadtest --port " + std::to_string(port) +
          " --clients 4 --seconds 3 --warm-up-seconds 1 --context 96 --horizon 5 --scrape-every 1 --json " +
          test::shell_quote(dir.sub("lt.json")),
      dir.sub("lt.out"), dir.sub("lt.err"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const json j = json::parse(test::slurp(dir.sub("lt.json")));
  EXPECT_GT(j["ok"].get<int64_t>(), 0);
  EXPECT_EQ(j["lost"], 0);
  EXPECT_EQ(j["errors"], 0);
  EXPECT_EQ(j["sent"], j["ok"]);
  EXPECT_LE(j["p50_s"].get<double>(), j["p99_s"].get<double>());
  EXPECT_EQ(j["server"]["recompiles"], 0);
  EXPECT_GT(j["server"]["rss_max"].get<double>(), 1e6);
  // The server counted what the clients sent.
  const std::string metrics = test::http_get(port, "/metrics").body;
  EXPECT_NE(metrics.find("fcast_requests_total{endpoint=\"/v1/forecast\",model=\"toto\",status=\"200\"} " +
                         std::to_string(j["ok"].get<int64_t>())),
            std::string::npos)
      << metrics;
  test::expect_contains(r.out, {"answered 200", "lost 0", "latency ms p50"});
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
  // No server any more: one clear error, exit 1.
  const test::CommandResult none = test::run_command(
      test::shell_quote(test::fcast_binary()) + " loadtest --port " + std::to_string(port) + " --seconds 1",
      dir.sub("n.out"), dir.sub("n.err"));
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.err.find("no server at http://127.0.0.1:" + std::to_string(port)), std::string::npos) << none.err;
}

// The overhead baseline (--baseline-model: the same request in the loadtest process and through
// the server), the open loop (--rate) and a request body from a file (--body); a body that is
// not JSON is refused before anything is sent.
TEST(Loadtest, OverheadBaselineOpenLoopAndBodyFile) {
  test::TempDir dir("loadtest-baseline");
  test::ServeProcess srv({"--toto", test::toto_tiny(), "--port", "0", "--no-persistent-cache", "--warm-up-contexts", "96",
                          "--warm-up-samples", "0", "--warm-up-horizon", "5", "--max-batch", "1"},
                         dir.sub("serve.err"));
  const int port = srv.start();
  ASSERT_GT(port, 0) << srv.stderr_text();
  const std::string lt = test::shell_quote(test::fcast_binary()) + " loadtest --port " + std::to_string(port);
  const test::CommandResult r = test::run_command(
      lt + " --clients 2 --seconds 2 --warm-up-seconds 0.5 --rate 10 --context 96 --horizon 5 --no-persistent-cache" +
          " --baseline-model " + test::shell_quote(test::toto_tiny()) + " --baseline-runs 6 --json " +
          test::shell_quote(dir.sub("lt.json")),
      dir.sub("lt.out"), dir.sub("lt.err"));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const json j = json::parse(test::slurp(dir.sub("lt.json")));
  EXPECT_EQ(j["rate"].get<double>(), 10.0);
  EXPECT_GT(j["ok"].get<int64_t>(), 0);
  EXPECT_EQ(j["errors"], 0);
  EXPECT_EQ(j["lost"], 0);
  const double in_process = j["in_process_p50_s"].get<double>(), server = j["server_p50_s"].get<double>();
  EXPECT_GT(in_process, 0);
  EXPECT_GT(server, 0);
  EXPECT_NEAR(j["overhead_ratio_p50"].get<double>(), server / in_process, 1e-9);
  test::expect_contains(r.err, {"serving overhead: 6 runs"});

  // --body: a native request from a file, sent as is.
  json values = json::array();
  for (int i = 0; i < 64; ++i) values.push_back(100 + i % 7);
  const json body = {{"model", "toto"},
                     {"prediction_length", 3},
                     {"num_samples", 0},
                     {"series", json::array({{{"id", "A"}, {"variates", {"close"}}, {"values", values}}})}};
  test::spit(dir.sub("body.json"), body.dump());
  const test::CommandResult b = test::run_command(
      lt + " --clients 1 --seconds 1 --warm-up-seconds 0.2 --body " + test::shell_quote(dir.sub("body.json")) +
          " --json " + test::shell_quote(dir.sub("b.json")),
      dir.sub("b.out"), dir.sub("b.err"));
  ASSERT_EQ(b.status, 0) << b.out << b.err;
  const json bj = json::parse(test::slurp(dir.sub("b.json")));
  EXPECT_GT(bj["ok"].get<int64_t>(), 0) << bj.dump();
  EXPECT_EQ(bj["errors"], 0) << bj.dump();

  test::spit(dir.sub("bad.json"), "{\"model\": ");
  const test::CommandResult bad = test::run_command(
      lt + " --clients 1 --seconds 1 --body " + test::shell_quote(dir.sub("bad.json")), dir.sub("bad.out"),
      dir.sub("bad.err"));
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("bad.json: not JSON"), std::string::npos) << bad.err;
  srv.signal(SIGTERM);
  EXPECT_EQ(srv.wait_exit(), 0) << srv.stderr_text();
}

// The stress report's content without running a model: hand-made records of several iterations,
// symbols, models and modes go through write_reports, and the tests check what a reader relies
// on: one forecast chart per (model, iteration, symbol), one fan per window (windows never joined
// into one line), the banners of trained and random weights, the per-symbol scores, the
// compiled - eager plot, the settings with their sources and the engine identity. The HTML is
// then opened in headless Chromium (skipped, with a message, when it is not installed): no
// script errors, and every chart draws something.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "test_util.h"
#include "tools/stress/report.h"

namespace fcast::stress {
namespace {

namespace fs = std::filesystem;

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

// `windows` windows of `horizon` steps of a series near `level`, consecutive as walk_forward makes them.
IterationRecord record(const std::string& model, bool compiled, int it, const std::string& symbol, double level,
                       int windows, int horizon) {
  IterationRecord r;
  r.model_name = model;
  r.compiled = compiled;
  r.compile_mode = compiled ? "max-autotune" : "eager";
  r.iteration = it;
  r.symbol = symbol;
  int day = 1;
  auto date = [&](int d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "2021-03-%02d", d);
    return std::string(buf);
  };
  double close = level;
  for (int w = 0; w < windows; ++w) {
    WindowResult x;
    if (w == 0)
      for (int t = 0; t < 8; ++t) {
        x.context_tail.push_back(level * (1 + 0.01 * std::sin(t)));
        x.context_times.push_back(date(day++));
      }
    x.last_close = w == 0 ? x.context_tail.back() : close;
    x.origin = date(day - 1);
    for (int k = 0; k < horizon; ++k) {
      close = level * (1 + 0.01 * std::cos(day));
      x.actual.push_back(close);
      x.times.push_back(date(day++));
      const double m = close * (1 + (compiled ? 0.002 : 0.001) * (k + 1));
      x.mean.push_back(m);
      x.q10.push_back(m * 0.99);
      x.q90.push_back(m * 1.01);
      x.std.push_back(m * 0.005);
    }
    r.windows.push_back(x);
  }
  r.accuracy = accuracy_of(r.windows);
  r.perf.load_ms = compiled ? 30 : 20;
  r.perf.first_call_ms = compiled ? 400 : 50;
  r.perf.steady_ms = {compiled ? 4.0 : 9.0, compiled ? 5.0 : 10.0};
  r.perf.p50_ms = compiled ? 4.5 : 9.5;
  r.perf.p99_ms = compiled ? 5.0 : 10.0;
  r.perf.peak_rss_mb = compiled ? 120 : 100;
  return r;
}

struct Fixture {
  RunInfo info;
  std::vector<IterationRecord> records;
  std::vector<ModelSummary> summary;
};

// 3 iterations (MSTR, BTCUSD, MSTR again) x 2 models x 2 modes, 3 windows of 2 steps each.
Fixture three_iterations(bool trained, bool random) {
  Fixture f;
  f.info.mode = "quick";
  f.info.iterations = f.info.completed_iterations = 3;
  f.info.status = "complete";
  f.info.prediction_length = 2;
  f.info.windows = 3;
  f.info.trained_default = trained;
  f.info.random_weights = random;
  f.info.run_settings = {{"context_length", "64", "flag --context-length"}, {"num_samples", "128", "default"}};
  CompileSettings cs;
  cs.source["mode"] = "env TOTO_COMPILE_MODE";
  f.info.compile_settings["Toto"] = compile_setting_rows(cs);
  f.info.engine_version = "fcast 0.0 plans r1 (test)";
  f.info.cpu_model = "Test CPU";
  f.info.isa = "avx2";
  const std::vector<std::pair<std::string, double>> symbols = {{"MSTR", 300}, {"BTCUSD", 40000}, {"MSTR", 310}};
  for (int it = 1; it <= 3; ++it)
    for (const char* model : {"Toto", "Kronos"})
      for (bool compiled : {false, true})
        f.records.push_back(record(model, compiled, it, symbols[it - 1].first, symbols[it - 1].second, 3, 2));
  f.summary = summarize(f.records, {});
  return f;
}

TEST(StressReportHtml, OneForecastChartPerModelIterationAndSymbol) {
  const Fixture f = three_iterations(true, false);
  const std::string html = html_report(f.info, f.records, f.summary, worst_tier(f.summary));
  EXPECT_EQ(count(html, "data-kind='forecast'"), 6u);  // 3 iterations x 2 models
  for (const char* model : {"Toto", "Kronos"})
    for (const auto& [it, sym] : std::vector<std::pair<int, std::string>>{{1, "MSTR"}, {2, "BTCUSD"}, {3, "MSTR"}})
      EXPECT_EQ(count(html, std::string("data-kind='forecast' data-model='") + model + "' data-iteration='" +
                                std::to_string(it) + "' data-symbol='" + sym + "'"),
                1u)
          << model << " " << it << " " << sym;
  // One fan per window and mode (3 windows x 2 modes x 6 charts): each window's mean path is
  // its own polyline, starting at its origin, never one line through every window.
  EXPECT_EQ(count(html, "window 1 (origin"), 12u);
  EXPECT_EQ(count(html, "window 3 (origin"), 12u);
  // The eager path stays visible under the compiled one: a dashed compiled line and a legend.
  EXPECT_NE(html.find("stroke-dasharray='5,3'"), std::string::npos);
  EXPECT_NE(html.find(">eager</text>"), std::string::npos);
  EXPECT_NE(html.find(">compiled (max-autotune)</text>"), std::string::npos);
  EXPECT_NE(html.find("line: mean; band: q10-q90"), std::string::npos);
  // Date axis labels come from the bars' timestamps.
  EXPECT_NE(html.find(">2021-03-01<"), std::string::npos);
  // Compiled - eager, timing and memory, relative MAE: one chart of each per model.
  for (const char* kind : {"diff", "timing", "memory", "relative-mae", "latency"})
    EXPECT_EQ(count(html, std::string("data-kind='") + kind + "'"), 2u) << kind;
  EXPECT_NE(html.find("max |compiled &minus; eager|"), std::string::npos);
  EXPECT_NE(html.find("max relative difference"), std::string::npos);
}

TEST(StressReportHtml, PerSymbolScoresCoverageSettingsAndIdentity) {
  const Fixture f = three_iterations(true, false);
  const std::string html = html_report(f.info, f.records, f.summary, worst_tier(f.summary));
  // Per symbol and mode: MSTR (iterations 1 and 3 pooled) and BTCUSD, for 2 models x 2 modes.
  const Scores sc = score_by_symbol(f.records);
  EXPECT_EQ(sc.symbols.size(), 8u);
  const std::regex coverage("<td class='coverage'>([^<]*)</td>");
  int n = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), coverage); it != std::sregex_iterator(); ++it, ++n) {
    const double c = std::stod((*it)[1].str());
    EXPECT_GE(c, 0.0);
    EXPECT_LE(c, 1.0);
  }
  EXPECT_EQ(n, 8);
  EXPECT_NE(html.find("Last-value MAE"), std::string::npos);
  EXPECT_NE(html.find("(geo. mean)"), std::string::npos);
  // Settings with their sources, and the engine / CPU identity.
  EXPECT_NE(html.find("flag --context-length"), std::string::npos);
  EXPECT_NE(html.find("env TOTO_COMPILE_MODE"), std::string::npos);
  EXPECT_NE(html.find("fcast 0.0 plans r1 (test)"), std::string::npos);
  EXPECT_NE(html.find("Test CPU"), std::string::npos);
  EXPECT_NE(html.find("kernel ISA level: <b>avx2</b>"), std::string::npos);
}

TEST(StressReportHtml, BannersFollowTheWeights) {
  const Fixture trained = three_iterations(true, false);
  const Fixture random = three_iterations(false, true);
  const std::string th = html_report(trained.info, trained.records, trained.summary, Tier::Pass);
  const std::string rh = html_report(random.info, random.records, random.summary, Tier::Pass);
  EXPECT_NE(th.find("TINY MODELS TRAINED HERE"), std::string::npos);
  EXPECT_NE(th.find("not the published models"), std::string::npos);
  EXPECT_EQ(th.find("RANDOM WEIGHTS"), std::string::npos);
  EXPECT_NE(rh.find("RANDOM WEIGHTS"), std::string::npos);
  EXPECT_EQ(rh.find("TINY MODELS TRAINED HERE"), std::string::npos);
  const std::string tm = markdown_report(trained.info, trained.records, trained.summary, Tier::Pass);
  const std::string rm = markdown_report(random.info, random.records, random.summary, Tier::Pass);
  EXPECT_NE(tm.find("TINY MODELS TRAINED HERE"), std::string::npos);
  EXPECT_NE(rm.find("RANDOM WEIGHTS"), std::string::npos);
  EXPECT_NE(tm.find("### Accuracy per symbol"), std::string::npos);
}

TEST(StressReportJson, SummaryHasScoresDiffsSettingsAndEngine) {
  const Fixture f = three_iterations(true, false);
  const nlohmann::ordered_json j = summary_json(f.info, f.records, f.summary, worst_tier(f.summary));
  EXPECT_EQ(j["scores"]["per_symbol"].size(), 8u);
  EXPECT_EQ(j["scores"]["per_mode"].size(), 4u);
  for (const auto& x : j["scores"]["per_symbol"]) {
    EXPECT_GE(x["coverage_q10_q90"].get<double>(), 0.0);
    EXPECT_LE(x["coverage_q10_q90"].get<double>(), 1.0);
    EXPECT_TRUE(x["relative_mae"].is_number());
  }
  EXPECT_TRUE(j["compiled_minus_eager"]["Toto"]["max_abs_diff"].is_number());
  EXPECT_EQ(j["compiled_minus_eager"]["Toto"]["forecasts_compared"], 18);  // 3 iterations x 3 windows x 2 steps
  EXPECT_EQ(j["checkpoints"]["trained_tiny_default"], true);
  EXPECT_EQ(j["settings"]["run"]["context_length"]["source"], "flag --context-length");
  EXPECT_EQ(j["engine"]["kernel_isa"], "avx2");
  EXPECT_FALSE(j["summary"][0].contains("eager_mae"));  // MAE in price units is never averaged across symbols
}

// ---- headless Chromium ---------------------------------------------------------------------

std::string chromium_binary() {
  for (const char* c : {"chromium", "chromium-browser", "google-chrome"}) {
    const test::CommandResult r =
        test::run_command(std::string("command -v ") + c, "/dev/null", "/dev/null");
    if (r.exited && r.status == 0) return c;
  }
  return "";
}

// Opens `html_path` in headless Chromium and returns the report-check marker's attributes.
struct BrowserCheck {
  bool found = false;
  int charts = -1, charts_ok = -1, errors = -1;
  std::string dom;
};
BrowserCheck open_in_chromium(const std::string& chromium, const std::string& html_path, const std::string& work) {
  const std::string out = work + "/dom.html", err = work + "/chromium.err";
  const std::string cmd = "timeout 120 " + chromium + " --headless=new --no-sandbox --disable-gpu --no-first-run " +
                          "--user-data-dir=" + test::shell_quote(work + "/profile") + " --dump-dom " +
                          test::shell_quote("file://" + html_path);
  const test::CommandResult r = test::run_command(cmd, out, err);
  BrowserCheck b;
  b.dom = test::slurp(out);
  std::smatch m;
  const std::regex marker(
      "id=\"report-check\"[^>]*data-charts=\"(\\d+)\" data-charts-ok=\"(\\d+)\" data-errors=\"(\\d+)\"");
  if (std::regex_search(b.dom, m, marker)) {
    b.found = true;
    b.charts = std::stoi(m[1].str());
    b.charts_ok = std::stoi(m[2].str());
    b.errors = std::stoi(m[3].str());
  }
  return b;
}

TEST(StressReportBrowser, HeadlessChromiumDrawsEveryChartWithoutScriptErrors) {
  const std::string chromium = chromium_binary();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (Debian package 'chromium'): report not opened";
  test::TempDir dir("stress_report_browser");
  const Fixture f = three_iterations(true, false);
  write_reports(dir.path.string(), f.info, f.records, f.summary);
  const std::string html_path = dir.sub(html_file("quick"));
  const std::string html = test::slurp(html_path);
  const size_t expected = count(html, "class='chart'");
  ASSERT_GE(expected, 16u);  // 6 forecast + 2 each of diff, timing, memory, relative-mae, latency
  const BrowserCheck b = open_in_chromium(chromium, html_path, dir.path.string());
  ASSERT_TRUE(b.found) << "no report-check marker in the DOM Chromium dumped:\n" << b.dom.substr(0, 2000);
  EXPECT_EQ(b.errors, 0);
  EXPECT_EQ(b.charts, static_cast<int>(expected));
  EXPECT_EQ(b.charts_ok, static_cast<int>(expected));
}

// The self-check is not a formality: a chart with no drawable data mark is reported as empty.
TEST(StressReportBrowser, TheSelfCheckCountsAnEmptyChart) {
  const std::string chromium = chromium_binary();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (Debian package 'chromium'): report not opened";
  test::TempDir dir("stress_report_browser_empty");
  const std::string page = std::string("<!DOCTYPE html><html><head>") + kReportCheckHead + "</head><body>" +
                           svg_open("forecast", 100, 50) + "<polyline class='d' points=''/></svg>" +
                           svg_open("diff", 100, 50) + "<circle class='d' cx='5' cy='5' r='3'/></svg>" +
                           kReportCheckBody + "</body></html>";
  test::spit(dir.sub("page.html"), page);
  const BrowserCheck b = open_in_chromium(chromium, dir.sub("page.html"), dir.path.string());
  ASSERT_TRUE(b.found) << b.dom.substr(0, 2000);
  EXPECT_EQ(b.charts, 2);
  EXPECT_EQ(b.charts_ok, 1);
  EXPECT_EQ(b.errors, 0);
}

}  // namespace
}  // namespace fcast::stress

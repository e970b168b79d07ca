// Output stamps keep the input's form, end to end through the binary: `+00:00` and `Z` stay,
// epoch milliseconds stay epoch milliseconds, a pandas to_csv() file (unnamed index column of
// dates) is read, and pandas reads the output back with the same offsets (through the real
// python3 when it has pandas; skipped with a message otherwise).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "io/csv.h"
#include "test_util.h"

namespace fcast {
namespace {

const std::string kToto = std::string(FCAST_TEST_DATA) + "/golden/toto/models/tiny_a";

// 80 hourly rows from 2026-02-10 00:00 UTC, each stamp written by `stamp`.
template <class F>
std::string hourly_csv(const std::string& header, F stamp) {
  std::string text = header + ",close\n";
  for (int i = 0; i < 80; ++i) {
    text += stamp(parse_timestamp("2026-02-10 00:00:00") + i * 3600);
    text += ",";
    text += std::to_string(100 + std::sin(i / 5.0));
    text += "\n";
  }
  return text;
}

// The timestamp column (the second: symbol,timestamp,...), header included.
std::vector<std::string> first_cells(const std::string& csv) {
  std::vector<std::string> out;
  for (const std::string& l : test::nonempty_lines(csv)) {
    const size_t a = l.find(',') + 1;
    out.push_back(l.substr(a, l.find(',', a) - a));
  }
  return out;
}

test::CommandResult predict(const test::TempDir& dir, const std::string& input, const std::string& extra = "") {
  std::string cmd = test::shell_quote(test::fcast_binary());
  cmd.append(" predict toto --model ");
  cmd.append(test::shell_quote(kToto));
  cmd.append(" --input ");
  cmd.append(test::shell_quote(input));
  cmd.append(" --prediction-length 3 --num-samples 0 --quantiles 0.5 ");
  cmd.append(extra);
  return test::run_command(cmd, dir.sub("out.csv"), dir.sub("err.txt"));
}

TEST(TimestampsCli, OffsetsZuluEpochAndPandasIndexRoundTrip) {
  test::TempDir dir("timestamps-cli");
  struct Case {
    std::string name, header;
    std::function<std::string(int64_t)> stamp;
    std::vector<std::string> want;  // the three future stamps
  };
  const std::vector<Case> cases = {
      {"offset", "timestamp", [](int64_t t) { return format_timestamp(t, true, 0) + "+00:00"; },
       {"2026-02-13 08:00:00+00:00", "2026-02-13 09:00:00+00:00", "2026-02-13 10:00:00+00:00"}},
      {"zulu", "date",
       [](int64_t t) {
         std::string s = format_timestamp(t, true, 0);
         s[10] = 'T';
         return s + "Z";
       },
       {"2026-02-13T08:00:00Z", "2026-02-13T09:00:00Z", "2026-02-13T10:00:00Z"}},
      {"epoch_ms", "ts", [](int64_t t) { return std::to_string(t * 1000); },
       {std::to_string(parse_timestamp("2026-02-13 08:00:00") * 1000),
        std::to_string(parse_timestamp("2026-02-13 09:00:00") * 1000),
        std::to_string(parse_timestamp("2026-02-13 10:00:00") * 1000)}},
      {"pandas_index", "", [](int64_t t) { return format_timestamp(t, true, 0); },
       {"2026-02-13 08:00:00", "2026-02-13 09:00:00", "2026-02-13 10:00:00"}},
  };
  for (const Case& c : cases) {
    const std::string in = dir.sub(c.name + ".csv");
    test::spit(in, hourly_csv(c.header, c.stamp));
    const test::CommandResult r = predict(dir, in);
    ASSERT_EQ(r.status, 0) << c.name << ": " << r.err;
    const std::vector<std::string> cells = first_cells(r.out);
    ASSERT_EQ(cells.size(), 4u) << r.out;
    EXPECT_EQ(std::vector<std::string>(cells.begin() + 1, cells.end()), c.want) << c.name << "\n" << r.out;
  }
}

// pandas reads fcast's output with parse_dates: the offset survives as a tz-aware UTC column.
TEST(TimestampsCli, PandasReadsTheOutputWithItsOffset) {
  const std::string py = test::python_with({"pandas"});
  if (py.empty()) GTEST_SKIP() << "no python3 with pandas (scripts/setup installs python3-pandas)";
  test::TempDir dir("timestamps-pandas");
  const std::string in = dir.sub("in.csv");
  test::spit(in, hourly_csv("timestamp", [](int64_t t) { return format_timestamp(t, true, 0) + "+00:00"; }));
  const std::string out = dir.sub("forecast.csv");
  const test::CommandResult r = predict(dir, in, "--output " + test::shell_quote(out));
  ASSERT_EQ(r.status, 0) << r.err;
  test::spit(dir.sub("check.py"),
             "import sys, pandas as pd\n"
             "src = pd.read_csv(sys.argv[1], parse_dates=['timestamp'])\n"
             "out = pd.read_csv(sys.argv[2], parse_dates=['timestamp'])\n"
             "assert str(out['timestamp'].dt.tz) == 'UTC', out['timestamp'].dtype\n"
             "assert str(src['timestamp'].dt.tz) == 'UTC', src['timestamp'].dtype\n"
             "gap = out['timestamp'].iloc[0] - src['timestamp'].iloc[-1]\n"
             "assert gap == pd.Timedelta(hours=1), gap\n"
             "both = pd.concat([src['timestamp'], out['timestamp']])\n"
             "assert both.is_monotonic_increasing\n"
             "print('ok', out['timestamp'].iloc[0].isoformat())\n");
  std::string cmd = test::shell_quote(py);
  cmd.append(" ");
  cmd.append(test::shell_quote(dir.sub("check.py")));
  cmd.append(" ");
  cmd.append(test::shell_quote(in));
  cmd.append(" ");
  cmd.append(test::shell_quote(out));
  const test::CommandResult p = test::run_command(cmd, dir.sub("py.out"), dir.sub("py.err"));
  EXPECT_EQ(p.status, 0) << p.out << p.err;
  EXPECT_EQ(test::last_line(p.out), "ok 2026-02-13T08:00:00+00:00") << p.err;
}

}  // namespace
}  // namespace fcast

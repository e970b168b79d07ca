// io/calendar.h: future stamps on a series' own calendar, against hand-made series whose next
// stamps are known: business days after weekday-only daily bars, the next session after the
// close for hourly market bars, plain steps for 24/7 data and for daily data with weekend rows,
// pandas-style --freq aliases, and clear errors.
#include "io/calendar.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/csv.h"

namespace fcast {
namespace {

int64_t at(const std::string& s) { return parse_timestamp(s); }
std::vector<std::string> text(const std::vector<int64_t>& v) {
  std::vector<std::string> out;
  for (int64_t t : v) out.push_back(format_timestamp(t, true, 0));
  return out;
}

// Weekdays from Monday 2026-01-05 for `n` business days (no weekend rows).
std::vector<int64_t> weekdays(int n) {
  std::vector<int64_t> v;
  for (int64_t t = at("2026-01-05"); static_cast<int>(v.size()) < n; t += 86400)
    if (civil_from_seconds(t).weekday < 5) v.push_back(t);
  return v;
}

TEST(Calendar, DailyBarsWithoutWeekendsContinueOnBusinessDays) {
  const std::vector<int64_t> in = weekdays(30);  // ends Friday 2026-02-13
  ASSERT_EQ(civil_from_seconds(in.back()).weekday, 4);
  std::string rule;
  const auto out = continue_calendar(in, 3, parse_frequency(""), &rule);
  EXPECT_EQ(text(out), (std::vector<std::string>{"2026-02-16 00:00:00", "2026-02-17 00:00:00", "2026-02-18 00:00:00"}));
  EXPECT_NE(rule.find("business days"), std::string::npos) << rule;
  // Too short to tell (under two weeks): every day.
  const std::vector<int64_t> short_in(in.end() - 5, in.end());
  EXPECT_EQ(text(continue_calendar(short_in, 1, parse_frequency(""))), (std::vector<std::string>{"2026-02-14 00:00:00"}));
}

TEST(Calendar, DailyBarsWithWeekendsStepEveryDay) {
  std::vector<int64_t> in;
  for (int k = 0; k < 30; ++k) in.push_back(at("2026-01-01") + k * 86400);  // crypto: every day
  EXPECT_EQ(text(continue_calendar(in, 2, parse_frequency(""))),
            (std::vector<std::string>{"2026-01-31 00:00:00", "2026-02-01 00:00:00"}));
}

TEST(Calendar, HourlySessionsContinueAfterTheClose) {
  // 14:00-20:00 UTC bars on weekdays, three weeks; the last is Friday 2026-01-23 20:00.
  std::vector<int64_t> in;
  for (int64_t d : weekdays(15))
    for (int h = 14; h <= 20; ++h) in.push_back(d + h * 3600);
  std::string rule;
  const auto out = continue_calendar(in, 9, parse_frequency(""), &rule);
  EXPECT_EQ(text(out).front(), "2026-01-26 14:00:00");  // Monday's open, not Friday 21:00
  EXPECT_EQ(text(out)[6], "2026-01-26 20:00:00");
  EXPECT_EQ(text(out)[7], "2026-01-27 14:00:00");
  EXPECT_NE(rule.find("trading sessions"), std::string::npos) << rule;
  // --freq h ignores the sessions.
  EXPECT_EQ(text(continue_calendar(in, 1, parse_frequency("h"))).front(), "2026-01-23 21:00:00");
}

TEST(Calendar, RoundTheClockDataStepsPlainly) {
  std::vector<int64_t> in;
  for (int k = 0; k < 24 * 10; ++k) in.push_back(at("2026-01-01") + k * 3600);
  std::string rule;
  const auto out = continue_calendar(in, 2, parse_frequency(""), &rule);
  EXPECT_EQ(out[0] - in.back(), 3600);
  EXPECT_EQ(out[1] - out[0], 3600);
  EXPECT_NE(rule.find("median interval"), std::string::npos) << rule;
}

TEST(Calendar, FrequencyAliases) {
  const std::vector<int64_t> in = {at("2026-02-12 10:00:00"), at("2026-02-13 10:00:00")};  // Thu, Fri
  EXPECT_EQ(text(continue_calendar(in, 1, parse_frequency("B"))).front(), "2026-02-16 10:00:00");
  EXPECT_EQ(text(continue_calendar(in, 1, parse_frequency("2B"))).front(), "2026-02-17 10:00:00");
  EXPECT_EQ(text(continue_calendar(in, 1, parse_frequency("D"))).front(), "2026-02-14 10:00:00");
  EXPECT_EQ(text(continue_calendar(in, 1, parse_frequency("15min"))).front(), "2026-02-13 10:15:00");
  EXPECT_EQ(text(continue_calendar(in, 1, parse_frequency("T"))).front(), "2026-02-13 10:01:00");
  EXPECT_EQ(text(continue_calendar(in, 1, parse_frequency("4h"))).front(), "2026-02-13 14:00:00");
  EXPECT_EQ(text(continue_calendar(in, 1, parse_frequency("30s"))).front(), "2026-02-13 10:00:30");
  for (const char* bad : {"W", "0D", "fortnightly", "5", "-1h"}) {
    try {
      parse_frequency(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("--freq '") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(Calendar, StampsPastTheLastYearAreAnError) {
  const std::vector<int64_t> in = {at("9999-12-29"), at("9999-12-30")};
  EXPECT_THROW(continue_calendar(in, 5, parse_frequency("")), Error);
  EXPECT_THROW(continue_calendar(in, 5, parse_frequency("B")), Error);
}

}  // namespace
}  // namespace fcast

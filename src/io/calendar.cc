#include "io/calendar.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "core/error.h"
#include "io/csv.h"

namespace fcast {

namespace {

constexpr int64_t kDay = 86400;

// The lower median of the positive steps (one day when there are none).
int64_t median_step(const std::vector<int64_t>& s) {
  std::vector<int64_t> steps;
  for (size_t k = 1; k < s.size(); ++k)
    if (s[k] > s[k - 1]) steps.push_back(s[k] - s[k - 1]);
  if (steps.empty()) return kDay;
  const auto mid = steps.begin() + static_cast<std::ptrdiff_t>((steps.size() - 1) / 2);
  std::nth_element(steps.begin(), mid, steps.end());
  return *mid;
}

int64_t floor_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }
int weekday(int64_t wall) { return civil_from_seconds(wall).weekday; }  // Monday = 0

void check_in_range(int64_t t, const Frequency& f) {
  FCAST_CHECK(t <= kLastTimestamp, "future timestamps at ", f.text.empty() ? std::string("the series' interval") : cat("--freq ", f.text),
              " run past 9999-12-31 23:59:59; forecast fewer steps");
}

}  // namespace

Frequency parse_frequency(const std::string& alias) {
  Frequency f;
  f.text = alias;
  if (alias.empty() || alias == "auto") {
    f.text.clear();
    return f;
  }
  size_t i = 0;
  while (i < alias.size() && alias[i] >= '0' && alias[i] <= '9') ++i;
  int64_t n = 1;
  if (i > 0) {
    const auto r = std::from_chars(alias.data(), alias.data() + i, n);
    FCAST_CHECK(r.ec == std::errc() && n >= 1 && n <= 100000, "--freq '", alias, "': the count must be 1 to 100000");
  }
  const std::string unit = alias.substr(i);
  auto bad = [&] {
    fail("--freq '", alias, "': expected a pandas frequency alias, optionally with a count: D (calendar days), ",
         "B (business days), h (hours), min (minutes), s (seconds), e.g. 15min, 4h; or auto");
  };
  if (unit == "D") {
    f.kind = Frequency::Kind::Fixed;
    f.step = n * kDay;
  } else if (unit == "B") {
    f.kind = Frequency::Kind::BusinessDays;
    f.step = n;
  } else if (unit == "h" || unit == "H") {
    f.kind = Frequency::Kind::Fixed;
    f.step = n * 3600;
  } else if (unit == "min" || unit == "T") {
    f.kind = Frequency::Kind::Fixed;
    f.step = n * 60;
  } else if (unit == "s" || unit == "S") {
    f.kind = Frequency::Kind::Fixed;
    f.step = n;
  } else {
    bad();
  }
  return f;
}

std::vector<int64_t> continue_calendar(const std::vector<int64_t>& wall, int64_t count, const Frequency& f,
                                       std::string* rule) {
  FCAST_CHECK(!wall.empty(), "continue_calendar: no timestamps to continue");
  std::vector<int64_t> out;
  if (count <= 0) return out;
  out.reserve(static_cast<size_t>(count));
  const int64_t last = wall.back();
  auto fixed = [&](int64_t step, const std::string& why) {
    for (int64_t k = 1; k <= count; ++k) {
      // last + k * step without overflow: stop at the first stamp past the range.
      FCAST_CHECK(step <= (kLastTimestamp - last) / k, "future timestamps every ", step, " s after the last row run ",
                  "past 9999-12-31 23:59:59 within ", count, " steps; forecast fewer steps");
      out.push_back(last + k * step);
    }
    if (rule) *rule = why;
    return out;
  };
  auto business = [&](int64_t days, const std::string& why) {
    int64_t t = last;
    for (int64_t k = 0; k < count; ++k) {
      for (int64_t d = 0; d < days;) {
        t += kDay;
        check_in_range(t, f);
        if (weekday(t) < 5) ++d;
      }
      out.push_back(t);
    }
    if (rule) *rule = why;
    return out;
  };
  if (f.kind == Frequency::Kind::Fixed) return fixed(f.step, cat("every ", f.step, " s (--freq ", f.text, ")"));
  if (f.kind == Frequency::Kind::BusinessDays) return business(f.step, cat("business days (--freq ", f.text, ")"));

  const int64_t step = median_step(wall);
  const int64_t span = wall.back() - wall.front();
  if (step % kDay == 0) {
    bool weekend = false;
    for (int64_t t : wall) weekend = weekend || weekday(t) >= 5;
    if (step == kDay && !weekend && span >= 14 * kDay)
      return business(1, "business days (the input has no Saturday or Sunday row)");
    return fixed(step, cat("every ", step, " s (the median interval)"));
  }
  if (kDay % step == 0 && span >= 2 * kDay) {
    std::set<int64_t> times;
    std::set<int> days;
    for (int64_t t : wall) {
      times.insert(floor_mod(t, kDay));
      days.insert(weekday(t));
    }
    if (static_cast<int64_t>(times.size()) < kDay / step || days.size() < 7) {
      // Walk the grid of the last stamp; keep the slots the input trades in. A week of steps
      // without one means the input's pattern does not continue on this grid.
      const int64_t give_up = 8 * kDay / step;
      int64_t t = last;
      for (int64_t k = 0; k < count; ++k) {
        int64_t tries = 0;
        do {
          t += step;
          check_in_range(t, f);
          FCAST_CHECK(++tries <= give_up, "future timestamps: no time of day of the input's sessions lies on its ",
                      step, " s grid after ", format_timestamp(last, true, 0), "; give --freq");
        } while (!times.count(floor_mod(t, kDay)) || !days.count(weekday(t)));
        out.push_back(t);
      }
      if (rule)
        *rule = cat("trading sessions learned from the input (", times.size(), " times of day, ", days.size(),
                    " weekdays, every ", step, " s within them)");
      return out;
    }
  }
  return fixed(step, cat("every ", step, " s (the median interval)"));
}

}  // namespace fcast

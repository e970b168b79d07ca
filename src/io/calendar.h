// Future timestamps that follow a series' own calendar, so that a forecast of daily stock bars
// does not land on Saturdays and an hourly one not after the close.
//
//   std::string rule;
//   std::vector<int64_t> next = continue_calendar(wall_stamps, 5, parse_frequency(""), &rule);
//   // daily bars without weekend rows: the next 5 weekdays; rule = "business days (...)"
//
// Stamps are wall-clock seconds (UTC seconds plus the series' offset), so "Saturday" and "the
// close" are the series' own. Frequencies are pandas aliases: D, B, h (H), min (T), s (S), each
// with an optional count ("15min", "4h", "2D"); "" or "auto" learns the calendar:
//   - daily steps (the median interval a whole number of days): business days when the input
//     spans at least two weeks and has no Saturday or Sunday row; else every median interval;
//   - intraday steps: when the input spans at least two days and leaves out some times of day or
//     weekdays (a trading session), only the times of day and weekdays the input has; else
//     every median interval (crypto trades around the clock).
// Holidays are not known: a weekday missing from the input is still a business day.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fcast {

struct Frequency {
  enum class Kind : uint8_t { Auto, Fixed, BusinessDays };
  Kind kind = Kind::Auto;
  int64_t step = 0;   // seconds (Fixed); days (BusinessDays)
  std::string text;   // as given ("" for auto)
};

// Throws naming the alias and the accepted forms.
Frequency parse_frequency(const std::string& alias);

// `count` stamps after the last of `wall` (increasing, at least one; two for auto). `rule`, when
// given, says in words which calendar was used. Throws if a stamp would pass 9999-12-31.
std::vector<int64_t> continue_calendar(const std::vector<int64_t>& wall, int64_t count, const Frequency& f,
                                       std::string* rule = nullptr);

}  // namespace fcast

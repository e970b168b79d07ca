// Market CSV reading: see csv.h for the contract. The file is read in blocks and split into
// records by a small streaming RFC 4180 tokenizer (quoted fields may hold commas, doubled quotes
// and newlines). Each record of the series is checked as it arrives and only the rows asked for
// are kept (a ring of the last N; the first N of a newest-first file), so memory follows the rows
// kept. Errors keep the precedence of a whole-file check: structure (field counts, quotes, NUL
// bytes) at once; then the symbol choice, then timestamps, then their order, then numeric cells.
#include "io/csv.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "io/file.h"

namespace fcast {

namespace {

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string_view trim_view(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string trim(const std::string& s) { return std::string(trim_view(s)); }

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Quoted for error messages, shortened so that a binary file does not flood the terminal.
std::string show(std::string_view s) {
  std::string t = s.size() > 40 ? std::string(s.substr(0, 40)) + "..." : std::string(s);
  return "'" + t + "'";
}

// One record; the field strings are reused from record to record (no allocation per cell).
struct Record {
  int64_t line = 0;  // 1-based physical line where the record starts
  size_t n = 0;      // fields in this record
  std::vector<std::string> fields;
  const std::string& operator[](size_t i) const { return fields[i]; }
  std::string& start_field() {
    if (n == fields.size()) fields.emplace_back();
    std::string& f = fields[n++];
    f.clear();
    return f;
  }
};

// RFC 4180 records read block by block. CR, LF and CRLF all end a record outside quotes; blank
// lines are skipped. A UTF-8 byte order mark at the start is dropped; NUL bytes are an error.
class RecordReader {
 public:
  explicit RecordReader(const std::string& path) : path_(path) {
    file_.reset(std::fopen(path.c_str(), "rb"));
    FCAST_CHECK(file_ != nullptr, "cannot open CSV file '", path, "': ", std::strerror(errno));
    buf_.resize(kBlock);
    if (fill() && len_ >= 3 && static_cast<unsigned char>(buf_[0]) == 0xEF &&
        static_cast<unsigned char>(buf_[1]) == 0xBB && static_cast<unsigned char>(buf_[2]) == 0xBF)
      pos_ = 3;
  }

  // The next non-blank record into `rec`; false at the end of the file.
  bool next(Record& rec) {
    for (;;) {
      if (!more()) return false;
      rec.line = line_;
      rec.n = 0;
      for (;;) {
        std::string& field = rec.start_field();
        if (more() && buf_[pos_] == '"') {
          // A quoted field: everything up to the closing quote, "" is one quote.
          const int64_t open_line = line_;
          ++pos_;
          for (;;) {
            FCAST_CHECK(more(), path_, ":", open_line, ": a quoted field is not closed before the end of the file");
            const char ch = buf_[pos_++];
            if (ch == '"') {
              if (more() && buf_[pos_] == '"') {
                field += '"';
                ++pos_;
                continue;
              }
              break;
            }
            if (ch == '\n') ++line_;
            field += ch;
          }
          // Text between the closing quote and the next separator is kept verbatim (lenient).
        }
        read_plain(field);
        if (more() && buf_[pos_] == ',') {
          ++pos_;
          continue;
        }
        // End of record (newline or end of file).
        if (more() && buf_[pos_] == '\r') ++pos_;
        if (more() && buf_[pos_] == '\n') ++pos_;
        ++line_;
        break;
      }
      const bool blank = rec.n == 1 && trim_view(rec.fields[0]).empty();
      if (!blank) return true;
    }
  }

 private:
  static constexpr size_t kBlock = size_t{1} << 20;

  // Whether a byte is left, reading the next block when the current one is used up.
  bool more() { return pos_ < len_ || fill(); }

  bool fill() {
    if (eof_) return false;
    len_ = std::fread(buf_.data(), 1, buf_.size(), file_.get());
    pos_ = 0;
    FCAST_CHECK(!std::ferror(file_.get()), "error reading CSV file '", path_, "': ", std::strerror(errno));
    if (len_ < buf_.size()) eof_ = true;
    FCAST_CHECK(std::memchr(buf_.data(), '\0', len_) == nullptr, path_,
                ": the file holds NUL bytes; is it really a text CSV?");
    return len_ > 0;
  }

  // Appends the bytes up to the next comma, CR, LF or the end of the file.
  void read_plain(std::string& field) {
    while (more()) {
      const size_t start = pos_;
      while (pos_ < len_ && buf_[pos_] != ',' && buf_[pos_] != '\n' && buf_[pos_] != '\r') ++pos_;
      field.append(buf_.data() + start, pos_ - start);
      if (pos_ < len_) return;
    }
  }

  std::string path_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, &std::fclose};
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
  bool eof_ = false;
  int64_t line_ = 1;
};

bool is_missing(std::string_view cell) {
  if (cell.empty()) return true;
  if (cell.size() > 4) return false;
  char l[5] = {};
  for (size_t i = 0; i < cell.size(); ++i) l[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(cell[i])));
  const std::string_view v(l, cell.size());
  return v == "nan" || v == "na" || v == "n/a" || v == "null" || v == "none";
}

// Parses a whole cell as a double; false if anything other than a number is in it.
bool parse_number(std::string_view cell, double* out) {
  const char* b = cell.data();
  const char* e = cell.data() + cell.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  const auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e;
}

const char* kTimeNames[] = {"date", "timestamp", "timestamps", "time", "datetime", "ds", "ts"};

bool is_time_name(const std::string& name) {
  for (const char* t : kTimeNames)
    if (name == t) return true;
  return false;
}

// Days since 1970-01-01 of a proleptic Gregorian date (era-based, exact for all int years).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool leap_year(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int64_t y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : kDays[m - 1];
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

// ---- calendar helpers ----

int64_t parse_timestamp(const std::string& raw, int32_t* utc_offset_out, TimeStyle* style_out, bool allow_epoch) {
  const std::string s = trim(raw);
  size_t i = 0;
  TimeStyle style;
  if (allow_epoch && !s.empty() && s.size() <= 20 &&
      std::all_of(s.begin() + (s[0] == '-' ? 1 : 0), s.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      s != "-") {
    const size_t ndigits = s.size() - (s[0] == '-' ? 1 : 0);
    int64_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    FCAST_CHECK(r.ec == std::errc(), "cannot parse timestamp ", show(raw), " (an integer out of range)");
    int64_t secs = v;
    style.epoch = TimeStyle::Epoch::Seconds;
    if (ndigits >= 12) {
      style.epoch = TimeStyle::Epoch::Milliseconds;
      FCAST_CHECK(v % 1000 == 0, "timestamp ", show(raw), " (epoch milliseconds) has a fraction of a second; fcast ",
                  "keeps timestamps in whole seconds: round the stamps to whole seconds");
      secs = v / 1000;
    }
    FCAST_CHECK(secs >= kFirstTimestamp && secs <= kLastTimestamp, "timestamp ", show(raw), " (epoch ",
                ndigits >= 12 ? "milliseconds" : "seconds", ") falls outside the years 0001-9999");
    if (utc_offset_out) *utc_offset_out = 0;
    if (style_out) *style_out = style;
    return secs;
  }
  auto bad = [&](const char* why) -> void {
    fail("cannot parse timestamp ", show(raw), " (", why,
         "); expected YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] (years 0001-9999, whole seconds) with an optional Z or "
         "+HH:MM offset");
  };
  // Reads exactly `width` digits.
  auto digits = [&](int width, const char* what) -> int64_t {
    int64_t v = 0;
    for (int k = 0; k < width; ++k) {
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) bad(what);
      v = v * 10 + (s[i++] - '0');
    }
    return v;
  };
  auto expect = [&](char ch, const char* what) {
    if (i >= s.size() || s[i] != ch) bad(what);
    ++i;
  };
  const int64_t year = digits(4, "year must have four digits");
  expect('-', "expected '-' after the year (years 0001-9999)");
  const int64_t month = digits(2, "month must have two digits");
  expect('-', "expected '-' after the month");
  const int64_t day = digits(2, "day must have two digits");
  if (year < 1) bad("year 0000 is outside 0001-9999");
  if (month < 1 || month > 12) bad("month out of range");
  if (day < 1 || day > days_in_month(year, static_cast<int>(month))) bad("day out of range for the month");
  int64_t hour = 0, minute = 0, second = 0;
  int32_t offset = 0;
  style.date_only = true;
  if (i < s.size() && (s[i] == ' ' || s[i] == 'T' || s[i] == 't')) {
    style.date_only = false;
    style.separator = s[i] == ' ' ? ' ' : 'T';
    style.seconds = false;
    ++i;
    hour = digits(2, "hour must have two digits");
    expect(':', "expected ':' after the hour");
    minute = digits(2, "minute must have two digits");
    if (i < s.size() && s[i] == ':') {
      ++i;
      style.seconds = true;
      second = digits(2, "second must have two digits");
      if (i < s.size() && s[i] == '.') {
        ++i;
        const size_t start = i;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
        if (i == start || i - start > 9) bad("fraction of a second must have 1 to 9 digits");
        style.fraction_digits = static_cast<int>(i - start);
        // Timestamps are whole seconds: the models' time inputs are no finer (Toto's interval is
        // in seconds, Kronos's calendar features stop at the minute), and truncating would make
        // rows less than a second apart look like duplicates. A zero fraction (.000) is fine.
        if (s.find_first_not_of('0', start) < i)
          fail("timestamp ", show(raw), " has a fraction of a second; fcast keeps timestamps in whole seconds (the ",
               "models' time inputs are no finer, and rows less than a second apart could not be told apart): ",
               "round the stamps to whole seconds");
      }
    }
    if (hour > 23 || minute > 59 || second > 59) bad("time of day out of range");
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
      ++i;
      style.zone = TimeStyle::Zone::Z;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      style.zone = TimeStyle::Zone::Offset;
      const int sign = s[i] == '-' ? -1 : 1;
      ++i;
      const int64_t oh = digits(2, "offset hours must have two digits");
      int64_t om = 0;
      if (i < s.size() && s[i] == ':') ++i;
      if (i < s.size()) om = digits(2, "offset minutes must have two digits");
      if (oh > 23 || om > 59) bad("offset out of range");
      offset = static_cast<int32_t>(sign * (oh * 3600 + om * 60));
    }
  }
  if (i != s.size()) bad("unexpected text after the timestamp");
  if (utc_offset_out) *utc_offset_out = offset;
  if (style_out) *style_out = style;
  const int64_t local = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return local - offset;
}

CivilTime civil_from_seconds(int64_t seconds) {
  const int64_t days = floor_div(seconds, 86400);
  const int64_t sod = seconds - days * 86400;
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  CivilTime c;
  c.year = static_cast<int>(y);
  c.month = static_cast<int>(m);
  c.day = static_cast<int>(d);
  c.hour = static_cast<int>(sod / 3600);
  c.minute = static_cast<int>(sod % 3600 / 60);
  c.second = static_cast<int>(sod % 60);
  c.weekday = static_cast<int>(days + 3 - floor_div(days + 3, 7) * 7);  // 1970-01-01 was a Thursday (3)
  return c;
}

std::string format_timestamp(int64_t seconds, bool with_time, int32_t utc_offset) {
  // Checked on the wall clock, which is what is written; a year of five digits (or a negative
  // one) would not read back.
  FCAST_CHECK(seconds >= kFirstTimestamp - utc_offset && seconds <= kLastTimestamp - utc_offset,
              "timestamp ", seconds, " s since 1970-01-01 (UTC offset ", utc_offset,
              " s) falls outside the years 0001-9999 that fcast reads and writes");
  const CivilTime c = civil_from_seconds(seconds + utc_offset);
  char buf[64];
  if (!with_time) {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", c.year, c.month, c.day);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", c.year, c.month, c.day, c.hour, c.minute, c.second);
  std::string out = buf;
  if (utc_offset != 0) {
    const int32_t a = utc_offset < 0 ? -utc_offset : utc_offset;
    std::snprintf(buf, sizeof buf, "%c%02d:%02d", utc_offset < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
    out += buf;
  }
  return out;
}

std::string format_timestamp(int64_t seconds, int32_t utc_offset, const TimeStyle& style) {
  if (style.epoch != TimeStyle::Epoch::None) {
    FCAST_CHECK(seconds >= kFirstTimestamp && seconds <= kLastTimestamp, "timestamp ", seconds,
                " s since 1970-01-01 falls outside the years 0001-9999 that fcast reads and writes");
    return std::to_string(style.epoch == TimeStyle::Epoch::Milliseconds ? seconds * 1000 : seconds);
  }
  FCAST_CHECK(seconds >= kFirstTimestamp - utc_offset && seconds <= kLastTimestamp - utc_offset,
              "timestamp ", seconds, " s since 1970-01-01 (UTC offset ", utc_offset,
              " s) falls outside the years 0001-9999 that fcast reads and writes");
  const CivilTime c = civil_from_seconds(seconds + utc_offset);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", c.year, c.month, c.day);
  std::string out = buf;
  const bool midnight = c.hour == 0 && c.minute == 0 && c.second == 0;
  if (style.date_only && midnight && utc_offset == 0) return out;
  out += style.separator == 'T' ? 'T' : ' ';
  std::snprintf(buf, sizeof buf, "%02d:%02d", c.hour, c.minute);
  out += buf;
  if (style.seconds || style.date_only || c.second != 0) {
    std::snprintf(buf, sizeof buf, ":%02d", c.second);
    out += buf;
    if (style.fraction_digits > 0) {
      out += '.';
      out.append(static_cast<size_t>(style.fraction_digits), '0');
    }
  }
  if (style.zone == TimeStyle::Zone::Z && utc_offset == 0) {
    out += 'Z';
  } else if (style.zone != TimeStyle::Zone::Naive || utc_offset != 0) {
    const int32_t a = utc_offset < 0 ? -utc_offset : utc_offset;
    std::snprintf(buf, sizeof buf, "%c%02d:%02d", utc_offset < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
    out += buf;
  }
  return out;
}

TimeStyle future_time_style(const TimeStyle& input, int64_t step) {
  TimeStyle s = input;
  if (s.date_only && step % 86400 != 0) {
    s.date_only = false;
    s.seconds = true;
  }
  return s;
}

void check_future_timestamps(int64_t last, int64_t step, int64_t count, int32_t utc_offset, const std::string& what) {
  if (count <= 0 || step <= 0) return;
  const int64_t limit = kLastTimestamp - utc_offset;  // the last UTC second written as 9999-12-31 23:59:59
  // Steps that stay inside the range, by division: last + count * step may overflow.
  const int64_t fit = last > limit ? 0 : (limit - last) / step;
  FCAST_CHECK(fit >= count, what, " ", count, " at an interval of ", step, " s after ",
              last >= kFirstTimestamp - utc_offset && last <= limit ? format_timestamp(last, true, utc_offset)
                                                                    : cat(last, " s"),
              " runs past 9999-12-31 23:59:59 (only ", fit,
              " steps fit); fcast reads and writes the years 0001-9999 only");
}

// ---- MarketTable ----

bool MarketTable::has(const std::string& name) const {
  const std::string l = lower(trim(name));
  return std::find(columns.begin(), columns.end(), l) != columns.end();
}

const std::vector<double>& MarketTable::column(const std::string& name) const {
  const std::string l = lower(trim(name));
  for (size_t c = 0; c < columns.size(); ++c)
    if (columns[c] == l) return values[c];
  fail(path, ": no numeric column '", name, "'; available columns: ", join(columns));
}

int64_t MarketTable::median_interval() const {
  std::vector<int64_t> steps;
  for (size_t r = 1; r < timestamps.size(); ++r)
    if (timestamps[r] > timestamps[r - 1]) steps.push_back(timestamps[r] - timestamps[r - 1]);
  if (steps.empty()) return 86400;
  // The lower median: always a step that occurs in the data.
  const auto mid = steps.begin() + static_cast<std::ptrdiff_t>((steps.size() - 1) / 2);
  std::nth_element(steps.begin(), mid, steps.end());
  return *mid;
}

void MarketTable::keep_last(int64_t n) {
  FCAST_CHECK(n >= 0, "keep_last: the row count must be non-negative, got ", n);
  if (n >= rows()) return;
  const auto drop = static_cast<std::ptrdiff_t>(rows() - n);
  timestamps.erase(timestamps.begin(), timestamps.begin() + drop);
  utc_offsets.erase(utc_offsets.begin(), utc_offsets.begin() + drop);
  if (static_cast<std::ptrdiff_t>(lines.size()) >= drop) lines.erase(lines.begin(), lines.begin() + drop);
  for (auto& v : values) v.erase(v.begin(), v.begin() + drop);
}

std::string MarketTable::where(int64_t row) const {
  const std::string line = row < static_cast<int64_t>(lines.size()) ? cat(":", lines[row]) : "";
  const int64_t local = timestamps[row] + utc_offsets[row];
  const bool in_range = local >= kFirstTimestamp && local <= kLastTimestamp;
  return cat(path, line, " (", in_range ? format_timestamp(timestamps[row], has_time_of_day, utc_offsets[row]) : "?", ")");
}

void MarketTable::check_float32_range(const std::string& name) const {
  const std::vector<double>& v = column(name);
  for (int64_t r = 0; r < rows(); ++r)
    FCAST_CHECK(!std::isfinite(v[r]) || std::fabs(v[r]) <= std::numeric_limits<float>::max(), where(r), ": column '",
                lower(trim(name)), "' holds ", v[r], ", out of float32 range (|x| <= 3.4e38; the models compute in float32)");
}

// ---- reading ----

namespace {

// The numbers of one numeric-column candidate: is it numeric, and where is its first text cell.
struct ColumnScan {
  int64_t numbers = 0;
  int64_t first_text_line = -1;
  std::string first_text;  // trimmed, shortened
};

// Distinct symbols of a long-format file, for the messages that list them (bounded: a file
// with a different symbol on every row must not grow memory with the file).
class SymbolSet {
 public:
  void add(const std::string& s) {
    if (set_.count(s)) return;
    if (set_.size() < kMaxKept) set_.insert(s);
    else overflow_ = true;
  }
  std::string count() const { return overflow_ ? cat("more than ", kMaxKept) : cat(set_.size()); }
  size_t size() const { return overflow_ ? kMaxKept + 1 : set_.size(); }
  std::string list() const {
    std::string out;
    size_t k = 0;
    for (const auto& s : set_) {
      if (k++ == kMaxListed) return out + cat(", ... (", count(), " in all)");
      out += (out.empty() ? "" : ", ") + s;
    }
    return out;
  }

 private:
  static constexpr size_t kMaxKept = 100000, kMaxListed = 50;
  std::set<std::string> set_;  // sorted, as the messages list them
  bool overflow_ = false;
};

// The first line before `before` where the series (rows whose symbol is `symbol` when
// symbol_col >= 0) has the stamp `ts`; -1 if none. Only on the error path: a second pass over
// the file, so that a stamp seen again out of order is reported as a duplicate without keeping
// every stamp.
int64_t earlier_line_with_stamp(const std::string& path, int64_t time_col, int64_t symbol_col,
                                const std::string& symbol, int64_t ts, int64_t before) {
  RecordReader in(path);
  Record rec;
  if (!in.next(rec)) return -1;  // the header
  while (in.next(rec) && rec.line < before) {
    if (static_cast<int64_t>(rec.n) <= std::max(time_col, symbol_col)) continue;
    if (symbol_col >= 0 && trim_view(rec[symbol_col]) != symbol) continue;
    try {
      if (parse_timestamp(rec[time_col]) == ts) return rec.line;
    } catch (const Error&) {
    }
  }
  return -1;
}

}  // namespace

std::vector<std::string> market_csv_symbols(const std::string& path) {
  std::error_code ec;
  FCAST_CHECK(std::filesystem::exists(path, ec), "CSV file '", path, "' does not exist");
  FCAST_CHECK(!std::filesystem::is_directory(path, ec), "'", path, "' is a directory, not a CSV file");
  require_regular_file(path);
  RecordReader in(path);
  Record rec;
  FCAST_CHECK(in.next(rec), path, ": the file is empty (expected a header line and data rows)");
  int64_t symbol_col = -1;
  for (size_t c = 0; c < rec.n && symbol_col < 0; ++c)
    if (lower(trim(rec[c])) == "symbol") symbol_col = static_cast<int64_t>(c);
  std::vector<std::string> out;
  if (symbol_col < 0) return out;
  // Bounded like the error messages' SymbolSet: a file with a new symbol on every row must not
  // grow memory with the file.
  constexpr size_t kMaxSymbols = 100000;
  std::set<std::string> seen;
  while (in.next(rec)) {
    if (static_cast<int64_t>(rec.n) <= symbol_col) continue;  // read_market_csv names the bad row
    std::string s(trim_view(rec[symbol_col]));
    if (s.empty() || !seen.insert(s).second) continue;  // an empty cell names no symbol
    FCAST_CHECK(seen.size() <= kMaxSymbols, path, ": more than ", kMaxSymbols, " symbols; forecast them in parts (--symbols A,B,C)");
    out.push_back(std::move(s));
  }
  return out;
}

MarketTable read_market_csv(const std::string& path, const CsvOptions& opt) {
  FCAST_CHECK(opt.keep_last >= 0, "read_market_csv: keep_last must be >= 0 (0 = every row), got ", opt.keep_last);
  std::error_code ec;
  FCAST_CHECK(std::filesystem::exists(path, ec), "CSV file '", path, "' does not exist");
  FCAST_CHECK(!std::filesystem::is_directory(path, ec), "'", path, "' is a directory, not a CSV file");
  require_regular_file(path);  // a FIFO or device would block or never end
  RecordReader in(path);
  Record rec;
  FCAST_CHECK(in.next(rec), path, ": the file is empty (expected a header line and data rows)");

  // Header (a hash map: a file may have 100k columns).
  const int64_t head_line = rec.line;
  std::vector<std::string> names;
  std::unordered_map<std::string, size_t> seen;
  for (size_t c = 0; c < rec.n; ++c) {
    std::string nm = lower(trim(rec[c]));
    if (nm.empty()) nm = cat("column", c + 1);
    const auto [it, fresh] = seen.emplace(nm, c);
    FCAST_CHECK(fresh, path, ":", head_line, ": the header names column '", nm, "' twice (columns ", it->second + 1,
                " and ", c + 1, ")");
    names.push_back(std::move(nm));
  }
  const int64_t ncols = static_cast<int64_t>(names.size());
  FCAST_CHECK(in.next(rec), path, ": the file has a header (", join(names), ") but no data rows");

  int64_t time_col = -1, symbol_col = -1;
  const std::string want_time = lower(trim(opt.time_column));
  for (int64_t c = 0; c < ncols; ++c) {
    if (time_col < 0 && (want_time.empty() ? is_time_name(names[c]) : names[c] == want_time)) time_col = c;
    if (symbol_col < 0 && names[c] == "symbol") symbol_col = c;
  }
  FCAST_CHECK(want_time.empty() || time_col >= 0, path, ":", head_line, ": no column named '", opt.time_column,
              "' (--time-column); the header has: ", join(names));
  // Epoch integers only in a column named as time: a pandas index (0, 1, 2, ...) is no clock.
  bool allow_epoch = time_col >= 0;
  if (time_col < 0 && ncols > 1 && trim(rec.n > 0 ? rec[0] : std::string()).size() > 0 && names[0] == "column1") {
    // An unnamed first column (pandas to_csv writes the index so) holding dates is the time column.
    try {
      parse_timestamp(rec[0]);
      time_col = 0;
    } catch (const Error&) {
    }
  }
  FCAST_CHECK(time_col >= 0, path, ":", head_line, ": no time column; expected one named date, timestamp, timestamps, ",
              "time, datetime, ds or ts (or an unnamed first column of dates; --time-column NAME picks another); the ",
              "header has: ", join(names));
  FCAST_CHECK(symbol_col >= 0 || opt.symbol.empty(), path, ": a symbol ('", opt.symbol,
              "') was given but the file has no symbol column; it holds a single series");

  MarketTable t;
  t.path = path;
  t.time_column = names[time_col];

  // Numeric-column candidates: every column but the time and symbol columns.
  std::vector<int64_t> cand;
  for (int64_t c = 0; c < ncols; ++c)
    if (c != time_col && c != symbol_col) cand.push_back(c);
  const size_t K = cand.size();
  std::vector<ColumnScan> scan(K);

  // Kept rows: a ring of the last `cap` rows (ascending files) or the first `cap` (descending).
  const size_t cap = opt.keep_last > 0 ? static_cast<size_t>(opt.keep_last) : std::numeric_limits<size_t>::max();
  std::vector<int64_t> kept_ts, kept_line;
  std::vector<int32_t> kept_off;
  std::vector<double> kept_vals;  // [slot][K]
  size_t head = 0;                // oldest slot once the ring is full
  std::vector<double> row_vals(K);

  SymbolSet symbols;
  const std::string want = lower(trim(opt.symbol));
  std::string chosen;  // the series' symbol as spelled in the file
  bool found = false;  // `chosen` is set (a symbol cell may be empty)

  // Series state. Errors about timestamps and their order are remembered (the first of each)
  // and raised after the whole file is read, so that a structural error or the symbol choice,
  // which concern the whole file, take precedence as they did when the file was read whole.
  int64_t n = 0;
  int64_t prev_ts = 0, prev_line = 0;
  std::string prev_cell;
  bool descending = false;
  std::string parse_error, order_error;
  int64_t order_ts = 0, order_line = 0;
  std::string order_cell;
  TimeStyle newest_style;

  do {
    FCAST_CHECK(static_cast<int64_t>(rec.n) == ncols, path, ":", rec.line, ": expected ", ncols,
                " fields as in the header, found ", rec.n);
    if (symbol_col >= 0) {
      const std::string s(trim_view(rec[symbol_col]));
      symbols.add(s);
      if (!found && (want.empty() || lower(s) == want)) {
        chosen = s;
        found = true;
      }
      if (!found || s != chosen) continue;
    }
    if (!parse_error.empty()) continue;
    const std::string& cell = rec[time_col];
    int64_t ts = 0;
    int32_t off = 0;
    TimeStyle style;
    if (trim_view(cell).empty()) {
      parse_error = cat(path, ":", rec.line, ": empty timestamp in column '", t.time_column, "'");
      continue;
    }
    try {
      ts = parse_timestamp(cell, &off, &style, allow_epoch);
    } catch (const Error& e) {
      parse_error = cat(path, ":", rec.line, ": column '", t.time_column, "': ", e.what());
      continue;
    }
    if (!order_error.empty()) continue;  // later rows are checked for unparsable stamps only
    const std::string_view this_cell = trim_view(cell);
    if (n > 0) {
      if (ts == prev_ts) {
        order_error = cat(path, ": duplicate timestamp ", show(this_cell), " on lines ", prev_line, " and ", rec.line);
        continue;
      }
      const bool down = ts < prev_ts;
      if (n == 1) descending = down;
      if (down != descending) {
        order_error = cat(path, ":", rec.line, ": timestamps are neither ascending nor descending: ", show(this_cell),
                          " follows ", show(prev_cell), " (line ", prev_line, ") but the file started ",
                          descending ? "descending" : "ascending");
        order_ts = ts;
        order_line = rec.line;
        order_cell = std::string(this_cell);
        continue;
      }
    }
    const int64_t local = ts + off;
    if (local - floor_div(local, 86400) * 86400 != 0) t.has_time_of_day = true;

    // Numeric cells: every row is checked, whether it is kept or not.
    for (size_t k = 0; k < K; ++k) {
      const std::string_view v = trim_view(rec[cand[k]]);
      double x = std::numeric_limits<double>::quiet_NaN();
      if (!is_missing(v)) {
        if (parse_number(v, &x)) {
          ++scan[k].numbers;
        } else {
          x = std::numeric_limits<double>::quiet_NaN();
          if (scan[k].first_text_line < 0) {
            scan[k].first_text_line = rec.line;
            scan[k].first_text = std::string(v.substr(0, 41));
          }
        }
      }
      row_vals[k] = x;
    }
    // Keep the row: append while there is room; then an ascending file overwrites its oldest
    // row, a descending one keeps its first rows (its newest).
    size_t slot;
    if (kept_ts.size() < cap) {
      slot = kept_ts.size();
      kept_ts.push_back(0);
      kept_off.push_back(0);
      kept_line.push_back(0);
      kept_vals.resize(kept_vals.size() + K);
    } else if (!descending) {
      slot = head;
      head = (head + 1) % cap;
    } else {
      slot = std::numeric_limits<size_t>::max();
    }
    if (slot != std::numeric_limits<size_t>::max()) {
      kept_ts[slot] = ts;
      kept_off[slot] = off;
      kept_line[slot] = rec.line;
      std::copy(row_vals.begin(), row_vals.end(), kept_vals.begin() + static_cast<std::ptrdiff_t>(slot * K));
    }
    // The newest row's style: the last row of an ascending file, the first of a descending one.
    if (n == 0 || !descending) newest_style = style;
    prev_ts = ts;
    prev_line = rec.line;
    prev_cell.assign(this_cell);
    ++n;
  } while (in.next(rec));

  if (symbol_col >= 0) {
    if (!want.empty())
      FCAST_CHECK(found, path, ": symbol '", opt.symbol, "' is not in the file; symbols: ", symbols.list());
    else
      FCAST_CHECK(symbols.size() == 1, path, ": the file holds ", symbols.count(),
                  " symbols; choose one (--symbol): ", symbols.list());
    t.symbol = chosen;
  }
  t.time_style = newest_style;
  if (!parse_error.empty()) fail(parse_error);
  if (!order_error.empty()) {
    // Out of order: a stamp seen before is a duplicate (named so, with both lines).
    const int64_t earlier = order_line > 0 ? earlier_line_with_stamp(path, time_col, symbol_col, chosen, order_ts, order_line) : -1;
    if (earlier > 0) fail(path, ": duplicate timestamp ", show(order_cell), " on lines ", earlier, " and ", order_line);
    fail(order_error);
  }

  // Numeric columns; a column with no number at all is a text column and is left out.
  const size_t rows = kept_ts.size();
  std::vector<size_t> order(rows);  // slots, oldest row of the file first
  for (size_t r = 0; r < rows; ++r) order[r] = (head + r) % rows;
  if (descending) std::reverse(order.begin(), order.end());
  for (size_t k = 0; k < K; ++k) {
    const ColumnScan& s = scan[k];
    if (s.first_text_line >= 0 && s.numbers == 0) continue;  // a text column
    FCAST_CHECK(s.first_text_line < 0, path, ":", s.first_text_line, ": column '", names[cand[k]],
                "' is numeric but holds ", show(s.first_text),
                "; fix or empty that cell (empty cells are read as missing)");
    std::vector<double> vals(rows);
    for (size_t r = 0; r < rows; ++r) vals[r] = kept_vals[order[r] * K + k];
    t.columns.push_back(names[cand[k]]);
    t.values.push_back(std::move(vals));
  }
  t.timestamps.resize(rows);
  t.utc_offsets.resize(rows);
  t.lines.resize(rows);
  for (size_t r = 0; r < rows; ++r) {
    t.timestamps[r] = kept_ts[order[r]];
    t.utc_offsets[r] = kept_off[order[r]];
    t.lines[r] = kept_line[order[r]];
  }
  return t;
}

}  // namespace fcast

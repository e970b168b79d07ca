// Market CSV reading: see csv.h for the contract. The whole file is read into memory (the
// largest market file is about 1.2 MB), split into records by a small RFC 4180 tokenizer
// (quoted fields may hold commas, doubled quotes and newlines), then checked column by column.
#include "io/csv.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "io/file.h"

namespace fcast {

namespace {

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Quoted for error messages, shortened so that a binary file does not flood the terminal.
std::string show(const std::string& s) {
  std::string t = s.size() > 40 ? s.substr(0, 40) + "..." : s;
  return "'" + t + "'";
}

struct Record {
  int64_t line = 0;  // 1-based physical line where the record starts
  std::vector<std::string> fields;
};

// RFC 4180 records. CR, LF and CRLF all end a record outside quotes; blank lines are skipped.
std::vector<Record> tokenize(const std::string& text, const std::string& path) {
  std::vector<Record> out;
  size_t i = 0;
  const size_t n = text.size();
  int64_t line = 1;
  while (i < n) {
    Record rec;
    rec.line = line;
    std::string field;
    bool any = false;  // the record has content (a blank line has none)
    for (;;) {
      if (i < n && text[i] == '"') {
        // A quoted field: everything up to the closing quote, "" is one quote.
        const int64_t open_line = line;
        ++i;
        any = true;
        for (;;) {
          FCAST_CHECK(i < n, path, ":", open_line, ": a quoted field is not closed before the end of the file");
          const char ch = text[i];
          if (ch == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (ch == '\n') ++line;
          field += ch;
          ++i;
        }
        // Text between the closing quote and the next separator is kept verbatim (lenient).
        while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') field += text[i++];
      } else {
        while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') field += text[i++];
      }
      if (i < n && text[i] == ',') {
        rec.fields.push_back(std::move(field));
        field.clear();
        any = true;
        ++i;
        continue;
      }
      // End of record (newline or end of file).
      if (!field.empty()) any = true;
      rec.fields.push_back(std::move(field));
      if (i < n && text[i] == '\r') ++i;
      if (i < n && text[i] == '\n') ++i;
      ++line;
      break;
    }
    const bool blank = !any || (rec.fields.size() == 1 && trim(rec.fields[0]).empty());
    if (!blank) out.push_back(std::move(rec));
  }
  return out;
}

bool is_missing(const std::string& cell) {
  if (cell.empty()) return true;
  const std::string l = lower(cell);
  return l == "nan" || l == "na" || l == "n/a" || l == "null" || l == "none";
}

// Parses a whole cell as a double; false if anything other than a number is in it.
bool parse_number(const std::string& cell, double* out) {
  const char* b = cell.data();
  const char* e = cell.data() + cell.size();
  if (b != e && *b == '+') ++b;
  if (b == e) return false;
  const auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e;
}

const char* kTimeNames[] = {"date", "timestamp", "timestamps", "time", "datetime", "ds"};

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

int64_t parse_timestamp(const std::string& raw, int32_t* utc_offset_out) {
  const std::string s = trim(raw);
  size_t i = 0;
  auto bad = [&](const char* why) -> void {
    fail("cannot parse timestamp ", show(raw), " (", why,
         "); expected YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS[.ffffff]] with an optional Z or +HH:MM offset");
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
  expect('-', "expected '-' after the year");
  const int64_t month = digits(2, "month must have two digits");
  expect('-', "expected '-' after the month");
  const int64_t day = digits(2, "day must have two digits");
  if (month < 1 || month > 12) bad("month out of range");
  if (day < 1 || day > days_in_month(year, static_cast<int>(month))) bad("day out of range for the month");
  int64_t hour = 0, minute = 0, second = 0;
  int32_t offset = 0;
  if (i < s.size() && (s[i] == ' ' || s[i] == 'T' || s[i] == 't')) {
    ++i;
    hour = digits(2, "hour must have two digits");
    expect(':', "expected ':' after the hour");
    minute = digits(2, "minute must have two digits");
    if (i < s.size() && s[i] == ':') {
      ++i;
      second = digits(2, "second must have two digits");
      if (i < s.size() && s[i] == '.') {
        ++i;
        const size_t start = i;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
        if (i == start || i - start > 9) bad("fraction of a second must have 1 to 9 digits");
        // Sub-second parts are dropped: timestamps are whole seconds.
      }
    }
    if (hour > 23 || minute > 59 || second > 59) bad("time of day out of range");
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
      ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
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
  for (auto& v : values) v.erase(v.begin(), v.begin() + drop);
}

// ---- reading ----

MarketTable read_market_csv(const std::string& path, const CsvOptions& opt) {
  std::error_code ec;
  FCAST_CHECK(std::filesystem::exists(path, ec), "CSV file '", path, "' does not exist");
  FCAST_CHECK(!std::filesystem::is_directory(path, ec), "'", path, "' is a directory, not a CSV file");
  require_regular_file(path);  // a FIFO or device would block or never end
  std::ifstream in(path, std::ios::binary);
  FCAST_CHECK(in.good(), "cannot open CSV file '", path, "' (permission denied?)");
  std::ostringstream buf;
  buf << in.rdbuf();
  FCAST_CHECK(!in.bad(), "error reading CSV file '", path, "'");
  std::string text = buf.str();
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF)
    text.erase(0, 3);
  FCAST_CHECK(text.find('\0') == std::string::npos, path, ": the file holds NUL bytes; is it really a text CSV?");

  std::vector<Record> recs = tokenize(text, path);
  FCAST_CHECK(!recs.empty(), path, ": the file is empty (expected a header line and data rows)");

  // Header.
  const Record& head = recs[0];
  std::vector<std::string> names;
  for (size_t c = 0; c < head.fields.size(); ++c) {
    std::string nm = lower(trim(head.fields[c]));
    if (nm.empty()) nm = cat("column", c + 1);
    for (size_t p = 0; p < names.size(); ++p)
      FCAST_CHECK(names[p] != nm, path, ":", head.line, ": the header names column '", nm, "' twice (columns ", p + 1,
                  " and ", c + 1, ")");
    names.push_back(nm);
  }
  const int64_t ncols = static_cast<int64_t>(names.size());
  FCAST_CHECK(recs.size() > 1, path, ": the file has a header (", join(names), ") but no data rows");

  int64_t time_col = -1, symbol_col = -1;
  for (int64_t c = 0; c < ncols; ++c) {
    if (time_col < 0 && is_time_name(names[c])) time_col = c;
    if (symbol_col < 0 && names[c] == "symbol") symbol_col = c;
  }
  FCAST_CHECK(time_col >= 0, path, ":", head.line, ": no time column; expected one named date, timestamp, timestamps, ",
              "time, datetime or ds; the header has: ", join(names));

  for (size_t r = 1; r < recs.size(); ++r)
    FCAST_CHECK(static_cast<int64_t>(recs[r].fields.size()) == ncols, path, ":", recs[r].line, ": expected ", ncols,
                " fields as in the header, found ", recs[r].fields.size());

  MarketTable t;
  t.path = path;
  t.time_column = names[time_col];

  // Rows of the chosen symbol (all rows for a wide file).
  std::vector<const Record*> rows;
  if (symbol_col >= 0) {
    std::vector<std::string> symbols;
    for (size_t r = 1; r < recs.size(); ++r) {
      const std::string s = trim(recs[r].fields[symbol_col]);
      if (std::find(symbols.begin(), symbols.end(), s) == symbols.end()) symbols.push_back(s);
    }
    std::sort(symbols.begin(), symbols.end());
    std::string chosen;
    if (!opt.symbol.empty()) {
      for (const auto& s : symbols)
        if (lower(s) == lower(trim(opt.symbol))) chosen = s;
      FCAST_CHECK(!chosen.empty(), path, ": symbol '", opt.symbol, "' is not in the file; symbols: ", join(symbols));
    } else {
      FCAST_CHECK(symbols.size() == 1, path, ": the file holds ", symbols.size(),
                  " symbols; choose one (--symbol): ", join(symbols));
      chosen = symbols[0];
    }
    for (size_t r = 1; r < recs.size(); ++r)
      if (trim(recs[r].fields[symbol_col]) == chosen) rows.push_back(&recs[r]);
    t.symbol = chosen;
  } else {
    FCAST_CHECK(opt.symbol.empty(), path, ": a symbol ('", opt.symbol,
                "') was given but the file has no symbol column; it holds a single series");
    for (size_t r = 1; r < recs.size(); ++r) rows.push_back(&recs[r]);
  }
  const size_t nrows = rows.size();

  // Timestamps.
  t.timestamps.resize(nrows);
  t.utc_offsets.resize(nrows);
  for (size_t r = 0; r < nrows; ++r) {
    const std::string& cell = rows[r]->fields[time_col];
    FCAST_CHECK(!trim(cell).empty(), path, ":", rows[r]->line, ": empty timestamp in column '", t.time_column, "'");
    try {
      t.timestamps[r] = parse_timestamp(cell, &t.utc_offsets[r]);
    } catch (const Error& e) {
      fail(path, ":", rows[r]->line, ": column '", t.time_column, "': ", e.what());
    }
    const int64_t local = t.timestamps[r] + t.utc_offsets[r];
    if (local - floor_div(local, 86400) * 86400 != 0) t.has_time_of_day = true;
  }

  // Duplicates first (they would otherwise read as an order error), naming both lines.
  {
    std::vector<size_t> idx(nrows);
    for (size_t r = 0; r < nrows; ++r) idx[r] = r;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return t.timestamps[a] < t.timestamps[b]; });
    for (size_t k = 1; k < nrows; ++k)
      FCAST_CHECK(t.timestamps[idx[k]] != t.timestamps[idx[k - 1]], path, ": duplicate timestamp ",
                  show(trim(rows[idx[k]]->fields[time_col])), " on lines ", rows[idx[k - 1]]->line, " and ",
                  rows[idx[k]]->line);
  }
  // Order: strictly ascending, or strictly descending (then reversed).
  bool descending = false;
  if (nrows >= 2) {
    descending = t.timestamps[1] < t.timestamps[0];
    for (size_t r = 1; r < nrows; ++r) {
      const bool down = t.timestamps[r] < t.timestamps[r - 1];
      FCAST_CHECK(down == descending, path, ":", rows[r]->line, ": timestamps are neither ascending nor descending: ",
                  show(trim(rows[r]->fields[time_col])), " follows ", show(trim(rows[r - 1]->fields[time_col])),
                  " (line ", rows[r - 1]->line, ") but the file started ", descending ? "descending" : "ascending");
    }
  }

  // Numeric columns; a column with no number at all is a text column and is left out.
  for (int64_t c = 0; c < ncols; ++c) {
    if (c == time_col || c == symbol_col) continue;
    std::vector<double> vals(nrows, std::numeric_limits<double>::quiet_NaN());
    int64_t numbers = 0, first_text = -1;
    for (size_t r = 0; r < nrows; ++r) {
      const std::string cell = trim(rows[r]->fields[c]);
      if (is_missing(cell)) continue;
      double v = 0;
      if (parse_number(cell, &v)) {
        vals[r] = v;
        ++numbers;
      } else if (first_text < 0) {
        first_text = static_cast<int64_t>(r);
      }
    }
    if (first_text >= 0 && numbers == 0) continue;  // a text column
    FCAST_CHECK(first_text < 0, path, ":", rows[first_text]->line, ": column '", names[c], "' is numeric but holds ",
                show(trim(rows[first_text]->fields[c])), "; fix or empty that cell (empty cells are read as missing)");
    t.columns.push_back(names[c]);
    t.values.push_back(std::move(vals));
  }

  if (descending) {
    std::reverse(t.timestamps.begin(), t.timestamps.end());
    std::reverse(t.utc_offsets.begin(), t.utc_offsets.end());
    for (auto& v : t.values) std::reverse(v.begin(), v.end());
  }
  return t;
}

}  // namespace fcast

#include "core/env.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <system_error>

#include "core/error.h"
#include "core/text.h"

extern char** environ;

namespace fcast {

const char* const kEnvBoolValues = "1, true, yes, on (enable) or 0, false, no, off (disable), case-insensitive";

namespace {

// Blank counts as unset, so that `VAR=` never fails.
std::optional<std::string> usable(const std::optional<std::string>& raw) {
  if (!raw) return std::nullopt;
  std::string v = trim(*raw);
  if (v.empty()) return std::nullopt;
  return v;
}

std::optional<std::string> process_value(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return usable(std::string(v));
}

std::string range_text(double lo, double hi) {
  const double big = std::numeric_limits<double>::max();
  if (lo <= -big && hi >= big) return "finite decimal numbers";
  if (lo <= -big) return cat("finite decimal numbers up to ", hi);
  if (hi >= big) return cat("finite decimal numbers from ", lo);
  return cat("finite decimal numbers from ", lo, " to ", hi);
}

}  // namespace

Environment Environment::from_process() {
  Environment e;
  for (char** p = environ; p && *p; ++p) {
    const std::string kv = *p;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) e.vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return e;
}

std::optional<std::string> Environment::get(const std::string& name) const {
  auto it = vars.find(name);
  if (it == vars.end()) return std::nullopt;
  return it->second;
}

std::string env_quote(const std::string& name, const std::string& value) { return name + "='" + value + "'"; }

bool parse_bool(const std::string& value, const std::string& what) {
  const std::string v = lower(trim(value));
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  fail(what, " is not a boolean; valid values: ", kEnvBoolValues);
}

int64_t parse_int(const std::string& value, const std::string& what, int64_t lo, int64_t hi, const std::string& noun) {
  const std::string s = trim(value);
  const char* b = s.data();
  const char* e = b + s.size();
  // from_chars takes no '+', but people write it.
  if (b != e && *b == '+' && b + 1 != e && b[1] != '-') ++b;
  int64_t v = 0;
  const auto res = std::from_chars(b, e, v);
  const bool whole = res.ptr == e && b != e;
  FCAST_CHECK(!(res.ec == std::errc::result_out_of_range && whole), what, " is not ", noun,
              " (out of range); valid values: integers from ", lo, " to ", hi);
  FCAST_CHECK(res.ec == std::errc() && whole && v >= lo && v <= hi, what, " is not ", noun,
              "; valid values: integers from ", lo, " to ", hi);
  return v;
}

double parse_double(const std::string& value, const std::string& what, double lo, double hi, const std::string& noun) {
  const std::string s = trim(value);
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+' && b + 1 != e && b[1] != '-') ++b;
  double v = 0;
  const auto res = std::from_chars(b, e, v);
  FCAST_CHECK(res.ec == std::errc() && res.ptr == e && b != e && std::isfinite(v) && v >= lo && v <= hi, what,
              " is not ", noun, "; valid values: ", range_text(lo, hi));
  return v;
}

size_t parse_choice(const std::string& value, const std::string& what, const std::vector<std::string>& allowed,
                    const std::string& noun, const std::string& hint) {
  const std::string v = lower(trim(value));
  for (size_t i = 0; i < allowed.size(); ++i)
    if (v == lower(allowed[i])) return i;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail(what, " is not ", noun, "; valid values: ", list, hint);
}

std::optional<std::string> env_string(const Environment& env, const std::string& name) {
  return usable(env.get(name));
}

std::optional<bool> env_bool(const Environment& env, const std::string& name) {
  auto v = env_string(env, name);
  if (!v) return std::nullopt;
  return parse_bool(*v, env_quote(name, *v));
}

std::optional<int64_t> env_int(const Environment& env, const std::string& name, int64_t lo, int64_t hi) {
  auto v = env_string(env, name);
  if (!v) return std::nullopt;
  return parse_int(*v, env_quote(name, *v), lo, hi);
}

std::optional<double> env_double(const Environment& env, const std::string& name, double lo, double hi) {
  auto v = env_string(env, name);
  if (!v) return std::nullopt;
  return parse_double(*v, env_quote(name, *v), lo, hi);
}

std::optional<size_t> env_choice(const Environment& env, const std::string& name,
                                 const std::vector<std::string>& allowed) {
  auto v = env_string(env, name);
  if (!v) return std::nullopt;
  return parse_choice(*v, env_quote(name, *v), allowed);
}

std::optional<std::string> env_string(const char* name) { return process_value(name); }

bool env_bool(const char* name, bool dflt) {
  auto v = process_value(name);
  return v ? parse_bool(*v, env_quote(name, *v)) : dflt;
}

int64_t env_int(const char* name, int64_t dflt, int64_t lo, int64_t hi) {
  auto v = process_value(name);
  return v ? parse_int(*v, env_quote(name, *v), lo, hi) : dflt;
}

double env_double(const char* name, double dflt, double lo, double hi) {
  auto v = process_value(name);
  return v ? parse_double(*v, env_quote(name, *v), lo, hi) : dflt;
}

}  // namespace fcast

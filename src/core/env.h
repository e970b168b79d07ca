// Environment variables: one grammar for every variable fcast reads.
//
//   booleans  1, true, yes, on / 0, false, no, off (case-insensitive)
//   integers  decimal, optional leading +, range-checked, overflow is an error
//   numbers   finite decimals (no inf/nan), range-checked
//   choices   one of a fixed list (case-insensitive)
//   strings   as given
//
// Surrounding whitespace is ignored and an empty value counts as unset, so `VAR=` in a shell
// script is harmless. Anything else that does not parse is an fcast::Error naming the variable,
// the value and the accepted values: a typo must not silently select a default.
//
//   Environment env = Environment::from_process();         // or Environment{{{"X", "1"}}} in a test
//   std::optional<bool> on = env_bool(env, "FCAST_X");      // nullopt: unset
//   bool strict = env_bool("FCAST_STRICT_PLANS", false);    // process environment, with a default
//
// The parse_* functions apply the same grammar to a value from elsewhere (a command-line flag);
// `what` is how an error quotes it, e.g. NAME='v' (env_quote) or --flag 'v'.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fcast {

// Name/value pairs, from the process environment or a test's map (tests then never touch the
// process environment).
struct Environment {
  std::map<std::string, std::string> vars;
  static Environment from_process();
  // The raw value, untrimmed; nullopt when the name is absent.
  std::optional<std::string> get(const std::string& name) const;
};

// NAME='value', the way errors quote an environment value.
std::string env_quote(const std::string& name, const std::string& value);

// The accepted spellings of a boolean, for error messages and help texts.
extern const char* const kEnvBoolValues;

bool parse_bool(const std::string& value, const std::string& what);
// `noun` completes "is not ...", e.g. "a valid recompile limit".
int64_t parse_int(const std::string& value, const std::string& what, int64_t lo, int64_t hi,
                  const std::string& noun = "an integer");
double parse_double(const std::string& value, const std::string& what,
                    double lo = -std::numeric_limits<double>::max(), double hi = std::numeric_limits<double>::max(),
                    const std::string& noun = "a finite number");
// The index of the matching entry of `allowed`; `hint` is appended to the error message.
size_t parse_choice(const std::string& value, const std::string& what, const std::vector<std::string>& allowed,
                    const std::string& noun = "an accepted value", const std::string& hint = "");

// From an Environment. Each returns nullopt when the variable is unset or blank; the value it
// parses is trimmed.
std::optional<std::string> env_string(const Environment& env, const std::string& name);
std::optional<bool> env_bool(const Environment& env, const std::string& name);
std::optional<int64_t> env_int(const Environment& env, const std::string& name, int64_t lo, int64_t hi);
std::optional<double> env_double(const Environment& env, const std::string& name,
                                 double lo = -std::numeric_limits<double>::max(),
                                 double hi = std::numeric_limits<double>::max());
std::optional<size_t> env_choice(const Environment& env, const std::string& name,
                                 const std::vector<std::string>& allowed);

// From the process environment (read at the call, no copy of the whole environment), with the
// value used when the variable is unset or blank.
std::optional<std::string> env_string(const char* name);
bool env_bool(const char* name, bool dflt);
int64_t env_int(const char* name, int64_t dflt, int64_t lo, int64_t hi);
double env_double(const char* name, double dflt, double lo = -std::numeric_limits<double>::max(),
                  double hi = std::numeric_limits<double>::max());

}  // namespace fcast

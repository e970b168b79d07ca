// core/env.h: the one grammar for environment variables (booleans, integers, numbers, choices,
// strings), through an injected Environment and through the process environment.
#include "core/env.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "test_util.h"

namespace fcast {
namespace {

Environment env1(const std::string& name, const std::string& value) { return Environment{{{name, value}}}; }

using test::error_of;
using test::expect_contains;

TEST(Env, BooleansAcceptExactlyTheEightSpellings) {
  for (const char* v : {"1", "true", "TRUE", "Yes", "on", "ON", " on "})
    EXPECT_EQ(env_bool(env1("X", v), "X"), std::optional<bool>(true)) << v;
  for (const char* v : {"0", "false", "False", "no", "NO", "off", "\toff\n"})
    EXPECT_EQ(env_bool(env1("X", v), "X"), std::optional<bool>(false)) << v;
  for (const char* v : {"maybe", "2", "-1", "y", "n", "t", "enable", "01", "1.0", "truee"})
    expect_contains(error_of([v] { env_bool(env1("FCAST_STRICT_PLANS", v), "FCAST_STRICT_PLANS"); }),
                    {"FCAST_STRICT_PLANS", v, "1, true, yes, on", "0, false, no, off"});
}

TEST(Env, EmptyAndBlankAreUnset) {
  for (const char* v : {"", " ", "\t"}) {
    const Environment e = env1("X", v);
    EXPECT_FALSE(env_bool(e, "X").has_value());
    EXPECT_FALSE(env_int(e, "X", 0, 10).has_value());
    EXPECT_FALSE(env_double(e, "X").has_value());
    EXPECT_FALSE(env_string(e, "X").has_value());
    EXPECT_FALSE(env_choice(e, "X", {"a"}).has_value());
  }
  const Environment none;
  EXPECT_FALSE(env_bool(none, "X").has_value());
  EXPECT_FALSE(env_string(none, "X").has_value());
}

TEST(Env, Integers) {
  EXPECT_EQ(env_int(env1("N", "42"), "N", 0, 100), std::optional<int64_t>(42));
  EXPECT_EQ(env_int(env1("N", "+7"), "N", 0, 100), std::optional<int64_t>(7));
  EXPECT_EQ(env_int(env1("N", " -3 "), "N", -5, 5), std::optional<int64_t>(-3));
  EXPECT_EQ(env_int(env1("N", "9223372036854775807"), "N", 0, INT64_MAX), std::optional<int64_t>(INT64_MAX));
  for (const char* v : {"1.5", "abc", "12x", "0x10", "+-1", "+", "1e3"})
    expect_contains(error_of([v] { env_int(env1("N", v), "N", 0, 100); }), {"N='", v, "integers from 0 to 100"});
  expect_contains(error_of([] { env_int(env1("N", "101"), "N", 0, 100); }), {"N='101'", "integers from 0 to 100"});
  expect_contains(error_of([] { env_int(env1("N", "-1"), "N", 0, 100); }), {"N='-1'", "integers from 0"});
  expect_contains(error_of([] { env_int(env1("N", "99999999999999999999"), "N", 0, 100); }),
                  {"N='99999999999999999999'", "out of range", "integers from 0 to 100"});
  expect_contains(error_of([] { env_int(env1("N", "-99999999999999999999"), "N", INT64_MIN, INT64_MAX); }),
                  {"out of range"});
}

TEST(Env, FiniteNumbers) {
  EXPECT_EQ(env_double(env1("F", "0.2"), "F"), std::optional<double>(0.2));
  EXPECT_EQ(env_double(env1("F", "-1e-3"), "F"), std::optional<double>(-1e-3));
  EXPECT_EQ(env_double(env1("F", "+2"), "F"), std::optional<double>(2.0));
  for (const char* v : {"inf", "-inf", "nan", "1e999", "abc", "0.2x", "1,5"})
    expect_contains(error_of([v] { env_double(env1("FCAST_TEST_PERTURB_COMPILED", v), "FCAST_TEST_PERTURB_COMPILED"); }),
                    {"FCAST_TEST_PERTURB_COMPILED", v, "finite"});
  expect_contains(error_of([] { env_double(env1("F", "2"), "F", 0.0, 1.0); }), {"F='2'", "from 0 to 1"});
}

TEST(Env, Choices) {
  const std::vector<std::string> modes = {"default", "reduce-overhead", "max-autotune"};
  EXPECT_EQ(env_choice(env1("M", "Reduce-Overhead"), "M", modes), std::optional<size_t>(1));
  expect_contains(error_of([&] { env_choice(env1("M", "fast"), "M", modes); }),
                  {"M='fast'", "default, reduce-overhead, max-autotune"});
  expect_contains(error_of([&] { parse_choice("x", "--flag 'x'", modes, "a mode", " (hint)"); }),
                  {"--flag 'x' is not a mode", "max-autotune (hint)"});
}

TEST(Env, StringsAreTrimmed) {
  EXPECT_EQ(env_string(env1("S", "  inductor:bf16 "), "S"), std::optional<std::string>("inductor:bf16"));
  EXPECT_EQ(env_quote("S", "v"), "S='v'");
}

TEST(Env, ProcessEnvironment) {
  const char* name = "FCAST_ENV_TEST_VARIABLE";
  ::unsetenv(name);
  EXPECT_TRUE(env_bool(name, true));
  EXPECT_FALSE(env_bool(name, false));
  EXPECT_EQ(env_int(name, 5, 0, 10), 5);
  EXPECT_EQ(env_double(name, 0.5), 0.5);
  EXPECT_FALSE(env_string(name).has_value());
  ::setenv(name, "", 1);
  EXPECT_TRUE(env_bool(name, true));
  ::setenv(name, "off", 1);
  EXPECT_FALSE(env_bool(name, true));
  ::setenv(name, "maybe", 1);
  expect_contains(error_of([name] { env_bool(name, false); }), {name, "maybe", "1, true, yes, on"});
  ::setenv(name, "7", 1);
  EXPECT_EQ(env_int(name, 5, 0, 10), 7);
  expect_contains(error_of([name] { env_int(name, 5, 0, 6); }), {name, "'7'", "integers from 0 to 6"});
  ::setenv(name, "x=y", 1);
  EXPECT_EQ(env_string(name), std::optional<std::string>("x=y"));
  const Environment e = Environment::from_process();
  EXPECT_EQ(e.get(name), std::optional<std::string>("x=y"));
  ::unsetenv(name);
}

}  // namespace
}  // namespace fcast

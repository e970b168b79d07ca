// Errors: every fallible boundary throws fcast::Error with a message a user can act on.
// Internal invariants use FCAST_ASSERT, which names file:line.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fcast {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... A>
[[noreturn]] void fail(const A&... a) {
  std::ostringstream s;
  (s << ... << a);
  throw Error(s.str());
}

template <class... A>
std::string cat(const A&... a) {
  std::ostringstream s;
  (s << ... << a);
  return s.str();
}

}  // namespace fcast

#define FCAST_CHECK(cond, ...)                  \
  do {                                          \
    if (!(cond)) ::fcast::fail(__VA_ARGS__);    \
  } while (0)

#define FCAST_ASSERT(cond)                                                              \
  do {                                                                                  \
    if (!(cond)) ::fcast::fail("internal error: ", #cond, " (", __FILE__, ":", __LINE__, ")"); \
  } while (0)

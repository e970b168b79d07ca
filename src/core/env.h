// TEMPORARY (replaced at merge by the shared environment parser).
#pragma once
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace fcast {

inline bool env_bool(const char* name, bool dflt) {
  const char* v = std::getenv(name);
  if (!v || !*v) return dflt;
  const std::string s(v);
  if (s == "1" || s == "true") return true;
  if (s == "0" || s == "false") return false;
  fail(name, "='", s, "' is not a boolean");
}

}  // namespace fcast

// Overflow-checked size arithmetic for shapes and counts computed from values we did not choose
// (config.json, command-line flags): an overflow is an fcast::Error naming what was computed,
// never a wrapped (negative or small) size.
//
//   const int64_t rows = checked_mul(P, D, "patch_size * embed_dim");
#pragma once
#include <cstdint>
#include <string>

#include "core/error.h"

namespace fcast {

inline int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  FCAST_CHECK(!__builtin_mul_overflow(a, b, &r), what, " = ", a, " * ", b, " overflows a 64-bit integer");
  return r;
}

inline int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  FCAST_CHECK(!__builtin_add_overflow(a, b, &r), what, " = ", a, " + ", b, " overflows a 64-bit integer");
  return r;
}

}  // namespace fcast

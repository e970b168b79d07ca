// Small text helpers shared by the parsers of settings, CSVs and command lines (ASCII rules:
// the values they see are names, numbers and flags).
//
//   trim("  close ") == "close";  lower("Close") == "close";
//
// Thread-safe (pure functions).
#pragma once
#include <cctype>
#include <string>

namespace fcast {

inline std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace fcast

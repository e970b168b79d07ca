// JSON helpers. Python's json module writes the non-standard literals NaN, Infinity and
// -Infinity; parse_json_lenient maps them (outside strings) to null before parsing.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace fcast {

nlohmann::json parse_json_lenient(const std::string& text, const std::string& source);
nlohmann::json read_json_file(const std::string& path);  // lenient; errors name the file

}  // namespace fcast

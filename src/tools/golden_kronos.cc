// Placeholder until the Kronos golden runner lands.
#include "core/error.h"
#include "tools/commands.h"
namespace fcast::tools {
GoldenTally run_kronos_golden(const std::string& dir, const nlohmann::json&) {
  fail(dir, ": Kronos golden cases are not supported yet");
}
}  // namespace fcast::tools

// The optional, model-specific tool pieces (tools/commands.h: ModelTools), one line per model
// that has any. A model without a line has no golden runner.
#include <map>

#include "tools/commands.h"

namespace fcast::tools {

const ModelTools& model_tools(const std::string& name) {
  static const std::map<std::string, ModelTools> table = {
      {"toto", {[](const nlohmann::json& m) { return m.contains("files") && m["files"].is_object(); },
                run_toto_golden}},
      {"kronos", {[](const nlohmann::json& m) { return m.contains("cases") && m["cases"].is_array(); },
                  run_kronos_golden}},
  };
  static const ModelTools none;
  auto it = table.find(name);
  return it == table.end() ? none : it->second;
}

}  // namespace fcast::tools

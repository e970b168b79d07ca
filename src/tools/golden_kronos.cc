// `fcast golden DIR` for Kronos folders: every case of the manifest, one line each.
#include <iostream>

#include "tools/golden_kronos_runner.h"
#include "tools/commands.h"

namespace fcast::tools {

GoldenTally run_kronos_golden(const std::string& dir, const nlohmann::json& manifest, GoldenExecutors& executors) {
  GoldenTally t;
  kronos::GoldenOptions opt;
  opt.make_executor = [&executors](const std::string& identity) { return executors.make(identity); };
  kronos::run_kronos_golden_cases(dir, manifest, opt, [&](const kronos::GoldenCaseResult& r) {
    std::cout << r.line() << std::endl;
    (r.passed ? t.passed : t.failed) += 1;
  });
  return t;
}

}  // namespace fcast::tools

// `fcast golden DIR` for Kronos folders: every case of the manifest, one line each.
#include <iostream>

#include "models/kronos/golden_runner.h"
#include "models/kronos/session.h"

namespace fcast::kronos {

bool golden_accepts(const nlohmann::json& m) { return m.contains("cases") && m["cases"].is_array(); }

GoldenTally run_golden(const std::string& dir, const nlohmann::json& manifest, GoldenExecutors& executors) {
  GoldenTally t;
  GoldenOptions opt;
  opt.make_executor = [&executors](const std::string& identity) { return executors.make(identity); };
  run_kronos_golden_cases(dir, manifest, opt, [&](const GoldenCaseResult& r) {
    std::cout << r.line() << std::endl;
    (r.passed ? t.passed : t.failed) += 1;
  });
  return t;
}

}  // namespace fcast::kronos

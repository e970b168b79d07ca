// Golden runners: a registered model may check itself against reference files (`fcast golden
// DIR`): ModelEntry::golden_accepts recognises its manifest and ModelEntry::run_golden runs every
// case, printing one line per case. The caller prints "N passed, M failed" last.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/compile_settings.h"
#include "runtime/executor.h"

namespace fcast {

struct GoldenTally {
  int passed = 0;
  int failed = 0;
};

// The executors of one golden pass: eager, or compiled with `compiled`; every executor made is
// kept, so the caller can read their counters (`fcast golden` checks that a second pass loads
// every plan from the persistent cache the first pass wrote).
struct GoldenExecutors {
  std::optional<CompileSettings> compiled;  // nullopt: eager
  std::vector<std::shared_ptr<Executor>> made;
  std::shared_ptr<Executor> make(const std::string& model_identity);
};

// One case's outcome: the worst scaled error, where it was, what failed, how many tensors.
struct GoldenComparison {
  double worst = 0;  // max |got - want| / (|want| + 1)
  std::string worst_name;
  std::vector<std::string> failures;
  int compared = 0;
};

// Runs `run` on every entry of a manifest's "files" object (file path -> case) and prints one
// line per case: PASS/FAIL, the worst error, what failed. A case that throws or compares
// nothing fails.
GoldenTally run_golden_files(const nlohmann::json& files,
                             const std::function<GoldenComparison(const std::string& file, const nlohmann::json& entry)>& run);

}  // namespace fcast

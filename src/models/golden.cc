#include "models/golden.h"

#include <chrono>
#include <iostream>

#include "runtime/eager_executor.h"
#include "runtime/executor_factory.h"

namespace fcast {

std::shared_ptr<Executor> GoldenExecutors::make(const std::string& model_identity) {
  std::shared_ptr<Executor> e;
  if (compiled) e = make_executor(*compiled, model_identity);
  else e = std::make_shared<EagerExecutor>();
  made.push_back(e);
  return e;
}

GoldenTally run_golden_files(const nlohmann::json& files,
                             const std::function<GoldenComparison(const std::string& file, const nlohmann::json& entry)>& run) {
  GoldenTally t;
  for (auto it = files.begin(); it != files.end(); ++it) {
    GoldenComparison c;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      c = run(it.key(), it.value());
      if (c.compared == 0) c.failures.push_back("nothing was compared");
    } catch (const std::exception& e) {
      c.failures.push_back(std::string("cannot run: ") + e.what());
    }
    const bool ok = c.failures.empty();
    (ok ? t.passed : t.failed)++;
    std::cout << (ok ? "PASS " : "FAIL ") << it.key() << "  worst " << c.worst
              << (c.worst_name.empty() ? "" : " (" + c.worst_name + ")") << "  [" << c.compared << " compared, "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s]\n";
    for (const auto& msg : c.failures) std::cout << "     " << msg << "\n";
  }
  return t;
}

}  // namespace fcast

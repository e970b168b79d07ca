// A deliberately broken compiled path, for testing that the stress test catches one: every F32
// graph output of a compiled executor is multiplied by (1 + factor).
// Switched on by FCAST_TEST_PERTURB_COMPILED=<factor> (e.g. 0.2); it applies to the compiled
// executors of `fcast stress` only, and every run that uses it says so loudly.
//
//   auto ex = make_executor(s, id);  perturb_outputs(*ex, 0.2);
#pragma once
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "core/env.h"
#include "core/error.h"
#include "runtime/executor.h"

namespace fcast::stress {

constexpr const char* kPerturbEnv = "FCAST_TEST_PERTURB_COMPILED";

// Makes `e` scale every F32 graph output by (1 + factor) from now on. An observer, not a
// wrapper: the models keep seeing the executor's own policy (buckets, KV-cache dtype).
inline void perturb_outputs(Executor& e, double factor) {
  const float k = static_cast<float>(1.0 + factor);
  e.set_observer([k](const Graph&, TensorMap& out) {
    for (auto& [name, t] : out) {
      if (t.dtype() != DType::F32) continue;
      // A fresh tensor: outputs may alias executor-owned memory or read-only weights.
      Tensor scaled = Tensor::empty(DType::F32, t.shape());
      const float* src = t.data<float>();
      float* dst = scaled.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) dst[i] = src[i] * k;
      t = scaled;
    }
  });
}

// The factor from the environment; nothing when unset or 0. A malformed value is an error.
inline std::optional<double> perturbation_from_env() {
  const double f = env_double(kPerturbEnv, 0.0);
  if (f == 0) return std::nullopt;
  return f;
}

}  // namespace fcast::stress

// Toto 2.0 behind the model registry (models/registry.h): the loaded model (folded weights and
// compiled model, shared, immutable) and the forecasting session (executor and graphs, one
// caller at a time).
#pragma once
#include <memory>

#include "models/registry.h"
#include "models/toto2/model.h"
#include "runtime/compiled_executor.h"

namespace fcast::toto2 {

ModelEntry registry_entry();

// The golden runner (`fcast golden DIR`, models/golden.h): whether `manifest` is this model's
// golden manifest, and the run of every case; golden.cc.
bool golden_accepts(const nlohmann::json& manifest);
GoldenTally run_golden(const std::string& dir, const nlohmann::json& manifest, GoldenExecutors& executors);

// The context length (steps, a multiple of P) a forecast of `steps` is left-padded to: the
// smallest bucket (rounded up to whole patches) that holds it, beyond the largest bucket its
// multiples; `steps` itself without buckets.
int64_t bucketed_length(int64_t steps, const std::vector<int64_t>& buckets, int64_t P);

// The fixed quantile levels of the model's head.
const std::vector<double>& model_levels();
// Values at `levels` from the 9 sorted model quantiles `q` (levels 0.1 .. 0.9): linear
// interpolation between neighbouring levels, and the end segments' slopes continued below 0.1
// and above 0.9 (monotone in the level, since the model quantiles are sorted).
float interpolate_quantile(const float* q, double level);

class Toto2LoadedModel : public LoadedModel, public std::enable_shared_from_this<Toto2LoadedModel> {
 public:
  Toto2LoadedModel(std::shared_ptr<const Toto2Weights> w, CompileSettings s, bool random_weights);
  const ModelEntry& entry() const override;
  std::string identity() const override { return w_->identity; }
  int64_t weight_file_bytes() const override { return static_cast<int64_t>(w_->weight_file_bytes); }
  bool random_weights() const override { return random_; }
  const CompileSettings& settings() const override { return settings_; }
  std::unique_ptr<ForecastSession> new_session() const override;
  int64_t packed_weight_bytes() const override;
  const std::shared_ptr<const Toto2Weights>& weights() const { return w_; }

 private:
  std::shared_ptr<const Toto2Weights> w_;
  CompileSettings settings_;
  bool random_;
  std::shared_ptr<CompiledModel> compiled_;
};

class Toto2Session : public ForecastSession {
 public:
  Toto2Session(std::shared_ptr<const Toto2LoadedModel> m, std::shared_ptr<Executor> exec);
  ForecastResult forecast(const ForecastRequest& request) override;
  std::vector<WarmUpStep> warm_up(const WarmUpSpec& spec) override;
  std::vector<Executor*> executors() override { return {exec_.get()}; }
  Toto2Model& model() { return model_; }

 private:
  std::shared_ptr<const Toto2LoadedModel> loaded_;
  std::shared_ptr<Executor> exec_;
  Toto2Model model_;
};

}  // namespace fcast::toto2

// Toto behind the model registry (models/registry.h): the loaded model (weights and compiled
// model, shared) and the forecasting session (executor, KV caches and forecaster, per caller).
#pragma once
#include <memory>

#include "models/registry.h"
#include "models/toto/forecaster.h"
#include "runtime/compiled_executor.h"

namespace fcast::toto {

ModelEntry registry_entry();

// The golden runner (`fcast golden DIR`, models/golden.h): whether `manifest` is this model's
// golden manifest, and the run of every case; golden.cc.
bool golden_accepts(const nlohmann::json& manifest);
GoldenTally run_golden(const std::string& dir, const nlohmann::json& manifest, GoldenExecutors& executors);

// Thread-safe and immutable after construction.
class TotoLoadedModel : public LoadedModel, public std::enable_shared_from_this<TotoLoadedModel> {
 public:
  TotoLoadedModel(std::shared_ptr<const TotoWeights> weights, CompileSettings settings, bool random_weights);
  const ModelEntry& entry() const override;
  std::string identity() const override { return w_->identity; }
  int64_t weight_file_bytes() const override { return static_cast<int64_t>(w_->weight_file_bytes); }
  bool random_weights() const override { return random_; }
  const CompileSettings& settings() const override { return settings_; }
  std::unique_ptr<ForecastSession> new_session() const override;
  int64_t packed_weight_bytes() const override;
  const std::shared_ptr<const TotoWeights>& weights() const { return w_; }

 private:
  std::shared_ptr<const TotoWeights> w_;
  CompileSettings settings_;
  bool random_;
  std::shared_ptr<CompiledModel> compiled_;  // null when compilation is off
};

// One caller's Toto: its executor (bound plans, arenas), the model view and the forecaster's
// KV caches. One thread at a time.
class TotoSession : public ForecastSession {
 public:
  TotoSession(std::shared_ptr<const TotoLoadedModel> model, std::shared_ptr<Executor> exec);
  ForecastResult forecast(const ForecastRequest& request) override;
  std::vector<WarmUpStep> warm_up(const WarmUpSpec& spec) override;
  std::vector<Executor*> executors() override { return {exec_.get()}; }
  TotoModel& model() { return model_; }

 private:
  std::shared_ptr<const TotoLoadedModel> loaded_;
  std::shared_ptr<Executor> exec_;
  TotoModel model_;
  TotoForecaster forecaster_;
};

}  // namespace fcast::toto

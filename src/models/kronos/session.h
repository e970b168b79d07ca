// Kronos behind the model registry (models/registry.h): the loaded model (predictor and
// tokenizer weights and their compiled models, shared) and the forecasting session
// (executors, KV caches, per caller).
#pragma once
#include <memory>

#include "models/kronos/predictor.h"
#include "models/registry.h"
#include "runtime/compiled_executor.h"

namespace fcast::kronos {

ModelEntry registry_entry();

// The golden runner (`fcast golden DIR`, models/golden.h): whether `manifest` is this model's
// golden manifest, and the run of every case; golden.cc.
bool golden_accepts(const nlohmann::json& manifest);
GoldenTally run_golden(const std::string& dir, const nlohmann::json& manifest, GoldenExecutors& executors);

// Thread-safe and immutable after construction.
class KronosLoadedModel : public LoadedModel, public std::enable_shared_from_this<KronosLoadedModel> {
 public:
  KronosLoadedModel(std::shared_ptr<const KronosPredictorWeights> predictor,
                    std::shared_ptr<const KronosTokenizerWeights> tokenizer, CompileSettings settings,
                    bool random_weights);
  const ModelEntry& entry() const override;
  std::string identity() const override { return pw_->identity + "+" + tw_->identity; }
  int64_t weight_file_bytes() const override;
  bool random_weights() const override { return random_; }
  const CompileSettings& settings() const override { return settings_; }
  std::unique_ptr<ForecastSession> new_session() const override;
  int64_t packed_weight_bytes() const override;
  const std::shared_ptr<const KronosPredictorWeights>& predictor_weights() const { return pw_; }
  const std::shared_ptr<const KronosTokenizerWeights>& tokenizer_weights() const { return tw_; }

 private:
  std::shared_ptr<const KronosPredictorWeights> pw_;
  std::shared_ptr<const KronosTokenizerWeights> tw_;
  CompileSettings settings_;
  bool random_;
  std::shared_ptr<CompiledModel> predictor_compiled_, tokenizer_compiled_;  // null when compilation is off
};

// One caller's Kronos: its two executors (predictor, tokenizer) and the model views holding
// the graphs it reuses. One thread at a time.
class KronosSession : public ForecastSession {
 public:
  KronosSession(std::shared_ptr<const KronosLoadedModel> model, std::shared_ptr<Executor> predictor_exec,
                std::shared_ptr<Executor> tokenizer_exec);
  ForecastResult forecast(const ForecastRequest& request) override;
  std::vector<WarmUpStep> warm_up(const WarmUpSpec& spec) override;
  std::vector<Executor*> executors() override { return {pexec_.get(), texec_.get()}; }

 private:
  KronosPredictor predictor(const ForecastRequest* r, const WarmUpSpec* w) const;
  std::shared_ptr<const KronosLoadedModel> loaded_;
  std::shared_ptr<Executor> pexec_, texec_;
  std::shared_ptr<KronosModel> model_;
  std::shared_ptr<KronosTokenizer> tok_;
};

}  // namespace fcast::kronos

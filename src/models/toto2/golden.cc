// Toto 2.0 golden runner: every file entry of the manifest is one case, run by its `kind`
// (scaler, forward, forecast; *_f64 twins compare the float32 engine against the float64
// reference), `model` and `args`. Every reference tensor the engine also produces is compared
// at the manifest's tolerance; a tensor left uncompared is reported, so a case cannot pass by
// comparing nothing.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/toto2/session.h"

namespace fcast::toto2 {

namespace fs = std::filesystem;

namespace {

using Comparison = GoldenComparison;

double at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::F64: return t.data<double>()[i];
    case DType::F32: return t.data<float>()[i];
    case DType::I32: return t.data<int32_t>()[i];
    case DType::I64: return static_cast<double>(t.data<int64_t>()[i]);
    default: fail("golden: unexpected dtype ", dtype_name(t.dtype()));
  }
}

// |got - want| <= tol (|want| + 1) elementwise; integer tensors must match exactly.
void compare(Comparison& c, const std::string& name, const Tensor& got, const Tensor& want, double tol) {
  ++c.compared;
  if (got.numel() != want.numel()) {
    c.failures.push_back(cat(name, ": shape ", shape_str(got.shape()), " vs reference ", shape_str(want.shape())));
    return;
  }
  const bool exact = !dtype_is_float(want.dtype());
  double worst = 0;
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double w = at(want, i), g = at(got, i);
    const double e = std::isfinite(w) && std::isfinite(g) ? std::fabs(g - w) / (std::fabs(w) + 1.0)
                                                          : (w == g ? 0.0 : std::numeric_limits<double>::infinity());
    worst = std::max(worst, e);
    if (exact ? g != w : e > tol) {
      if (first < 0) first = i;
      ++bad;
    }
  }
  if (worst > c.worst) {
    c.worst = worst;
    c.worst_name = name;
  }
  if (bad)
    c.failures.push_back(cat(name, ": ", bad, " of ", want.numel(), " cells off (first at ", first, ": got ",
                             at(got, first), ", want ", at(want, first), "), worst ", worst, " > tol ", exact ? 0.0 : tol));
}

Tensor f32(const Tensor& t) { return t.dtype() == DType::F32 ? t : t.to(DType::F32); }
Tensor u8(const Tensor& t) { return t.dtype() == DType::U8 ? t : t.to(DType::U8); }
Tensor i32(const Tensor& t) { return t.dtype() == DType::I32 ? t : t.to(DType::I32); }

class CaseRunner {
 public:
  CaseRunner(std::string dir, const nlohmann::json& m, GoldenExecutors& ex) : dir_(std::move(dir)), ex_(ex) {
    FCAST_CHECK(m.contains("recommended_tolerances_fp32") && m["recommended_tolerances_fp32"].is_object(), dir_,
                "/manifest.json: no 'recommended_tolerances_fp32' object");
    const auto& t = m["recommended_tolerances_fp32"];
    for (const char* key : {"single_call", "multi_step"})
      FCAST_CHECK(t.contains(key) && t[key].is_number() && t[key].get<double>() >= 0, dir_,
                  "/manifest.json: recommended_tolerances_fp32.", key, " must be a number >= 0");
    single_ = t["single_call"].get<double>();
    multi_ = t["multi_step"].get<double>();
  }

  Comparison run(const std::string& rel, const nlohmann::json& entry) {
    Comparison c;
    const std::string kind = entry.at("kind").get<std::string>();
    const nlohmann::json args = entry.value("args", nlohmann::json::object());
    Toto2Model& model = model_for(entry.at("model").get<std::string>());
    const SafetensorsFile f = SafetensorsFile::open((fs::path(dir_) / rel).string());
    std::set<std::string> inputs = {"target", "target_mask", "series_ids", "raw_target"};
    std::set<std::string> compared;
    auto check = [&](const std::map<std::string, Tensor>& mine, double tol) {
      for (const TensorInfo& info : f.tensors()) {
        if (inputs.count(info.name)) continue;
        auto it = mine.find(info.name);
        if (it == mine.end()) continue;
        compare(c, info.name, it->second, f.get(info.name), tol);
        compared.insert(info.name);
      }
    };
    const Tensor target = f32(f.get("target")), mask = u8(f.get("target_mask"));
    const int64_t P = model.config().patch_size;
    if (kind == "scaler") {
      const int64_t rows = target.numel() / target.dim(-1), T = target.dim(-1);
      Tensor loc = Tensor::empty(DType::F32, target.shape()), scl = Tensor::empty(DType::F32, target.shape()),
             scaled = Tensor::empty(DType::F32, target.shape());
      causal_scaler(target.data<float>(), mask.data<uint8_t>(), rows, T, P, loc.data<float>(), scl.data<float>(),
                    scaled.data<float>());
      std::map<std::string, Tensor> mine = {{"loc", loc}, {"scale", scl}, {"scaled", scaled}};
      const int64_t k = args.value("backfill_min_obs", int64_t{0});
      if (k > 0) {
        Tensor bl = loc.clone(), bs = scl.clone();
        scaler_fallback(target.data<float>(), mask.data<uint8_t>(), rows, T, P, k, bl.data<float>(), bs.data<float>());
        mine[cat("backfill", k, "_loc")] = bl;
        mine[cat("backfill", k, "_scale")] = bs;
      }
      check(mine, single_);
    } else if (kind == "forward" || kind == "forward_f64") {
      Toto2ForwardOutput o = model.forward(target, mask, i32(f.get("series_ids")), true);
      std::map<std::string, Tensor> mine = o.intermediates;
      mine["scaler_loc"] = o.loc;
      mine["scaler_scale"] = o.scale;
      mine["quantiles"] = o.quantiles;
      check(mine, single_);
    } else if (kind == "forecast" || kind == "forecast_f64") {
      Toto2ForecastOptions o;
      o.horizon = args.at("horizon").get<int64_t>();
      o.decode_block_size = args.value("decode_block_size", nlohmann::json()).is_null() ? 0 : args["decode_block_size"].get<int64_t>();
      o.has_missing_values = args.value("has_missing_values", true);
      o.scaler_fallback_min_obs = args.value("scaler_fallback_min_obs", int64_t{0});
      o.quantile_cap_k = args.value("quantile_real_cap_k", 0.0);
      std::map<std::string, Tensor> mine;
      mine["quantiles"] = model.forecast(target, mask, i32(f.get("series_ids")), o, &mine);
      check(mine, o.decode_block_size > 0 ? multi_ : single_);
      FCAST_CHECK(compared.count("quantiles"), rel, ": no quantiles compared");
    } else {
      fail("unknown case kind '", kind, "'");
    }
    for (const TensorInfo& info : f.tensors())
      if (!inputs.count(info.name) && !compared.count(info.name))
        c.failures.push_back(cat(info.name, ": not produced by the engine (left uncompared)"));
    return c;
  }

 private:
  Toto2Model& model_for(const std::string& name) {
    auto it = models_.find(name);
    if (it != models_.end()) return *it->second;
    auto w = std::make_shared<const Toto2Weights>(load_toto2((fs::path(dir_) / "models" / name).string()));
    const std::string identity = w->identity;
    auto m = std::make_unique<Toto2Model>(w, ex_.make(identity));
    return *models_.emplace(name, std::move(m)).first->second;
  }

  std::string dir_;
  GoldenExecutors& ex_;
  double single_ = 1e-4, multi_ = 5e-4;
  std::map<std::string, std::unique_ptr<Toto2Model>> models_;
};

}  // namespace

bool golden_accepts(const nlohmann::json& m) {
  if (!m.contains("files") || !m["files"].is_object() || !m.contains("models") || !m["models"].is_object()) return false;
  for (const auto& [name, model] : m["models"].items())
    if (model.is_object() && model.contains("config") && model["config"].is_object() && model["config"].contains("d_model"))
      return true;
  return false;
}

GoldenTally run_golden(const std::string& dir, const nlohmann::json& manifest, GoldenExecutors& executors) {
  CaseRunner runner(dir, manifest, executors);
  return run_golden_files(manifest.at("files"), [&](const std::string& file, const nlohmann::json& entry) {
    return runner.run(file, entry);
  });
}

}  // namespace fcast::toto2

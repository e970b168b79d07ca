// Toto 2.0: the causal scaler, the asinh input transform and the de-scaling run on the host
// (float64 statistics, as the reference computes them); the patch embedding, the transformer and
// the quantile head run as a graph on an Executor.
//
//   Toto2Model m(std::make_shared<const Toto2Weights>(load_toto2(dir)));
//   Toto2ForecastOptions o;  o.horizon = 64;
//   Tensor q = m.forecast(target /*F32 [B, V, T]*/, mask /*U8*/, ids /*I32 [B, V]*/, o);  // [9, B, V, 64]
#pragma once
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "graph/graph.h"
#include "models/toto2/weights.h"
#include "runtime/executor.h"

namespace fcast::toto2 {

// The scaler of one set of rows [rows, T] (mask 1 = observed): loc and scale per step (float32 of
// float64 statistics, every step of a patch taking its last step's values) and the scaled values
// (0 where unobserved).
void causal_scaler(const float* x, const uint8_t* mask, int64_t rows, int64_t T, int64_t P, float* loc, float* scale,
                   float* scaled = nullptr);
// Rows whose first patches hold fewer than `min_obs` observations take loc/scale from their first
// `min_obs` observations there (the reference's scaler_fallback_min_obs).
void scaler_fallback(const float* x, const uint8_t* mask, int64_t rows, int64_t T, int64_t P, int64_t min_obs,
                     float* loc, float* scale);

struct Toto2ForecastOptions {
  int64_t horizon = 64;
  int64_t decode_block_size = 0;   // steps per pass with median feedback (a multiple of the patch); 0: one pass
  bool has_missing_values = true;  // fully unobserved context patches are hidden from time attention
  int64_t scaler_fallback_min_obs = 0;
  double quantile_cap_k = 0.0;     // > 0: clamp to the observed context range +- k scale
};

struct Toto2ForwardOutput {
  Tensor quantiles;  // [9, B, V, S, P] raw head outputs (asinh space, unsorted)
  Tensor loc, scale; // [B, V, T]
  std::map<std::string, Tensor> intermediates;  // patch_input, patch_embeddings, group_ids, layer{i}_out, transformer_out
};

class Toto2Model {
 public:
  Toto2Model(std::shared_ptr<const Toto2Weights> w, std::shared_ptr<Executor> exec = nullptr);
  const Toto2Config& config() const { return w_->config; }
  Executor& executor() { return *exec_; }

  // The reference's forward(): target F32 [B, V, T] (T a multiple of the patch), mask U8 [B, V, T],
  // series ids I32 [B, V].
  Toto2ForwardOutput forward(const Tensor& target, const Tensor& mask, const Tensor& ids, bool intermediates = false);

  // The reference's forecast(): quantiles [9, B, V, horizon] (levels 0.1 .. 0.9, sorted). With
  // `trace`, every pass's internals are stored there (pass{k}_scaler_loc, ..._head_out).
  Tensor forecast(const Tensor& target, const Tensor& mask, const Tensor& ids, const Toto2ForecastOptions& o,
                  std::map<std::string, Tensor>* trace = nullptr);

  int64_t graphs_built() const { return graphs_built_; }

 private:
  struct PassShape {
    int64_t B, V, S, out_start, n_out;
    bool time_groups, cached;
    int64_t capacity;
    bool intermediates;
    DType cache_dtype;
    using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, int64_t, bool, DType>;
    Key key() const { return {B, V, S, out_start, n_out, time_groups, cached, capacity, intermediates, cache_dtype}; }
  };
  Graph build_graph(const PassShape& p) const;
  bool takes_variate_groups(int64_t V) const;  // the graph has a "variate_groups" input
  const Graph& graph_for(const PassShape& p);

  std::shared_ptr<const Toto2Weights> w_;
  std::shared_ptr<Executor> exec_;
  std::map<PassShape::Key, std::unique_ptr<Graph>> graphs_;
  int64_t graphs_built_ = 0;
};

}  // namespace fcast::toto2

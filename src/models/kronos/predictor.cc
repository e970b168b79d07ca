#include "models/kronos/predictor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "core/env.h"
#include "core/error.h"

namespace fcast::kronos {

// ---------------------------------------------------------------------------------------------
// Where the KV cache is exact, and where generation switches to full recomputation.
//
// The reference recomputes decode_s1 over the whole window [start, cur) at every step, with
// start = max(0, cur - max_context), cur = L + i, and RoPE positions restarting at 0.
//
//  * While the window grows (cur <= max_context, so start == 0), every earlier position keeps
//    its tokens, stamps and RoPE position, and attention is causal: all per-layer keys/values
//    and context rows of earlier positions are unchanged. We prefill the L context tokens once
//    (per series, shared by all samples by replicating the cache rows) and then run one new
//    position per step against the static caches. The dependency layer's keys/values carry no
//    RoPE (single-query cross-attention), so they are cached too. Same numbers as the reference
//    up to summation order (here: identical kernels, so bit-identical in practice).
//
//  * Once the window slides (the first step with cur > max_context: step max_context - L + 1
//    when L < max_context, step 1 when L == max_context, step 0 when L > max_context), the
//    oldest token is dropped and every position's RoPE index shifts, and no position may attend
//    to the dropped token: every hidden state in layers >= 1 changes. A rolling cache would no
//    longer match the reference (measured s1-logit errors of 0.1-0.8 and a changed
//    greedy token), so from that step on we run the reference's exact full recomputation of
//    the max_context-token window, every step.
//
// Example: golden greedy_tiny_c64_p24_mc80 (L = 64, max_context = 80) caches steps 0-16 and
// recomputes from step 17. Exact savings that hold in both phases: heads only for the last row,
// the context is encoded and (at step 0) prefilled once per series, greedy decoding computes
// one path per series, and the final decode runs once.
// ---------------------------------------------------------------------------------------------

namespace {

Tensor repeat_rows(const Tensor& t, int64_t repeats) {
  if (repeats == 1) return t;
  Shape s = t.shape();
  const int64_t rows = s[0];
  s[0] *= repeats;
  Tensor out = Tensor::empty(t.dtype(), s);
  const size_t row_bytes = t.nbytes() / static_cast<size_t>(rows);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < repeats; ++j)
      std::memcpy(static_cast<char*>(out.raw()) + (r * repeats + j) * row_bytes,
                  static_cast<const char*>(t.raw()) + r * row_bytes, row_bytes);
  return out;
}

}  // namespace

KronosPredictor::KronosPredictor(std::shared_ptr<KronosModel> model, std::shared_ptr<KronosTokenizer> tokenizer,
                                 KronosPredictorOptions opt)
    : model_(std::move(model)), tok_(std::move(tokenizer)), opt_(std::move(opt)) {
  FCAST_CHECK(model_ && tok_, "KronosPredictor needs both a model and a tokenizer");
  check_kronos_pair(model_->config(), tok_->config(), model_->weights().directory, tok_->weights().directory);
  FCAST_CHECK(opt_.max_context >= 1, "max_context must be >= 1, got ", opt_.max_context);
  FCAST_CHECK(std::isfinite(opt_.clip) && opt_.clip > 0, "clip must be a finite number > 0, got ", opt_.clip);
  if (opt_.use_kv_cache && !env_bool("FCAST_KRONOS_KV_CACHE", true)) {
    opt_.use_kv_cache = false;
    note("KV cache off (FCAST_KRONOS_KV_CACHE is off): every step recomputes the full window, as the reference");
  }
}

void KronosPredictor::note(const std::string& msg) const {
  if (opt_.log)
    opt_.log(msg);
  else
    std::cerr << "fcast: kronos: " << msg << "\n";
}

KronosForecast KronosPredictor::predict(const KronosSeries& x, const std::vector<int64_t>& y_timestamps,
                                        int64_t pred_len, const SamplingParams& p) {
  return predict_batch({x}, {y_timestamps}, pred_len, p)[0];
}

std::vector<KronosForecast> KronosPredictor::predict_batch(const std::vector<KronosSeries>& xs,
                                                           const std::vector<std::vector<int64_t>>& ys,
                                                           int64_t pred_len, const SamplingParams& p) {
  FCAST_CHECK(!xs.empty(), "predict_batch: no series given");
  FCAST_CHECK(xs.size() == ys.size(), "predict_batch: ", xs.size(), " series but ", ys.size(), " future timestamp lists");
  std::vector<PreparedSeries> prepared;
  for (size_t b = 0; b < xs.size(); ++b) {
    const std::string label = xs.size() == 1 ? "series" : cat("series ", b);
    FCAST_CHECK(static_cast<int64_t>(ys[b].size()) == pred_len, label, ": ", ys[b].size(),
                " future timestamps given for pred_len ", pred_len, " (they must match)");
    prepared.push_back(prepare_series(xs[b], ys[b], opt_.clip, label));
    for (auto& f : prepared.back().filled) note(label + ": " + f);
  }
  return generate(prepared, pred_len, p);
}

std::vector<KronosForecast> KronosPredictor::generate(const std::vector<PreparedSeries>& series, int64_t pred_len,
                                                      const SamplingParams& p, GenerationTrace* trace,
                                                      const ForcedTokens* forced) {
  p.validate();
  const int64_t B = static_cast<int64_t>(series.size());
  FCAST_CHECK(B >= 1, "generate: no series given");
  const int64_t L = series[0].context, P = pred_len, M = opt_.max_context;
  FCAST_CHECK(P >= 1, "pred_len must be >= 1, got ", P);
  FCAST_CHECK(P <= M, "pred_len ", P, " exceeds max_context ", M,
              ": the final decode keeps only the last max_context tokens, so the reference cannot return more rows; ",
              "raise max_context or lower pred_len");
  for (int64_t b = 0; b < B; ++b) {
    FCAST_CHECK(series[b].context == L, "all series of a batch need the same context length; series 0 has ", L,
                " rows, series ", b, " has ", series[b].context);
    FCAST_CHECK(series[b].pred_len == P, "series ", b, " has ", series[b].pred_len,
                " future timestamps, pred_len is ", P);
  }
  const auto& mc = model_->config();
  const int64_t V1 = mc.vocab_s1(), V2 = mc.vocab_s2(), d = mc.d_model, S = p.sample_count, T = L + P;
  const int64_t R = (p.greedy() && !forced) ? 1 : S;  // greedy: every sample path is identical
  const int64_t N = B * R;
  // One random stream per series: its paths' draws come in the order they come alone (per step:
  // s1 of each path, then s2 of each path).
  FCAST_CHECK(p.series_seeds.empty() || static_cast<int64_t>(p.series_seeds.size()) == B, "series_seeds has ",
              p.series_seeds.size(), " seeds for a batch of ", B);
  std::vector<Rng> rngs;
  for (int64_t b = 0; b < B; ++b) rngs.emplace_back(p.series_seeds.empty() ? p.seed : p.series_seeds[b]);

  // 1. Tokenize the whole context of every series (not truncated to max_context).
  Tensor x = Tensor::empty(DType::F32, {B, L, kFeatures});
  for (int64_t b = 0; b < B; ++b) std::copy(series[b].x_norm.begin(), series[b].x_norm.end(), x.data<float>() + b * L * kFeatures);
  const bool tok_bucketed = tok_->bucketed();  // left-pad encode/decode to the context buckets
  KronosTokens ctx = tok_->encode(x, false, tok_bucketed ? tok_->padded_length(L) : 0);

  // Token sequences [N, T] and stamps [B, T, 5] (context stamps, then future stamps).
  std::vector<int64_t> seq1(static_cast<size_t>(N * T)), seq2(static_cast<size_t>(N * T));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < L; ++t) {
      seq1[n * T + t] = ctx.s1.data<int64_t>()[(n / R) * L + t];
      seq2[n * T + t] = ctx.s2.data<int64_t>()[(n / R) * L + t];
    }
  std::vector<float> stamps(static_cast<size_t>(B * T * kTimeFeatures));
  for (int64_t b = 0; b < B; ++b) {
    std::copy(series[b].x_stamp.begin(), series[b].x_stamp.end(), stamps.begin() + b * T * kTimeFeatures);
    std::copy(series[b].y_stamp.begin(), series[b].y_stamp.end(), stamps.begin() + (b * T + L) * kTimeFeatures);
  }
  // Window inputs for rows {first, first + stride, ...} (count rows) over positions [start, start + W).
  auto window = [&](int64_t count, int64_t stride, int64_t start, int64_t W, Tensor& s1, Tensor& s2, Tensor& st) {
    s1 = Tensor::empty(DType::I64, {count, W});
    s2 = Tensor::empty(DType::I64, {count, W});
    st = Tensor::empty(DType::F32, {count, W, kTimeFeatures});
    for (int64_t j = 0; j < count; ++j) {
      const int64_t n = j * stride, b = n / R;
      std::copy(seq1.begin() + n * T + start, seq1.begin() + n * T + start + W, s1.data<int64_t>() + j * W);
      std::copy(seq2.begin() + n * T + start, seq2.begin() + n * T + start + W, s2.data<int64_t>() + j * W);
      std::copy(stamps.begin() + (b * T + start) * kTimeFeatures, stamps.begin() + (b * T + start + W) * kTimeFeatures,
                st.data<float>() + j * W * kTimeFeatures);
    }
  };

  // 2. Cache planning (see the comment at the top of this file).
  const int64_t max_window = std::min(M, T - 1);
  bool cached = opt_.use_kv_cache && L <= M;
  // Context buckets (compiled executors): the prefill is left-padded to its bucket (at most
  // max_context) and the caches are sized by bucket, so every context length inside one bucket
  // shares one set of plans. Padding is masked: the numbers are those of the unpadded run.
  const bool bucketed = model_->bucketed();
  const int64_t prefill_len = cached ? model_->padded_length(L, M) : 0;
  const int64_t kv_capacity = bucketed ? prefill_len + (P - 1 + 15) / 16 * 16 : max_window;
  const int64_t win_capacity = bucketed ? M : max_window;
  if (cached) {
    const int64_t bytes = (2 * mc.n_layers * static_cast<int64_t>(dtype_size(model_->layer_cache_dtype())) +
                           2 * static_cast<int64_t>(dtype_size(model_->dep_cache_dtype()))) *
                          N * kv_capacity * d;
    const double mb = static_cast<double>(bytes) / (1024.0 * 1024.0);
    if (mb > static_cast<double>(opt_.kv_cache_max_mb)) {
      cached = false;
      note(cat("KV cache off for this call: it would need ", static_cast<int64_t>(mb), " MiB (> kv_cache_max_mb ",
               opt_.kv_cache_max_mb, "); recomputing the full window every step"));
    }
  }
  KronosCache kv, win;  // kv: layer caches while the window grows; win: full-window recompute
  KronosCache* active = nullptr;

  if (trace) {
    *trace = GenerationTrace{};
    trace->series = B, trace->rows_per_series = R, trace->pred_len = P, trace->context = L;
    trace->v1 = V1, trace->v2 = V2;
    trace->ctx_s1.assign(ctx.s1.data<int64_t>(), ctx.s1.data<int64_t>() + B * L);
    trace->ctx_s2.assign(ctx.s2.data<int64_t>(), ctx.s2.data<int64_t>() + B * L);
    trace->step_s1.resize(N * P);
    trace->step_s2.resize(N * P);
    trace->step_s1_logits.resize(N * P * V1);
    trace->step_s2_logits.resize(N * P * V2);
  }

  // Non-finite model outputs (NonFinitePolicy): under kError the first one throws; under kWarn
  // the first occurrence in each output is described.
  std::string nonfinite_detail;
  // Logits that are not finite cannot be sampled from (torch.multinomial refuses them too), so
  // they are an error under either policy unless decoding is greedy or forced.
  const bool sampled = !p.greedy() && !forced;
  auto nonfinite = [&](int64_t bad, int64_t total, const std::string& output, const std::string& at,
                       bool fatal = false) {
    if (bad == 0) return;
    const std::string where = cat(output, " holds ", bad, " non-finite values (NaN or Inf) of ", total, at);
    FCAST_CHECK(!fatal, "kronos: non-finite forecast: ", where, "; tokens cannot be sampled from them (the reference ",
                "fails here too). The context may be too close to the float32 limit, or the checkpoint is damaged");
    FCAST_CHECK(opt_.nonfinite != NonFinitePolicy::kError, "kronos: non-finite forecast: ", where,
                ". The context may be too close to the float32 limit, or the checkpoint is damaged. ",
                "NonFinitePolicy::kWarn (fcast predict kronos --nonfinite warn) lets them through as the reference ",
                "does and counts them");
    if (nonfinite_detail.find(output) == std::string::npos)
      nonfinite_detail += cat(nonfinite_detail.empty() ? "" : "; ", where);
  };
  auto count_nonfinite = [](const float* values, int64_t n) {
    int64_t bad = 0;
    for (int64_t k = 0; k < n; ++k) bad += !std::isfinite(values[k]);
    return bad;
  };
  const std::string predictor_name = cat("the predictor's (", model_->weights().directory, ") ");
  const std::string tokenizer_name = cat("the tokenizer's (", tok_->weights().directory, ") ");

  Tensor s1_in, s2_in, st_in;
  std::vector<float> l2_row;
  for (int64_t i = 0; i < P; ++i) {
    const int64_t cur = L + i, start = std::max<int64_t>(0, cur - M), W = cur - start;
    KronosStepOutput out;
    char mode;
    if (i == 0) {
      // All samples of a series share the context: run it on B rows, then replicate.
      window(B, R, start, W, s1_in, s2_in, st_in);
      KronosCache shared;
      if (cached) {
        shared = model_->make_cache(B, kv_capacity, true);
        out = model_->forward_cached(s1_in, s2_in, st_in, shared, prefill_len);
        mode = 'P';
      } else {
        shared = model_->make_cache(B, win_capacity, false);
        out = model_->forward_window(s1_in, s2_in, st_in, shared, model_->padded_length(W, M));
        mode = 'W';
      }
      KronosCache& dst = cached ? kv : win;
      if (R == 1) {
        dst = std::move(shared);
      } else {
        dst = model_->make_cache(N, cached ? kv_capacity : win_capacity, cached);
        dst.replicate_from(shared, R);
      }
      active = &dst;
      out.s1_logits = repeat_rows(out.s1_logits, R);
      out.last_context = repeat_rows(out.last_context, R);
    } else if (cached && cur <= M) {
      window(N, 1, cur - 1, 1, s1_in, s2_in, st_in);  // the token appended by the previous step
      out = model_->forward_cached(s1_in, s2_in, st_in, kv);
      active = &kv;
      mode = 'C';
    } else {
      if (win.rows == 0) win = model_->make_cache(N, win_capacity, false);
      window(N, 1, start, W, s1_in, s2_in, st_in);
      out = model_->forward_window(s1_in, s2_in, st_in, win, model_->padded_length(W, M));
      active = &win;
      mode = 'W';
    }

    // Sample s1, then s2 conditioned on the sampled s1.
    Tensor s1_next = Tensor::empty(DType::I64, {N, 1});
    const float* l1 = out.s1_logits.data<float>();
    const std::string step_name = cat(" at generation step ", i + 1, " of ", P);
    nonfinite(count_nonfinite(l1, N * V1), N * V1, predictor_name + "s1 logits", step_name, sampled);
    for (int64_t n = 0; n < N; ++n)
      s1_next.data<int64_t>()[n] = forced ? forced->s1[((n / R) * S + n % R) * P + i]
                                          : sample_token(l1 + n * V1, V1, p, rngs[n / R]);
    Tensor l2 = model_->s2_step(s1_next, out.last_context, *active);
    nonfinite(count_nonfinite(l2.data<float>(), N * V2), N * V2, predictor_name + "s2 logits", step_name, sampled);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t s2 = forced ? forced->s2[((n / R) * S + n % R) * P + i]
                                : sample_token(l2.data<float>() + n * V2, V2, p, rngs[n / R]);
      seq1[n * T + cur] = s1_next.data<int64_t>()[n];
      seq2[n * T + cur] = s2;
    }
    if (trace) {
      trace->window_start.push_back(start);
      trace->window_len.push_back(W);
      trace->step_mode.push_back(mode);
      for (int64_t n = 0; n < N; ++n) {
        trace->step_s1[n * P + i] = seq1[n * T + cur];
        trace->step_s2[n * P + i] = seq2[n * T + cur];
        std::copy(l1 + n * V1, l1 + (n + 1) * V1, trace->step_s1_logits.begin() + (n * P + i) * V1);
        std::copy(l2.data<float>() + n * V2, l2.data<float>() + (n + 1) * V2,
                  trace->step_s2_logits.begin() + (n * P + i) * V2);
      }
    }
    if (p.progress) p.progress(i + 1, P);
  }

  // 3. Decode the last min(T, max_context) tokens (may include context tokens).
  const int64_t Wf = std::min(T, M);
  window(N, 1, T - Wf, Wf, s1_in, s2_in, st_in);
  Tensor dec = tok_->decode(s1_in, s2_in, tok_bucketed ? tok_->padded_length(Wf, M) : 0);  // [N, Wf, 6]
  const float* dp = dec.data<float>();
  int64_t decoded_bad = 0;
  for (int64_t n = 0; n < N; ++n) decoded_bad += count_nonfinite(dp + (n * Wf + Wf - P) * kFeatures, P * kFeatures);
  nonfinite(decoded_bad, N * P * kFeatures, tokenizer_name + "decoder output",
            cat(" in the ", P, " forecast rows of ", N, " path(s)"));

  // 4. Average the S paths after decoding (sequential fp32 sum, then / S), keep the last P
  //    rows, de-normalise with separate fp32 roundings.
  std::vector<KronosForecast> result(B);
  std::vector<float> preds(static_cast<size_t>(B * P * kFeatures));
  for (int64_t b = 0; b < B; ++b) {
    KronosForecast& f = result[b];
    f.timestamps = series[b].y_timestamps;
    f.values.resize(P * kFeatures);
    for (int64_t t = 0; t < P; ++t)
      for (int c = 0; c < kFeatures; ++c) {
        float acc = 0.0f;
        for (int64_t s = 0; s < S; ++s) acc += dp[((b * R + (R == 1 ? 0 : s)) * Wf + (Wf - P + t)) * kFeatures + c];
        const float mean = acc / static_cast<float>(S);
        preds[(b * P + t) * kFeatures + c] = mean;
        const float scale = series[b].std[c] + 1e-5f;
        const float scaled = mean * scale;
        f.values[t * kFeatures + c] = scaled + series[b].mean[c];
      }
  }
  for (int64_t b = 0; b < B; ++b) {
    KronosForecast& f = result[b];
    f.nonfinite_values = count_nonfinite(f.values.data(), P * kFeatures);
    // With a finite decoder output, only the de-normalisation (x * std + mean) can overflow.
    if (decoded_bad == 0)
      nonfinite(f.nonfinite_values, P * kFeatures, "the de-normalised forecast",
                cat(B > 1 ? cat(" of series ", b) : "", " (the context's mean or std is near the float32 limit)"));
  }
  for (KronosForecast& f : result) f.nonfinite_detail = nonfinite_detail;
  if (trace) {
    trace->final_window = Wf;
    trace->final_s1.assign(s1_in.data<int64_t>(), s1_in.data<int64_t>() + N * Wf);
    trace->final_s2.assign(s2_in.data<int64_t>(), s2_in.data<int64_t>() + N * Wf);
    trace->final_decoded.assign(dp, dp + N * Wf * kFeatures);
    trace->preds_norm = preds;
  }
  return result;
}

}  // namespace fcast::kronos

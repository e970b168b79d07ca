#include "models/kronos/sampling.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "core/error.h"

namespace fcast::kronos {

void SamplingParams::validate() const {
  FCAST_CHECK(std::isfinite(temperature) && temperature > 0, "temperature must be a finite number > 0, got ",
              temperature, " (the reference divides the logits by it; use top_k = 1 for greedy decoding)");
  FCAST_CHECK(top_k >= 0, "top_k must be >= 0 (0 disables top-k), got ", top_k);
  FCAST_CHECK(std::isfinite(top_p) && top_p > 0 && top_p <= 1, "top_p must lie in (0, 1] (1 disables top-p), got ",
              top_p);
  FCAST_CHECK(sample_count >= 1, "sample_count must be >= 1, got ", sample_count);
}

std::string SamplingParams::describe() const {
  if (greedy()) return cat("greedy (top_k=1), sample_count=", sample_count);
  return cat("T=", temperature, " top_k=", top_k, " top_p=", top_p, top_k > 0 && top_p < 1 ? " (top_p ignored: top_k > 0)" : "",
             " sample_count=", sample_count, " seed=", seed);
}

namespace {
// Softmax of fp32 values (−inf allowed), accumulated in double, rounded to fp32.
void softmax_f32(const float* x, int64_t V, float* y) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < V; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  std::vector<double> e(static_cast<size_t>(V));
  for (int64_t i = 0; i < V; ++i) {
    e[i] = x[i] == -INFINITY ? 0.0 : std::exp(static_cast<double>(x[i]) - static_cast<double>(mx));
    sum += e[i];
  }
  for (int64_t i = 0; i < V; ++i) y[i] = static_cast<float>(e[i] / sum);
}
}  // namespace

void filtered_probs(const float* logits, int64_t V, const SamplingParams& p, float* probs) {
  std::vector<float> l(static_cast<size_t>(V));
  const float t = static_cast<float>(p.temperature);
  for (int64_t i = 0; i < V; ++i) l[i] = logits[i] / t;
  if (p.top_k > 0) {
    // Top-k wins over top-p (reference precedence). Everything below the k-th largest goes;
    // ties at the threshold all survive.
    const int64_t k = std::min(std::max<int64_t>(p.top_k, 1), V);
    std::vector<float> sorted(l);
    std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
    const float thr = sorted[k - 1];
    for (auto& x : l)
      if (x < thr) x = -INFINITY;
  } else if (p.top_p < 1.0) {
    // Nucleus: sort descending, cumulative softmax; rank n >= 1 goes iff c[n-1] > top_p.
    std::vector<int64_t> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l[a] > l[b]; });
    std::vector<float> sorted(static_cast<size_t>(V)), sp(static_cast<size_t>(V));
    for (int64_t i = 0; i < V; ++i) sorted[i] = l[order[i]];
    softmax_f32(sorted.data(), V, sp.data());
    double cum = 0;  // torch.cumsum accumulates in double on the CPU and rounds each entry to fp32
    std::vector<bool> remove(static_cast<size_t>(V), false);
    float prev = 0;
    for (int64_t n = 0; n < V; ++n) {
      if (n >= 1 && prev > static_cast<float>(p.top_p)) remove[n] = true;
      cum += sp[n];
      prev = static_cast<float>(cum);
    }
    for (int64_t n = 0; n < V; ++n)
      if (remove[n]) l[order[n]] = -INFINITY;
  }
  softmax_f32(l.data(), V, probs);
}

int64_t draw_categorical(const float* probs, int64_t V, Rng& rng) {
  double total = 0;
  int64_t last = -1;
  for (int64_t i = 0; i < V; ++i)
    if (probs[i] > 0) {
      total += probs[i];
      last = i;
    }
  FCAST_CHECK(last >= 0, "sampling: every token has probability 0 (non-finite logits?)");
  const double u = rng.uniform() * total;
  double cum = 0;
  for (int64_t i = 0; i < V; ++i) {
    if (probs[i] <= 0) continue;
    cum += probs[i];
    if (u < cum) return i;
  }
  return last;
}

int64_t argmax(const float* logits, int64_t V) {
  int64_t best = 0;
  for (int64_t i = 1; i < V; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

int64_t sample_token(const float* logits, int64_t V, const SamplingParams& p, Rng& rng) {
  if (p.greedy()) return argmax(logits, V);
  std::vector<float> probs(static_cast<size_t>(V));
  filtered_probs(logits, V, p, probs.data());
  return draw_categorical(probs.data(), V, rng);
}

// ---- chi-square ----

namespace {
// Regularised lower incomplete gamma P(a, x) by its series (x < a + 1).
double gamma_p_series(double a, double x) {
  double term = 1.0 / a, sum = term;
  for (int n = 1; n < 10000; ++n) {
    term *= x / (a + n);
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * 1e-15) break;
  }
  return sum * std::exp(-x + a * std::log(x) - std::lgamma(a));
}
// Regularised upper incomplete gamma Q(a, x) by its continued fraction (x >= a + 1), Lentz.
double gamma_q_fraction(double a, double x) {
  const double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < 1e-15) break;
  }
  return std::exp(-x + a * std::log(x) - std::lgamma(a)) * h;
}
}  // namespace

double chi_square_sf(double x, double k) {
  if (x <= 0) return 1.0;
  const double a = k / 2, y = x / 2;
  return y < a + 1 ? 1.0 - gamma_p_series(a, y) : gamma_q_fraction(a, y);
}

ChiSquareResult chi_square_test(const std::vector<int64_t>& counts, const std::vector<double>& probs,
                                double min_expected) {
  FCAST_CHECK(counts.size() == probs.size(), "chi_square_test: ", counts.size(), " counts vs ", probs.size(), " probabilities");
  ChiSquareResult r;
  int64_t n = 0;
  double psum = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    n += counts[i];
    psum += probs[i];
  }
  if (n == 0) return r;
  double pooled_obs = 0, pooled_exp = 0;
  int64_t bins = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = static_cast<double>(n) * probs[i] / psum;
    if (probs[i] <= 0) {
      r.impossible_draws += counts[i];
      continue;
    }
    if (e < min_expected) {
      pooled_obs += static_cast<double>(counts[i]);
      pooled_exp += e;
      continue;
    }
    r.statistic += (counts[i] - e) * (counts[i] - e) / e;
    ++bins;
  }
  if (pooled_exp > 0) {
    r.statistic += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
    ++bins;
  }
  r.dof = std::max<int64_t>(bins - 1, 0);
  if (r.impossible_draws > 0) {
    r.p_value = 0;
  } else {
    r.p_value = r.dof > 0 ? chi_square_sf(r.statistic, static_cast<double>(r.dof)) : 1.0;
  }
  return r;
}

}  // namespace fcast::kronos

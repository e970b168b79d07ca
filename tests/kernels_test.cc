// Every reference kernel (ops/reference/kernels.h) against a naive float64 version written
// here from the reference's definitions, on random inputs of awkward shapes.
//
// Tolerances are relative to the magnitude of the terms that make up each output (for a dot
// product sum |a_i b_i|, for a rotation |t_j| + |t_j'|, ...), so one bound works for tiny and
// huge values alike. Each bound is stated beside the test; a failure prints the exact shape.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "ops/reference/kernels.h"

namespace {

using fcast::cat;
using fcast::Rng;
namespace ref = fcast::ref;

constexpr double kEps = FLT_EPSILON;  // 2^-23
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::vector<float> randn(Rng& rng, size_t n, double sd = 1.0, double mean = 0.0) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(mean + sd * rng.normal());
  return v;
}

// |got - want| <= tol * mag for every element (mag is the magnitude of the terms of `want`).
// Non-finite `want` values must be matched exactly in kind (NaN, +inf, -inf).
::testing::AssertionResult close_to(const float* got, const std::vector<double>& want, const std::vector<double>& mag,
                                    double tol, const std::string& where) {
  size_t bad = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w)) ok = std::isnan(g);
    else if (std::isinf(w)) ok = g == w;
    else ok = std::isfinite(g) && std::fabs(g - w) <= tol * mag[i];
    if (!ok && bad++ == 0) first = i;
    if (std::isfinite(w) && mag[i] > 0) worst = std::max(worst, std::fabs(g - w) / mag[i]);
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << where << ": " << bad << " of " << want.size()
                                       << " elements out of tolerance; first at flat index " << first << ": got "
                                       << got[first] << ", want " << want[first] << ", magnitude " << mag[first]
                                       << ", tol " << tol << " (worst error/magnitude " << worst << ")";
}

// Tolerance relative to |want| with an absolute floor.
::testing::AssertionResult close_rel(const float* got, const std::vector<double>& want, double rtol, double floor,
                                     const std::string& where) {
  std::vector<double> mag(want.size());
  for (size_t i = 0; i < want.size(); ++i) mag[i] = std::fabs(want[i]) + floor / rtol;
  return close_to(got, want, mag, rtol, where);
}

::testing::AssertionResult bit_equal(const std::vector<float>& a, const std::vector<float>& b,
                                     const std::string& where) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << where << ": sizes differ";
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0)
      return ::testing::AssertionFailure() << where << ": differs at flat index " << i << ": " << a[i] << " vs "
                                           << b[i];
  return ::testing::AssertionSuccess();
}

// Runs f with `threads` OpenMP threads and restores the previous setting.
template <class F>
void with_threads(int threads, F&& f) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  f();
  omp_set_num_threads(before);
}

// ---------------------------------------------------------------------------------------
// dot / linear

TEST(Kernels, DotMatchesFloat64) {
  Rng rng(1);
  for (int64_t n : {0, 1, 5, 7, 8, 9, 16, 33, 127, 1000}) {
    const auto a = randn(rng, n), b = randn(rng, n);
    double want = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      want += static_cast<double>(a[i]) * b[i];
      mag += std::fabs(static_cast<double>(a[i]) * b[i]);
    }
    const float got = ref::dot(a.data(), b.data(), n);
    // 8 partial sums of n/8 terms each, then a 3-level tree: (n/8 + 4) roundings at most.
    const double tol = (n / 8.0 + 4) * kEps;
    EXPECT_TRUE(close_to(&got, {want}, {mag + 1e-30}, tol, cat("dot n=", n)));
  }
}

TEST(Kernels, LinearMatchesFloat64) {
  Rng rng(2);
  for (int64_t M : {1, 3, 17})
    for (int64_t K : {1, 5, 33, 127})
      for (int64_t N : {1, 7, 65})
        for (bool bias : {false, true})
          for (int64_t pad : {0, 3}) {
            const int64_t xs = K + pad;
            // Padding columns hold NaN: reading them would poison the output.
            std::vector<float> x(M * xs, kNaN);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t k = 0; k < K; ++k) x[m * xs + k] = static_cast<float>(rng.normal());
            const auto w = randn(rng, N * K), b = randn(rng, N);
            std::vector<float> y(M * N, kNaN);
            ref::linear(x.data(), xs, w.data(), bias ? b.data() : nullptr, y.data(), M, K, N);
            std::vector<double> want(M * N), mag(M * N);
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n) {
                double s = bias ? b[n] : 0.0, a = bias ? std::fabs(b[n]) : 0.0;
                for (int64_t k = 0; k < K; ++k) {
                  s += static_cast<double>(x[m * xs + k]) * w[n * K + k];
                  a += std::fabs(static_cast<double>(x[m * xs + k]) * w[n * K + k]);
                }
                want[m * N + n] = s;
                mag[m * N + n] = a;
              }
            // The dot bound plus one rounding for the bias.
            const double tol = (K / 8.0 + 5) * kEps;
            EXPECT_TRUE(close_to(y.data(), want, mag, tol,
                                 cat("linear M=", M, " K=", K, " N=", N, " bias=", bias, " x_stride=", xs)));
          }
}

// ---------------------------------------------------------------------------------------
// elementwise

TEST(Kernels, RmsnormMatchesFloat64) {
  Rng rng(3);
  for (int64_t M : {1, 3, 17})
    for (int64_t D : {1, 5, 33, 127, 768, 4001}) {
      auto x = randn(rng, M * D, 3.0, 0.5);
      if (M > 1)
        for (int64_t d = 0; d < D; ++d) x[D + d] = 0.0f;  // an all-zero row: eps keeps it finite (0)
      const auto w = randn(rng, D, 0.1, 1.0);
      const float eps = 1e-8f;
      std::vector<float> y(M * D, kNaN);
      ref::rmsnorm(x.data(), w.data(), y.data(), M, D, eps);
      std::vector<double> want(M * D);
      for (int64_t m = 0; m < M; ++m) {
        double ss = 0;
        for (int64_t d = 0; d < D; ++d) ss += static_cast<double>(x[m * D + d]) * x[m * D + d];
        const double inv = 1.0 / std::sqrt(ss / D + eps);
        for (int64_t d = 0; d < D; ++d) want[m * D + d] = x[m * D + d] * inv * w[d];
      }
      // float32 (x * inv) * w after a float64 statistic: a few roundings of the result.
      EXPECT_TRUE(close_rel(y.data(), want, 4 * kEps, 1e-30, cat("rmsnorm M=", M, " D=", D)));
    }
}

TEST(Kernels, SoftmaxMatchesFloat64) {
  Rng rng(4);
  for (int64_t M : {1, 3, 17})
    for (int64_t D : {1, 2, 5, 33, 127}) {
      auto x = randn(rng, M * D, 4.0);
      // Row 1 (when present): -inf entries (masked logits) but at least one finite entry.
      const bool masked_row = M > 1 && D > 1;
      if (masked_row) {
        for (int64_t d = 0; d < D; d += 2) x[D + d] = -kInf;
        x[D + 1] = 1.0f;
      }
      // Row 2: all large values; without subtracting the maximum exp() would overflow.
      if (M > 2)
        for (int64_t d = 0; d < D; ++d) x[2 * D + d] = 1000.0f + static_cast<float>(d % 3);
      std::vector<float> y(M * D, kNaN);
      ref::softmax(x.data(), y.data(), M, D);
      std::vector<double> want(M * D), mag(M * D);
      for (int64_t m = 0; m < M; ++m) {
        double mx = -INFINITY, s = 0;
        for (int64_t d = 0; d < D; ++d) mx = std::max(mx, static_cast<double>(x[m * D + d]));
        for (int64_t d = 0; d < D; ++d) s += std::exp(x[m * D + d] - mx);
        for (int64_t d = 0; d < D; ++d) {
          const double arg = x[m * D + d] - mx;
          want[m * D + d] = std::exp(arg) / s;
          // float32 x - max rounds by |x - max| * eps/2, which exp turns into a relative error of
          // that size; plus the exp, the float64 sum and one scaling.
          mag[m * D + d] = want[m * D + d] * (std::isinf(arg) ? 1.0 : std::fabs(arg) + 4) + 1e-37;
        }
      }
      EXPECT_TRUE(close_to(y.data(), want, mag, kEps, cat("softmax M=", M, " D=", D)));
      for (int64_t d = 0; masked_row && d < D; d += 2) EXPECT_EQ(y[D + d], 0.0f) << "softmax: -inf logit, D=" << D;
    }
}

std::vector<float> activation_inputs(Rng& rng) {
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 19.99f, 20.0f, std::nextafter(20.0f, 100.0f), 21.0f,
                          -20.0f, 30.0f, 88.0f, 100.0f, 1e6f, -30.0f, -88.0f, -100.0f, -1e6f, 1e-20f, -1e-20f};
  for (int i = 0; i < 200; ++i) v.push_back(static_cast<float>(8 * rng.normal()));
  return v;
}

double silu64(double x) { return x / (1.0 + std::exp(-x)); }
double softplus64(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

TEST(Kernels, SiluMatchesFloat64) {
  Rng rng(5);
  const auto x = activation_inputs(rng);
  std::vector<float> y(x.size(), kNaN);
  ref::silu(x.data(), y.data(), static_cast<int64_t>(x.size()));
  std::vector<double> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = silu64(x[i]);
  // float32 exp, add, divide; tiny outputs (silu(-100) ~ 4e-42) are compared absolutely.
  EXPECT_TRUE(close_rel(y.data(), want, 4 * kEps, 1e-37, "silu (array)"));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(ref::silu(x[i]), y[i]) << "scalar vs array silu at x=" << x[i];
}

TEST(Kernels, SoftplusMatchesPyTorchThreshold) {
  Rng rng(6);
  const auto x = activation_inputs(rng);
  std::vector<float> y(x.size(), kNaN);
  ref::softplus(x.data(), y.data(), static_cast<int64_t>(x.size()));
  std::vector<double> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = softplus64(x[i]);
  // log1p(exp(x)) in float32: a few roundings; softplus(-100) ~ 3.7e-44 is subnormal in float32.
  EXPECT_TRUE(close_rel(y.data(), want, 4 * kEps, 1e-42, "softplus (array)"));
  // PyTorch's threshold: x itself strictly above 20, log1p(exp(x)) at 20 exactly.
  EXPECT_EQ(ref::softplus(20.0f), static_cast<float>(std::log1p(std::exp(20.0))));
  const float above = std::nextafter(20.0f, 100.0f);
  EXPECT_EQ(ref::softplus(above), above);
  EXPECT_EQ(ref::softplus(1e30f), 1e30f);  // no overflow through exp
  EXPECT_EQ(ref::softplus(-1e30f), 0.0f);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(ref::softplus(x[i]), y[i]) << "scalar vs array at x=" << x[i];
}

TEST(Kernels, SwigluMatchesFloat64) {
  Rng rng(7);
  for (int64_t M : {1, 3, 17})
    for (int64_t F : {1, 5, 33, 4001}) {
      const auto g = randn(rng, M * 2 * F, 3.0);
      std::vector<float> y(M * F, kNaN);
      ref::swiglu(g.data(), y.data(), M, F);
      std::vector<double> want(M * F);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t f = 0; f < F; ++f) want[m * F + f] = silu64(g[m * 2 * F + f]) * g[m * 2 * F + F + f];
      EXPECT_TRUE(close_rel(y.data(), want, 6 * kEps, 1e-37, cat("swiglu M=", M, " F=", F)));
    }
}

TEST(Kernels, SiluMulMatchesFloat64) {
  Rng rng(8);
  for (int64_t n : {1, 7, 65, 1000}) {
    const auto a = randn(rng, n, 5.0), b = randn(rng, n, 2.0);
    std::vector<float> y(n, kNaN);
    ref::silu_mul(a.data(), b.data(), y.data(), n);
    std::vector<double> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = silu64(a[i]) * b[i];
    EXPECT_TRUE(close_rel(y.data(), want, 6 * kEps, 1e-37, cat("silu_mul n=", n)));
  }
}

TEST(Kernels, ClampMinIsExactAndPropagatesNaN) {
  const std::vector<float> x = {-3.0f, 0.1f, 0.2f, std::nextafter(0.1f, 0.0f), -kInf, kInf, kNaN, -0.0f, 1e30f};
  std::vector<float> y(x.size());
  ref::clamp_min(x.data(), 0.1f, y.data(), static_cast<int64_t>(x.size()));
  const std::vector<float> want = {0.1f, 0.1f, 0.2f, 0.1f, 0.1f, kInf, kNaN, 0.1f, 1e30f};
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(want[i])) EXPECT_TRUE(std::isnan(y[i])) << "clamp_min(NaN) must stay NaN (torch.clamp_min)";
    else EXPECT_EQ(y[i], want[i]) << "clamp_min at x=" << x[i];
  }
}

TEST(Kernels, AddMulScaleAddScalarAreExact) {
  Rng rng(9);
  const int64_t n = 37;
  const auto a = randn(rng, n), b = randn(rng, n);
  std::vector<float> y(n);
  ref::add(a.data(), b.data(), y.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], a[i] + b[i]);
  ref::mul(a.data(), b.data(), y.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], a[i] * b[i]);
  ref::scale(a.data(), 0.3f, y.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], a[i] * 0.3f);
  ref::add_scalar(a.data(), -1.5f, y.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], a[i] + -1.5f);
}

// ---------------------------------------------------------------------------------------
// rotary

// The reference's rotary in float64: interleaved RoPE (angle uses frequency j div 2), half-split
// xPos (base index j mod Dh/2), power (pos - centre) / 512, keys use the reciprocal.
void rotary_xpos64(const std::vector<float>& x, int64_t xs, int64_t N, int64_t S, int64_t H, int64_t Dh, int64_t pos0,
                   int64_t centre, bool is_key, std::vector<double>& want, std::vector<double>& mag) {
  const int64_t D = H * Dh;
  want.assign(N * S * D, 0);
  mag.assign(N * S * D, 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < S; ++s) {
      const double pos = static_cast<double>(pos0 + s);
      const double power = static_cast<double>(pos0 + s - centre) / 512.0;
      for (int64_t h = 0; h < H; ++h) {
        const float* t = x.data() + (n * S + s) * xs + h * Dh;
        for (int64_t j = 0; j < Dh; ++j) {
          const double inv_freq = 1.0 / std::pow(10000.0, static_cast<double>(2 * (j / 2)) / Dh);
          const double angle = pos * inv_freq;
          const double rot = (j % 2 == 0) ? -static_cast<double>(t[j + 1]) : static_cast<double>(t[j - 1]);
          const double base = (2.0 * static_cast<double>(j % (Dh / 2)) + 0.4 * Dh) / (1.4 * Dh);
          const double sq = std::pow(base, power);
          const double sc = is_key ? 1.0 / sq : sq;
          const int64_t o = (n * S + s) * D + h * Dh + j;
          want[o] = t[j] * std::cos(angle) * sc + rot * std::sin(angle) * sc;
          mag[o] = (std::fabs(t[j]) + std::fabs(rot)) * sc + 1e-30;
        }
      }
    }
}

TEST(Kernels, RotaryXposMatchesSpecFloat64) {
  Rng rng(10);
  for (int64_t N : {1, 3})
    for (int64_t S : {1, 2, 9})
      for (int64_t H : {1, 3})
        for (int64_t Dh : {2, 6, 10, 64})
          for (int64_t pos0 : {0, 1, 7, 40})
            for (bool is_key : {false, true}) {
              const int64_t D = H * Dh, xs = 3 * D + 1;  // rows of a packed qkv buffer, odd stride
              std::vector<float> x(N * S * xs, kNaN);
              for (int64_t r = 0; r < N * S; ++r)
                for (int64_t d = 0; d < D; ++d) x[r * xs + d] = static_cast<float>(rng.normal());
              for (int64_t centre : {(pos0 + S - 1) / 2, int64_t{0}, int64_t{300}}) {
                std::vector<float> y(N * S * D, kNaN);
                ref::rotary_xpos(x.data(), xs, y.data(), N, S, H, Dh, pos0, centre, is_key);
                std::vector<double> want, mag;
                rotary_xpos64(x, xs, N, S, H, Dh, pos0, centre, is_key, want, mag);
                // The engine computes angles in float32 (as the reference does): the angle's error
                // grows with the position, about pos * eps; plus a few roundings.
                const double tol = (static_cast<double>(pos0 + S) + 8) * kEps;
                EXPECT_TRUE(close_to(y.data(), want, mag, tol,
                                     cat("rotary_xpos N=", N, " S=", S, " H=", H, " Dh=", Dh, " pos0=", pos0,
                                         " centre=", centre, " is_key=", is_key, " x_stride=", xs)));
              }
            }
}

TEST(Kernels, RotaryXposKeysUseReciprocalScale) {
  // At angle 0 (pos 0) the rotation is the identity, so q' = x * sq and k' = x / sq exactly
  // up to rounding: their product is x^2.
  Rng rng(11);
  const int64_t S = 1, H = 2, Dh = 6, D = H * Dh;
  const auto x = randn(rng, D);
  std::vector<float> q(D), k(D);
  ref::rotary_xpos(x.data(), D, q.data(), 1, S, H, Dh, 0, 600, false);
  ref::rotary_xpos(x.data(), D, k.data(), 1, S, H, Dh, 0, 600, true);
  for (int64_t d = 0; d < D; ++d) {
    EXPECT_NEAR(static_cast<double>(q[d]) * k[d], static_cast<double>(x[d]) * x[d], 4 * kEps * x[d] * x[d]);
    EXPECT_NE(q[d], x[d]) << "xPos scale should not be 1 away from the centre";
  }
}

TEST(Kernels, RotaryNeoxMatchesSpecFloat64) {
  Rng rng(12);
  for (int64_t N : {1, 3})
    for (int64_t S : {1, 2, 9})
      for (int64_t H : {1, 3})
        for (int64_t Dh : {2, 6, 10, 64})
          for (int64_t pos0 : {0, 5, 40}) {
            const int64_t D = H * Dh, half = Dh / 2, xs = D + 3;
            std::vector<float> x(N * S * xs, kNaN);
            for (int64_t r = 0; r < N * S; ++r)
              for (int64_t d = 0; d < D; ++d) x[r * xs + d] = static_cast<float>(rng.normal());
            std::vector<float> inv_freq(half);
            for (int64_t m = 0; m < half; ++m)  // as the reference computes it
              inv_freq[m] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * m) / static_cast<float>(Dh));
            std::vector<float> y(N * S * D, kNaN);
            ref::rotary_neox(x.data(), xs, y.data(), N, S, H, Dh, pos0, inv_freq.data());
            std::vector<double> want(N * S * D), mag(N * S * D);
            for (int64_t r = 0; r < N * S; ++r)
              for (int64_t h = 0; h < H; ++h) {
                const float* a = x.data() + r * xs + h * Dh;
                const float* b = a + half;
                for (int64_t m = 0; m < half; ++m) {
                  const double angle = static_cast<double>(pos0 + r % S) * inv_freq[m];
                  const int64_t o = r * D + h * Dh;
                  want[o + m] = a[m] * std::cos(angle) - b[m] * std::sin(angle);
                  want[o + half + m] = b[m] * std::cos(angle) + a[m] * std::sin(angle);
                  mag[o + m] = mag[o + half + m] = std::fabs(a[m]) + std::fabs(b[m]) + 1e-30;
                }
              }
            const double tol = (static_cast<double>(pos0 + S) + 8) * kEps;
            EXPECT_TRUE(close_to(y.data(), want, mag, tol,
                                 cat("rotary_neox N=", N, " S=", S, " H=", H, " Dh=", Dh, " pos0=", pos0,
                                     " x_stride=", xs)));
          }
}

TEST(Kernels, GatherRowsCopiesExactly) {
  Rng rng(13);
  for (int64_t N : {1, 3})
    for (int64_t S : {1, 2, 9})
      for (int64_t D : {1, 5, 33}) {
        const int64_t offset = 2, xstride = D + 7, nstride = S * xstride + 5;
        const auto x = randn(rng, N * nstride);
        std::vector<float> y(N * S * D, kNaN);
        ref::gather_rows(x.data(), nstride, xstride, offset, y.data(), N, S, D);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t s = 0; s < S; ++s)
            for (int64_t d = 0; d < D; ++d)
              ASSERT_EQ(y[(n * S + s) * D + d], x[n * nstride + s * xstride + offset + d])
                  << "gather_rows N=" << N << " S=" << S << " D=" << D << " at n=" << n << " s=" << s << " d=" << d;
      }
}

// ---------------------------------------------------------------------------------------
// attention

struct AttnCase {
  int64_t N, Sq, H, Dh, cap, kv_len;
  bool causal;
  int64_t q_pos0;
  bool grouped;
};

std::string attn_str(const AttnCase& c) {
  return cat("attention N=", c.N, " Sq=", c.Sq, " H=", c.H, " Dh=", c.Dh, " capacity=", c.cap, " kv_len=", c.kv_len,
             " causal=", c.causal, " q_pos0=", c.q_pos0, " grouped=", c.grouped);
}

void check_attention(const AttnCase& c, Rng& rng, const std::vector<int32_t>& qg, const std::vector<int32_t>& kg) {
  const int64_t D = c.H * c.Dh;
  // q rows live in a packed buffer (odd stride); k/v are caches of `cap` rows of which only
  // kv_len are valid: the rest is NaN and must never be read.
  const int64_t q_ts = 3 * D + 1, q_ns = c.Sq * q_ts + 2;
  const int64_t k_ts = D + 2, k_ns = c.cap * k_ts;
  std::vector<float> q(c.N * q_ns, kNaN), k(c.N * k_ns, kNaN), v(c.N * k_ns, kNaN);
  for (int64_t n = 0; n < c.N; ++n) {
    for (int64_t i = 0; i < c.Sq; ++i)
      for (int64_t d = 0; d < D; ++d) q[n * q_ns + i * q_ts + d] = static_cast<float>(1.5 * rng.normal());
    for (int64_t j = 0; j < c.kv_len; ++j)
      for (int64_t d = 0; d < D; ++d) {
        k[n * k_ns + j * k_ts + d] = static_cast<float>(1.5 * rng.normal());
        v[n * k_ns + j * k_ts + d] = static_cast<float>(rng.normal());
      }
  }
  ref::AttentionArgs a;
  a.N = c.N;
  a.Sq = c.Sq;
  a.H = c.H;
  a.Dh = c.Dh;
  a.q = q.data();
  a.q_nstride = q_ns;
  a.q_tstride = q_ts;
  a.k = k.data();
  a.k_nstride = k_ns;
  a.k_tstride = k_ts;
  a.v = v.data();
  a.v_nstride = k_ns;
  a.v_tstride = k_ts;
  a.kv_len = c.kv_len;
  a.causal = c.causal;
  a.q_pos0 = c.q_pos0;
  if (c.grouped) {
    a.q_group = qg.data();
    a.k_group = kg.data();
  }
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.Dh));
  std::vector<float> out(c.N * c.Sq * D, kNaN);
  a.out = out.data();
  ref::attention(a);

  std::vector<double> want(out.size(), 0.0), mag(out.size(), 1e-30);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Sq; ++i) {
        std::vector<double> logit;
        std::vector<int64_t> keys;
        for (int64_t j = 0; j < c.kv_len; ++j) {
          if (c.causal && j > c.q_pos0 + i) continue;
          if (c.grouped && qg[n * c.Sq + i] != kg[n * c.kv_len + j]) continue;
          double s = 0;
          for (int64_t d = 0; d < c.Dh; ++d)
            s += static_cast<double>(q[n * q_ns + i * q_ts + h * c.Dh + d]) * k[n * k_ns + j * k_ts + h * c.Dh + d];
          logit.push_back(s * static_cast<double>(a.scale));
          keys.push_back(j);
        }
        const int64_t o = (n * c.Sq + i) * D + h * c.Dh;
        if (keys.empty()) continue;  // no visible key: zeros
        double mx = -INFINITY, sum = 0;
        for (double l : logit) mx = std::max(mx, l);
        for (double& l : logit) sum += (l = std::exp(l - mx));
        for (size_t t = 0; t < keys.size(); ++t)
          for (int64_t d = 0; d < c.Dh; ++d) {
            const double vv = v[n * k_ns + keys[t] * k_ts + h * c.Dh + d];
            want[o + d] += logit[t] / sum * vv;
            mag[o + d] = std::max(mag[o + d], std::fabs(vv));
          }
      }
  // Relative to the largest visible value in the column: float32 logits (a Dh-term dot) and a
  // float32 softmax / weighted sum over kv_len terms.
  const double tol = (static_cast<double>(c.Dh) / 8 + static_cast<double>(c.kv_len) + 16) * kEps;
  EXPECT_TRUE(close_to(out.data(), want, mag, tol, attn_str(c)));
}

TEST(Kernels, AttentionMatchesFloat64) {
  Rng rng(14);
  int cases = 0;
  for (int64_t N : {1, 2})
    for (int64_t H : {1, 3})
      for (int64_t Dh : {1, 3, 5, 8, 17})
        for (int64_t Sq : {1, 2, 9}) {
          // Full attention over exactly Sq keys, and causal prefill.
          for (bool causal : {false, true}) {
            check_attention({N, Sq, H, Dh, Sq, Sq, causal, 0, false}, rng, {}, {});
            ++cases;
          }
          // Cached: kv_len < capacity, the queries are the last Sq of kv_len positions (q_pos0 > 0).
          for (int64_t past : {1, 4}) {
            const int64_t kv = past + Sq, cap = kv + 5;
            check_attention({N, Sq, H, Dh, cap, kv, true, past, false}, rng, {}, {});
            // Non-causal over a partly filled cache, and causal with q_pos0 beyond kv_len's reach
            // (the limit q_pos0 + i + 1 is clamped to kv_len).
            check_attention({N, Sq, H, Dh, cap, kv, false, past, false}, rng, {}, {});
            check_attention({N, Sq, H, Dh, cap, kv, true, past + 3, false}, rng, {}, {});
            cases += 3;
          }
        }
  EXPECT_GT(cases, 100);
}

TEST(Kernels, AttentionGroupedMatchesFloat64) {
  Rng rng(15);
  for (int64_t H : {1, 3})
    for (int64_t Dh : {1, 5, 16})
      for (int64_t S : {1, 2, 9}) {
        const int64_t N = 3;
        // Row 0: several groups incl. a token alone in its group; row 1: all one group;
        // row 2: every token alone.
        std::vector<int32_t> g(N * S);
        for (int64_t s = 0; s < S; ++s) {
          g[0 * S + s] = s == S - 1 ? 7 : static_cast<int32_t>(s % 3);
          g[1 * S + s] = 0;
          g[2 * S + s] = static_cast<int32_t>(100 + s);
        }
        for (bool causal : {false, true}) check_attention({N, S, H, Dh, S, S, causal, 0, true}, rng, g, g);
        // A query whose group no key has: no visible key, the output is zeros.
        std::vector<int32_t> qg = g;
        qg[0] = 99;
        check_attention({N, S, H, Dh, S, S, false, 0, true}, rng, qg, g);
      }
}

TEST(Kernels, AttentionWithNoKeysGivesZeros) {
  Rng rng(16);
  check_attention({2, 1, 2, 4, 3, 0, false, 0, false}, rng, {}, {});
  check_attention({2, 3, 2, 4, 3, 0, true, 0, false}, rng, {}, {});
}

TEST(Kernels, AttentionSingleKeyReturnsItsValue) {
  // One visible key: the softmax weight is exactly 1, so the output is v bit for bit.
  Rng rng(17);
  const int64_t H = 2, Dh = 5, D = H * Dh;
  const auto q = randn(rng, D), k = randn(rng, 4 * D), v = randn(rng, 4 * D);
  std::vector<float> out(D, kNaN);
  ref::AttentionArgs a;
  a.N = 1; a.Sq = 1; a.H = H; a.Dh = Dh;
  a.q = q.data(); a.q_nstride = D; a.q_tstride = D;
  a.k = k.data(); a.k_nstride = 4 * D; a.k_tstride = D;
  a.v = v.data(); a.v_nstride = 4 * D; a.v_tstride = D;
  a.kv_len = 4; a.causal = true; a.q_pos0 = 0;
  a.scale = 0.5f;
  a.out = out.data();
  ref::attention(a);
  for (int64_t d = 0; d < D; ++d) EXPECT_EQ(out[d], v[d]) << "d=" << d;
}

// ---------------------------------------------------------------------------------------
// causal patch scaler (written out in float64)

struct ScalerOut {
  std::vector<double> loc, scale;  // float32-rounded statistics, as doubles
};

ScalerOut scaler64(const std::vector<float>& x, const std::vector<uint8_t>& mask, int64_t rows, int64_t T, int64_t P,
                   int64_t prefix_length, bool stabilize, double exponent) {
  ScalerOut r;
  r.loc.resize(rows * T);
  r.scale.resize(rows * T);
  const int64_t prefix = prefix_length < 0 ? T : std::min(prefix_length, T);
  for (int64_t b = 0; b < rows; ++b) {
    std::vector<double> mu(T), sigma(T);
    double n = 0, S = 0, M2 = 0, mu_prev = 0;
    for (int64_t t = 0; t < T; ++t) {
      const double w = mask[b * T + t] ? 1.0 : 0.0, xt = x[b * T + t];
      n += w;
      S += w * xt;
      const double Nt = std::max(n, 1.0);
      mu[t] = S / Nt;
      M2 += (xt - mu_prev) * (xt - mu[t]) * w;
      const double var = M2 / std::max(Nt - 1.0, 1.0);
      sigma[t] = std::sqrt(var + 0.1);
      mu_prev = mu[t];
    }
    if (stabilize) {
      double gsum = 0, gx = 0;
      for (int64_t t = 0; t < T; ++t) {
        const double gw = (mask[b * T + t] && t < prefix) ? 1.0 : 0.0;
        gsum += gw;
        gx += gw * x[b * T + t];
      }
      const double G = std::max(gsum, 1.0);
      double m = gx / G;
      if (std::isnan(m)) m = 0;
      double gv = 0;
      for (int64_t t = 0; t < T; ++t) {
        const double gw = (mask[b * T + t] && t < prefix) ? 1.0 : 0.0;
        const double e = gw * (x[b * T + t] - m);
        gv += e * e;
      }
      gv /= G;
      const double g = std::sqrt(gv + 0.1);
      const double lo = std::max(static_cast<double>(0.1f), g * std::pow(10.0, -exponent));
      const double hi = g * std::pow(10.0, exponent);
      for (auto& s : sigma) s = std::min(std::max(s, lo), hi);
    }
    for (int64_t t = 0; t < T; ++t) {
      const int64_t ts = (t / P) * P + P - 1;
      r.loc[b * T + t] = static_cast<float>(mu[ts]);
      r.scale[b * T + t] = static_cast<float>(sigma[ts]);
    }
  }
  return r;
}

struct ScalerCase {
  std::string name;
  int64_t rows, T, P, prefix;
  bool stabilize;
  double exponent;
  std::vector<float> x;
  std::vector<uint8_t> mask;
};

// Runs the kernel and the float64 spec; returns (loc, scale) of the kernel for extra checks.
void check_scaler(const ScalerCase& c, std::vector<float>* loc_out = nullptr, std::vector<float>* scale_out = nullptr) {
  const int64_t n = c.rows * c.T;
  std::vector<float> scaled(n, kNaN), loc(n, kNaN), scale(n, kNaN);
  ref::causal_patch_scaler(c.x.data(), c.mask.data(), c.rows, c.T, c.P, c.prefix, c.stabilize, c.exponent,
                           scaled.data(), loc.data(), scale.data());
  const ScalerOut want = scaler64(c.x, c.mask, c.rows, c.T, c.P, c.prefix, c.stabilize, c.exponent);
  const std::string where = cat("scaler ", c.name, ": rows=", c.rows, " T=", c.T, " P=", c.P,
                                " prefix_length=", c.prefix, " stabilize=", c.stabilize, " exponent=", c.exponent);
  // loc and scale: float64 statistics rounded once to float32 (half an ulp); allow one ulp
  // of the float32 result (the order of float64 operations may differ in the last bit).
  // loc is measured against the scale too, as a mean of cancelling terms can be ~0.
  std::vector<double> loc_mag(n), scale_mag(n), scaled_want(n), scaled_mag(n);
  for (int64_t i = 0; i < n; ++i) {
    loc_mag[i] = std::fabs(want.loc[i]) + want.scale[i];
    scale_mag[i] = want.scale[i];
    // scaled = (x - loc) / scale in float32 arithmetic on the float32 statistics.
    scaled_want[i] = (static_cast<double>(c.x[i]) - want.loc[i]) / want.scale[i];
    scaled_mag[i] = (std::fabs(c.x[i]) + std::fabs(want.loc[i])) / want.scale[i] + 1e-30;
  }
  EXPECT_TRUE(close_to(loc.data(), want.loc, loc_mag, kEps, where + " (loc)"));
  EXPECT_TRUE(close_to(scale.data(), want.scale, scale_mag, kEps, where + " (scale)"));
  // Two float32 roundings (the difference, the quotient) plus the statistics' ulp.
  EXPECT_TRUE(close_to(scaled.data(), scaled_want, scaled_mag, 3 * kEps, where + " (scaled)"));
  if (loc_out) *loc_out = loc;
  if (scale_out) *scale_out = scale;
}

TEST(Kernels, CausalPatchScalerMatchesSpecFloat64) {
  Rng rng(18);
  for (int64_t P : {1, 4, 5})
    for (int64_t patches : {1, 3})
      for (int64_t rows : {1, 3})
        for (int64_t prefix : {int64_t{-1}, int64_t{0}, int64_t{2}, P * patches, P * patches + 7})
          for (bool stabilize : {false, true}) {
            ScalerCase c{"random", rows, P * patches, P, prefix, stabilize, 10.0, {}, {}};
            c.x = randn(rng, rows * c.T, 3.0, 100.0);
            c.mask.resize(rows * c.T);
            for (int64_t i = 0; i < rows * c.T; ++i) c.mask[i] = rng.uniform() < 0.7 ? 1 : 0;
            // Row 0 is left-padded (zeros, masked) for its first 3 steps.
            for (int64_t t = 0; t < std::min<int64_t>(3, c.T); ++t) {
              c.x[t] = 0.0f;
              c.mask[t] = 0;
            }
            check_scaler(c);
          }
}

TEST(Kernels, CausalPatchScalerLargeOffsetAndMaskedSteps) {
  // A 1e6 offset: float64 statistics keep the small variance.
  Rng rng(19);
  const int64_t T = 32, P = 8;
  ScalerCase c{"offset 1e6", 2, T, P, -1, true, 10.0, {}, {}};
  c.x = randn(rng, 2 * T, 1.0, 1e6);
  c.mask.assign(2 * T, 1);
  for (int64_t t = 0; t < T; t += 3) c.mask[T + t] = 0;  // masked steps still get loc/scale
  std::vector<float> loc, scale;
  check_scaler(c, &loc, &scale);
  // Masked steps do not move the statistics: a masked step's value can be anything.
  ScalerCase d = c;
  for (int64_t t = 0; t < T; t += 3) d.x[T + t] = 12345.0f;
  std::vector<float> loc2, scale2;
  check_scaler(d, &loc2, &scale2);
  for (int64_t t = 0; t < T; ++t) {
    EXPECT_EQ(loc[T + t], loc2[T + t]) << "masked values leaked into loc at t=" << t;
    EXPECT_EQ(scale[T + t], scale2[T + t]) << "masked values leaked into scale at t=" << t;
  }
}

TEST(Kernels, CausalPatchScalerConstantSeries) {
  for (float value : {0.0f, 3.5f, -1e6f}) {
    const int64_t T = 12, P = 4;
    ScalerCase c{cat("constant ", value), 1, T, P, -1, true, 10.0, std::vector<float>(T, value),
                 std::vector<uint8_t>(T, 1)};
    std::vector<float> loc, scale;
    check_scaler(c, &loc, &scale);
    for (int64_t t = 0; t < T; ++t) {
      EXPECT_EQ(loc[t], value);
      EXPECT_EQ(scale[t], static_cast<float>(std::sqrt(0.1)));  // zero variance + minimum_scale
    }
  }
  // An all-masked row: loc 0, scale sqrt(0.1) everywhere.
  const int64_t T = 8;
  ScalerCase m{"all masked", 1, T, 4, -1, true, 10.0, std::vector<float>(T, 5.0f), std::vector<uint8_t>(T, 0)};
  std::vector<float> loc, scale;
  check_scaler(m, &loc, &scale);
  for (int64_t t = 0; t < T; ++t) {
    EXPECT_EQ(loc[t], 0.0f);
    EXPECT_EQ(scale[t], static_cast<float>(std::sqrt(0.1)));
  }
}

TEST(Kernels, CausalPatchScalerGlobalClampFiresBothSides) {
  const int64_t P = 4, T = 12;
  // Upper bound: a prefix of constants (g = sqrt(0.1), hi = g * 1e10 ~ 3.2e9) followed by a
  // 1e12 spike after the prefix: the causal sigma of the last patch is clamped down to hi.
  {
    ScalerCase c{"clamp high", 1, T, P, 8, true, 10.0, std::vector<float>(T, 1.0f), std::vector<uint8_t>(T, 1)};
    c.x[9] = 1e12f;
    std::vector<float> loc, scale;
    check_scaler(c, &loc, &scale);
    const float hi = static_cast<float>(std::sqrt(0.1) * 1e10);
    EXPECT_EQ(scale[11], hi) << "the upper clamp did not fire";
    ScalerCase off = c;
    off.stabilize = false;
    std::vector<float> loc2, scale2;
    check_scaler(off, &loc2, &scale2);
    EXPECT_GT(scale2[11], 1e11f);
  }
  // Lower bound: a prefix with a global scale of ~1e12 (lo = g * 1e-10 ~ 100) and a constant
  // first patch (causal sigma sqrt(0.1)): the first patch's sigma is raised to lo.
  {
    ScalerCase c{"clamp low", 1, T, P, -1, true, 10.0, std::vector<float>(T, 0.0f), std::vector<uint8_t>(T, 1)};
    c.x[8] = 1e12f;
    c.x[10] = -1e12f;
    std::vector<float> loc, scale;
    check_scaler(c, &loc, &scale);
    EXPECT_GT(scale[0], 10.0f) << "the lower clamp did not fire";
  }
  // A small exponent makes both bounds fire on ordinary data.
  {
    Rng rng(20);
    ScalerCase c{"exponent 0.5", 2, T, P, 6, true, 0.5, randn(rng, 2 * T, 1.0), std::vector<uint8_t>(2 * T, 1)};
    for (int64_t t = 6; t < T; ++t) c.x[t] *= 100.0f;  // row 0: large after the prefix
    for (int64_t t = 0; t < 6; ++t) c.x[T + t] *= 50.0f;  // row 1: large inside the prefix
    check_scaler(c);
  }
  // The lower bound never goes below float32(0.1) widened, whatever the exponent.
  {
    ScalerCase c{"lo floor", 1, T, P, -1, true, 30.0, std::vector<float>(T, 2.0f), std::vector<uint8_t>(T, 1)};
    check_scaler(c);
  }
}

// ---------------------------------------------------------------------------------------
// embedding

TEST(Kernels, EmbeddingCopiesAndScales) {
  Rng rng(21);
  const int64_t V = 11, D = 7;
  const auto table = randn(rng, V * D);
  const std::vector<int64_t> ids = {0, 10, 3, 3, 7};
  for (float mult : {1.0f, 2.5f}) {
    std::vector<float> y(ids.size() * D, kNaN);
    ref::embedding(table.data(), V, D, ids.data(), static_cast<int64_t>(ids.size()), mult, y.data());
    for (size_t i = 0; i < ids.size(); ++i)
      for (int64_t d = 0; d < D; ++d) EXPECT_EQ(y[i * D + d], table[ids[i] * D + d] * mult);
  }
}

TEST(Kernels, EmbeddingRejectsOutOfRangeIds) {
  const int64_t V = 4, D = 3;
  std::vector<float> table(V * D, 1.0f), y(D * 2);
  for (int64_t bad : {int64_t{-1}, V, int64_t{1} << 40}) {
    const std::vector<int64_t> ids = {1, bad};
    try {
      ref::embedding(table.data(), V, D, ids.data(), 2, 1.0f, y.data());
      ADD_FAILURE() << "id " << bad << " was accepted";
    } catch (const fcast::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
    }
  }
}

// ---------------------------------------------------------------------------------------
// determinism: thread count and batch size never change a result bit

TEST(Kernels, ThreadCountDoesNotChangeResults) {
  auto run_all = [&](int threads) {
    std::vector<std::vector<float>> outs;
    Rng r(23);
    with_threads(threads, [&] {
      {  // linear over the parallel threshold (M*N*K > 65536)
        const int64_t M = 9, K = 127, N = 65;
        const auto x = randn(r, M * K), w = randn(r, N * K), b = randn(r, N);
        std::vector<float> y(M * N);
        ref::linear(x.data(), K, w.data(), b.data(), y.data(), M, K, N);
        outs.push_back(y);
      }
      {  // rmsnorm and swiglu over their thresholds
        const int64_t M = 17, D = 4001;
        const auto x = randn(r, M * 2 * D), w = randn(r, D);
        std::vector<float> y(M * D), z(M * D);
        ref::rmsnorm(x.data(), w.data(), y.data(), M, D, 1e-8f);
        ref::swiglu(x.data(), z.data(), M, D);
        outs.push_back(y);
        outs.push_back(z);
      }
      {  // rotary (both kinds)
        const int64_t N = 8, S = 9, H = 4, Dh = 256, D = H * Dh;
        const auto x = randn(r, N * S * D);
        std::vector<float> inv(Dh / 2);
        for (int64_t m = 0; m < Dh / 2; ++m) inv[m] = std::pow(10000.0f, -2.0f * m / Dh);
        std::vector<float> y(N * S * D), z(N * S * D);
        ref::rotary_xpos(x.data(), D, y.data(), N, S, H, Dh, 3, 5, true);
        ref::rotary_neox(x.data(), D, z.data(), N, S, H, Dh, 3, inv.data());
        outs.push_back(y);
        outs.push_back(z);
      }
      {  // attention
        const int64_t N = 3, S = 9, H = 3, Dh = 17, D = H * Dh;
        const auto q = randn(r, N * S * D), k = randn(r, N * S * D), v = randn(r, N * S * D);
        std::vector<float> o(N * S * D);
        ref::AttentionArgs a;
        a.N = N; a.Sq = S; a.H = H; a.Dh = Dh;
        a.q = q.data(); a.q_nstride = S * D; a.q_tstride = D;
        a.k = k.data(); a.k_nstride = S * D; a.k_tstride = D;
        a.v = v.data(); a.v_nstride = S * D; a.v_tstride = D;
        a.kv_len = S; a.causal = true; a.scale = 0.25f; a.out = o.data();
        ref::attention(a);
        outs.push_back(o);
      }
      {  // scaler over its threshold (rows*T > 65536)
        const int64_t rows = 17, T = 4096;
        const auto x = randn(r, rows * T, 2.0, 10.0);
        std::vector<uint8_t> m(rows * T, 1);
        std::vector<float> s(rows * T), l(rows * T), sc(rows * T);
        ref::causal_patch_scaler(x.data(), m.data(), rows, T, 64, -1, true, 10.0, s.data(), l.data(), sc.data());
        outs.push_back(s);
        outs.push_back(l);
        outs.push_back(sc);
      }
    });
    return outs;
  };
  const auto one = run_all(1);
  for (int threads : {2, 3}) {
    const auto many = run_all(threads);
    ASSERT_EQ(one.size(), many.size());
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_TRUE(bit_equal(one[i], many[i], cat("kernel #", i, " with 1 vs ", threads, " threads")));
  }
}

TEST(Kernels, LinearRowsDoNotDependOnBatchSize) {
  Rng rng(24);
  for (int64_t K : {5, 127, 300})
    for (int64_t N : {7, 65}) {
      const int64_t M = 9;
      const auto x = randn(rng, M * K), w = randn(rng, N * K), b = randn(rng, N);
      std::vector<float> all(M * N);
      ref::linear(x.data(), K, w.data(), b.data(), all.data(), M, K, N);
      for (int64_t r = 0; r < M; ++r) {
        std::vector<float> one(N);
        ref::linear(x.data() + r * K, K, w.data(), b.data(), one.data(), 1, K, N);
        EXPECT_TRUE(bit_equal(one, std::vector<float>(all.begin() + r * N, all.begin() + (r + 1) * N),
                              cat("linear row ", r, " of M=9 vs M=1, K=", K, " N=", N)));
      }
    }
}

}  // namespace

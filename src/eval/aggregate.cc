#include "eval/aggregate.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <string_view>

#include "core/error.h"

namespace fcast::eval {
namespace {

using Kind = AggregationSpec::Kind;

[[noreturn]] void reject(const std::string& spec, const std::string& why) {
  fail("aggregation '", spec, "': ", why, ". Accepted specs (case-insensitive):\n", aggregation_grammar());
}

std::string lower_trimmed(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string out = s.substr(b, e - b);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> split_underscores(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find('_', start);
    parts.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

double parse_number(const std::string& spec, std::string_view text) {
  double v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, std::chars_format::fixed);
  // chars_format::fixed keeps "1e5", "inf" and "nan" out: specs are written as plain decimals.
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(v))
    reject(spec, cat("'", text, "' is not a number"));
  return v;
}

// A fraction as the Python system reads it: above 1 it is a percentage.
double parse_fraction(const std::string& spec, std::string_view text, const char* what) {
  double v = parse_number(spec, text);
  if (v > 1.0) v /= 100.0;
  if (!(v >= 0.0 && v <= 1.0))
    reject(spec, cat(what, " ", text, " is outside [0, 1] (values above 1 are read as percentages, so at most 100)"));
  return v;
}

double parse_std_multiplier(const std::string& spec, std::string_view text) {
  const double k = parse_number(spec, text);
  if (k < 0.0) reject(spec, cat("the std multiplier ", text, " is negative"));
  return k;
}

// floor(n*f), tolerant of the rounding in decimal fractions: 0.29 * 100 is 28.999999999999996
// in double, and a user who wrote trimmed_mean_29 for 100 samples means 29.
size_t floor_count(size_t n, double f) {
  const double x = std::floor(static_cast<double>(n) * f + 1e-9);
  if (x <= 0) return 0;
  return std::min(n, static_cast<size_t>(x));
}

double mean_of(const double* begin, const double* end) {
  double sum = 0;
  for (const double* p = begin; p != end; ++p) sum += *p;
  return sum / static_cast<double>(end - begin);
}

double population_std(const std::vector<double>& v, double mean) {
  double sq = 0;
  for (double x : v) sq += (x - mean) * (x - mean);
  return std::sqrt(sq / static_cast<double>(v.size()));
}

// `sorted` ascending, non-empty and finite.
double aggregate_sorted(const AggregationSpec& spec, const std::vector<double>& sorted) {
  const size_t n = sorted.size();
  const double* first = sorted.data();
  switch (spec.kind) {
    case Kind::Mean:
      return mean_of(first, first + n);
    case Kind::Quantile:
      return quantile_of_sorted(sorted, spec.q);
    case Kind::TrimmedMean: {
      const size_t drop = floor_count(n, spec.fraction);  // f < 0.5 keeps at least one sample
      return mean_of(first + drop, first + n - drop);
    }
    case Kind::LowerTrimmedMean: {
      const size_t keep = std::max<size_t>(1, floor_count(n, 1.0 - spec.fraction));
      return mean_of(first, first + keep);
    }
    case Kind::UpperTrimmedMean: {
      const size_t from = std::min(n - 1, floor_count(n, spec.fraction));
      return mean_of(first + from, first + n);
    }
    case Kind::MeanMinusStd: {
      const double mean = mean_of(first, first + n);
      return mean - spec.k * population_std(sorted, mean);
    }
    case Kind::MeanPlusStd: {
      const double mean = mean_of(first, first + n);
      return mean + spec.k * population_std(sorted, mean);
    }
    case Kind::QuantilePlusStd: {
      const double mean = mean_of(first, first + n);
      return quantile_of_sorted(sorted, spec.q) + spec.k * population_std(sorted, mean);
    }
    case Kind::MeanQuantileMix:
      return spec.weight * mean_of(first, first + n) + (1.0 - spec.weight) * quantile_of_sorted(sorted, spec.q);
  }
  FCAST_ASSERT(false);
  return 0;
}

void check_finite(const std::string& spec, double v, size_t step, size_t sample) {
  if (!std::isfinite(v))
    fail("aggregation '", spec, "': sample ", sample, " of step ", step, " is ", v,
         "; samples must be finite (a model that produced it is broken upstream)");
}

// Step `step` of [sample][step] samples, or of [step][sample] ones, sorted.
std::vector<double> column(const std::string& spec, const std::vector<std::vector<double>>& by_sample, size_t step) {
  std::vector<double> v(by_sample.size());
  for (size_t s = 0; s < by_sample.size(); ++s) {
    v[s] = by_sample[s][step];
    check_finite(spec, v[s], step, s);
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<double> row(const std::string& spec, const std::vector<float>& samples, size_t step) {
  if (samples.empty()) fail("aggregation '", spec, "': step ", step, " has no samples");
  std::vector<double> v(samples.begin(), samples.end());
  for (size_t s = 0; s < v.size(); ++s) check_finite(spec, v[s], step, s);
  std::sort(v.begin(), v.end());
  return v;
}

void check_layout(const std::string& spec, const std::vector<std::vector<double>>& by_sample) {
  if (by_sample.empty()) fail("aggregation '", spec, "': no samples to aggregate");
  const size_t horizon = by_sample.front().size();
  if (horizon == 0) fail("aggregation '", spec, "': samples have no steps");
  for (size_t s = 1; s < by_sample.size(); ++s)
    if (by_sample[s].size() != horizon)
      fail("aggregation '", spec, "': sample ", s, " has ", by_sample[s].size(), " steps, sample 0 has ", horizon);
}

const std::string kBandName = "band_p40_p60";  // names the band in error messages

}  // namespace

std::string aggregation_grammar() {
  return "  mean                          mean of the samples\n"
         "  median                        quantile 0.5\n"
         "  p<N>                          percentile N, a whole number 0..100 (p10, p90)\n"
         "  quantile_<q>                  quantile q, linear between order statistics at q*(n-1)\n"
         "  trimmed_mean_<f>              mean after dropping floor(n*f) sorted samples at each end, f < 0.5\n"
         "  lower_trimmed_mean_<f>        mean of the lowest floor(n*(1-f)) samples (at least 1)\n"
         "  upper_trimmed_mean_<f>        mean of the samples from sorted index floor(n*f) on (at least 1)\n"
         "  mean_minus_std_<k>            mean - k * std (population std; k >= 0, a plain number)\n"
         "  mean_plus_std_<k>             mean + k * std\n"
         "  quantile_plus_std_<q>_<k>     quantile q + k * std\n"
         "  mean_quantile_mix_<q>_<w>     w * mean + (1 - w) * quantile q, w clipped to [0, 1]\n"
         "  fractions q, f, w above 1 are percentages: trimmed_mean_10 = trimmed_mean_0.1\n";
}

AggregationSpec parse_aggregation(const std::string& given) {
  const std::string s = lower_trimmed(given);
  AggregationSpec spec;
  spec.text = given;
  if (s.empty()) reject(given, "empty spec");
  if (s == "mean") return spec;
  if (s == "median") {
    spec.kind = Kind::Quantile;
    spec.q = 0.5;
    return spec;
  }
  if (s.size() >= 2 && s[0] == 'p' && std::isdigit(static_cast<unsigned char>(s[1]))) {
    // Percentile names are always percentages ("p1" is 1%, not 100%), so they bypass the
    // fraction rule; whole numbers only, since "p0.5" would be read either way by someone.
    int percentile = 0;
    const char* end = s.data() + s.size();
    const auto [ptr, ec] = std::from_chars(s.data() + 1, end, percentile);
    if (ec != std::errc() || ptr != end || percentile > 100)
      reject(given, "a percentile is p followed by a whole number 0..100");
    spec.kind = Kind::Quantile;
    spec.q = percentile / 100.0;
    return spec;
  }

  // Longest prefixes first: "trimmed_mean_" is a suffix of the lower/upper forms.
  struct Form {
    const char* prefix;
    Kind kind;
    int args;
  };
  static const Form forms[] = {
      {"lower_trimmed_mean_", Kind::LowerTrimmedMean, 1}, {"upper_trimmed_mean_", Kind::UpperTrimmedMean, 1},
      {"trimmed_mean_", Kind::TrimmedMean, 1},            {"mean_minus_std_", Kind::MeanMinusStd, 1},
      {"mean_plus_std_", Kind::MeanPlusStd, 1},           {"quantile_plus_std_", Kind::QuantilePlusStd, 2},
      {"mean_quantile_mix_", Kind::MeanQuantileMix, 2},   {"quantile_", Kind::Quantile, 1},
  };
  for (const Form& form : forms) {
    const std::string_view prefix = form.prefix;
    if (s.compare(0, prefix.size(), prefix) != 0) continue;
    const std::vector<std::string_view> args = split_underscores(std::string_view(s).substr(prefix.size()));
    if (static_cast<int>(args.size()) != form.args)
      reject(given, cat("expected ", form.args, form.args == 1 ? " number" : " numbers", " after '", prefix, "'"));
    spec.kind = form.kind;
    switch (form.kind) {
      case Kind::Quantile:
        spec.q = parse_fraction(given, args[0], "quantile");
        break;
      case Kind::TrimmedMean:
        spec.fraction = parse_fraction(given, args[0], "trim fraction");
        if (spec.fraction >= 0.5) reject(given, "the trim fraction must be below 0.5 (it is cut from both ends)");
        break;
      case Kind::LowerTrimmedMean:
      case Kind::UpperTrimmedMean:
        spec.fraction = parse_fraction(given, args[0], "trim fraction");
        break;
      case Kind::MeanMinusStd:
      case Kind::MeanPlusStd:
        spec.k = parse_std_multiplier(given, args[0]);
        break;
      case Kind::QuantilePlusStd:
        spec.q = parse_fraction(given, args[0], "quantile");
        spec.k = parse_std_multiplier(given, args[1]);
        break;
      case Kind::MeanQuantileMix: {
        spec.q = parse_fraction(given, args[0], "quantile");
        // The Python system clips the weight instead of rejecting it; keep its behaviour so a
        // spec tuned there means the same here. The percentage rule still applies first.
        double w = parse_number(given, args[1]);
        if (w > 1.0) w /= 100.0;
        spec.weight = std::clamp(w, 0.0, 1.0);
        break;
      }
      case Kind::Mean:
        FCAST_ASSERT(false);
    }
    return spec;
  }
  reject(given, "unknown spec");
}

double quantile_of_sorted(const std::vector<double>& sorted, double q) {
  FCAST_ASSERT(!sorted.empty() && q >= 0.0 && q <= 1.0);
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double t = pos - static_cast<double>(lo);
  // a + t*(b - a) returns a exactly when t = 0 and b exactly when a == b.
  return sorted[lo] + t * (sorted[hi] - sorted[lo]);
}

double aggregate_one_step(const AggregationSpec& spec, const std::vector<double>& samples) {
  if (samples.empty()) fail("aggregation '", spec.text, "': no samples to aggregate");
  std::vector<double> sorted = samples;
  for (size_t s = 0; s < sorted.size(); ++s) check_finite(spec.text, sorted[s], 0, s);
  std::sort(sorted.begin(), sorted.end());
  return aggregate_sorted(spec, sorted);
}

std::vector<double> aggregate(const AggregationSpec& spec, const std::vector<std::vector<double>>& samples_by_sample) {
  check_layout(spec.text, samples_by_sample);
  std::vector<double> out(samples_by_sample.front().size());
  for (size_t t = 0; t < out.size(); ++t) out[t] = aggregate_sorted(spec, column(spec.text, samples_by_sample, t));
  return out;
}

std::vector<double> aggregate_by_step(const AggregationSpec& spec, const std::vector<std::vector<float>>& samples_by_step) {
  if (samples_by_step.empty()) fail("aggregation '", spec.text, "': samples have no steps");
  std::vector<double> out(samples_by_step.size());
  for (size_t t = 0; t < out.size(); ++t) out[t] = aggregate_sorted(spec, row(spec.text, samples_by_step[t], t));
  return out;
}

std::vector<double> band_p40_p60(const std::vector<std::vector<double>>& samples_by_sample) {
  const std::string& name = kBandName;
  check_layout(name, samples_by_sample);
  std::vector<double> out(samples_by_sample.front().size());
  for (size_t t = 0; t < out.size(); ++t) {
    const std::vector<double> sorted = column(name, samples_by_sample, t);
    out[t] = quantile_of_sorted(sorted, 0.6) - quantile_of_sorted(sorted, 0.4);
  }
  return out;
}

std::vector<double> band_p40_p60_by_step(const std::vector<std::vector<float>>& samples_by_step) {
  const std::string& name = kBandName;
  if (samples_by_step.empty()) fail("aggregation '", name, "': samples have no steps");
  std::vector<double> out(samples_by_step.size());
  for (size_t t = 0; t < out.size(); ++t) {
    const std::vector<double> sorted = row(name, samples_by_step[t], t);
    out[t] = quantile_of_sorted(sorted, 0.6) - quantile_of_sorted(sorted, 0.4);
  }
  return out;
}

}  // namespace fcast::eval

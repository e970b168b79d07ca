// Aggregation of forecast samples into one value per step, with the spec grammar that users of
// the Python Toto system know ("mean", "p90", "trimmed_mean_10", "quantile_plus_std_0.15_0.12").
//
//   const AggregationSpec spec = parse_aggregation("trimmed_mean_10");   // parse once
//   std::vector<double> point = aggregate(spec, samples_by_sample);      // [sample][step]
//   std::vector<double> same  = aggregate_by_step(spec, forecast.samples[0]);  // [step][sample] floats
//   std::vector<double> width = band_p40_p60(samples_by_sample);         // p60 - p40 per step
//
// Specs are case-insensitive (surrounding blanks ignored); aggregation_grammar() lists them.
// Every value is computed in double. Quantiles interpolate linearly between order statistics
// at position q*(n-1), numpy's and torch's default, so results match the Python system.
// Fractions (q, f, w) greater than 1 are read as percentages: "trimmed_mean_10" trims 0.10.
// The std multiplier k is a plain non-negative number, never a percentage.
//
// Errors: an unknown or malformed spec, empty samples, ragged rows and non-finite samples
// throw fcast::Error with a message naming the spec or the step and sample.
//
// Thread safety: every function here is pure; an AggregationSpec is an immutable value that
// any number of threads may use at once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fcast::eval {

struct AggregationSpec {
  enum class Kind : uint8_t {
    Mean,              // arithmetic mean
    Quantile,          // quantile `q` ("median" = 0.5, "p10", "p90", "quantile_<q>")
    TrimmedMean,       // mean after dropping floor(n*f) samples at each end, f in [0, 0.5)
    LowerTrimmedMean,  // mean of the lowest floor(n*(1-f)) samples (at least 1)
    UpperTrimmedMean,  // mean of the samples from sorted index floor(n*f) on (at least 1)
    MeanMinusStd,      // mean - k * population std
    MeanPlusStd,       // mean + k * population std
    QuantilePlusStd,   // quantile q + k * population std
    MeanQuantileMix,   // w * mean + (1 - w) * quantile q
  };
  Kind kind = Kind::Mean;
  double q = 0.5;         // quantile level in [0, 1] (Quantile, QuantilePlusStd, MeanQuantileMix)
  double fraction = 0.0;  // trimmed fraction f (the trimmed means)
  double k = 0.0;         // std multiplier, >= 0 (the std specs)
  double weight = 1.0;    // weight w of the mean, clipped to [0, 1] (MeanQuantileMix)
  std::string text;       // the spec as given, for messages and reports
};

// Parses a spec. Throws fcast::Error naming the spec and listing the grammar when it is
// unknown, malformed (a number that does not parse, a missing or extra argument), or a
// fraction is out of range after the percentage rule.
AggregationSpec parse_aggregation(const std::string& spec);

// The accepted specs, one per line, for help texts and error messages.
std::string aggregation_grammar();

// One value per step from samples laid out [sample][step] (every row the same length).
std::vector<double> aggregate(const AggregationSpec& spec, const std::vector<std::vector<double>>& samples_by_sample);

// One value per step from samples laid out [step][sample], as SeriesForecast::samples holds
// them per variate (float); each step may not be empty.
std::vector<double> aggregate_by_step(const AggregationSpec& spec, const std::vector<std::vector<float>>& samples_by_step);

// The value of one step from its samples.
double aggregate_one_step(const AggregationSpec& spec, const std::vector<double>& samples);

// Width of the central 20% band, p60 - p40, per step: a cheap confidence signal (narrow = the
// samples agree). Same layouts and errors as aggregate / aggregate_by_step.
std::vector<double> band_p40_p60(const std::vector<std::vector<double>>& samples_by_sample);
std::vector<double> band_p40_p60_by_step(const std::vector<std::vector<float>>& samples_by_step);

// Quantile q in [0, 1] of values already sorted ascending (non-empty): linear interpolation at
// position q*(n-1). Shared with the forecast-quality metrics so intervals use the same rule.
double quantile_of_sorted(const std::vector<double>& sorted, double q);

}  // namespace fcast::eval

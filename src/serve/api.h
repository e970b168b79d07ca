// The JSON of `fcast serve`: requests in, ForecastRequest out; ForecastResult in, JSON out.
// Two forms:
// - native (POST /v1/forecast): series as fcast's SeriesInput; the answer has, per series, the
//   rows of `fcast predict --format json` ("forecast": timestamp, variate, step, mean, median,
//   std, q<level>), with the same numbers for the same input and seed;
// - KServe (POST /v1/timeseries/forecast): the KServe time-series forecast schema (inputs of type
//   univariate_time_series / multivariate_time_series, frequency, start_timestamp,
//   options.horizon, options.quantiles; outputs with per-output status and error), plus fcast's
//   extension fields (docs/SERVING.md).
// No field can name a file: every value travels in the body.
//
// Thread-safety: free functions over values.
#pragma once
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eval/aggregate.h"
#include "models/registry.h"
#include "serve/api_error.h"
#include "serve/drift.h"

namespace fcast::serve {

struct RequestLimits {
  int64_t max_series = 64;            // series per request
  int64_t max_series_length = 16384;  // time steps per series
  int64_t max_horizon = 4096;
  int64_t max_samples = 4096;
};

// What the parsers need to know about a served model.
struct ServedModel {
  const ModelEntry* entry = nullptr;
  const LoadedModel* loaded = nullptr;
};
using ServedModels = std::map<std::string, ServedModel>;

// The model a request names ("model"); the only one when there is one and the field is absent.
// 404 when it is not served.
std::string pick_model(const nlohmann::json& body, const ServedModels& served);

// ---- native ----
struct NativeRequest {
  std::string model;
  ForecastRequest request;
  bool return_samples = false;
  // "aggregate": a sample-aggregation spec (eval/aggregate.h); each row then carries "point" (the
  // spec over the step's sample paths, the mean for a point forecast) and "band_p40_p60".
  std::optional<eval::AggregationSpec> aggregate;
};
NativeRequest parse_native(const nlohmann::json& body, const ServedModels& served, const RequestLimits& limits);
nlohmann::ordered_json native_response(const NativeRequest& req, const ForecastResult& res, const LoadedModel& model,
                                       double seconds, int64_t batch_series);

// ---- KServe ----
struct KServeInput {
  std::string name, type, frequency;
  int64_t step_seconds = 0;   // 0: no frequency known
  bool has_start = false;
  int64_t start = 0;          // seconds since the epoch (UTC) of the first observation
  int64_t length = 0;
  std::vector<std::string> variate_names;
  int request_index = -1;     // its series in the ForecastRequest; -1: rejected (see error)
  ApiError error{400, "", ""};
};
struct KServeRequest {
  std::string model;
  ForecastRequest request;    // the accepted inputs only
  std::vector<KServeInput> inputs;
  bool return_samples = false;
  nlohmann::json metadata;    // echoed
  std::vector<std::string> ignored_options;
};
KServeRequest parse_kserve(const nlohmann::json& body, const ServedModels& served, const RequestLimits& limits);
// `res` null when no input was accepted.
nlohmann::ordered_json kserve_response(const KServeRequest& req, const ForecastResult* res, double seconds);

// ---- drift ----
// POST /v1/actuals: {"model", "series": [{"id", "variates", "timestamps", "values"}]}; values as
// the native form's ([numbers] or [[numbers] per variate], null = missing), timestamps as its
// (seconds or date strings), one per value.
struct ActualsRequest {
  std::string model;
  std::vector<SeriesActuals> series;
};
ActualsRequest parse_actuals(const nlohmann::json& body, const ServedModels& served, const RequestLimits& limits);
// One entry per series, in request order: what was scored, or why nothing was.
nlohmann::ordered_json actuals_response(const std::string& model, const std::vector<DriftScore>& scores);
// GET /v1/drift: one model's baseline, rolling values, alert state and last scores.
nlohmann::ordered_json drift_report_json(const DriftModelReport& r, const DriftOptions& o);

nlohmann::ordered_json error_json(const ApiError& e);
// Seconds per KServe frequency (S/SECOND, T/MINUTE, H/HOUR, D/DAY, W/WEEK, M/MONTH, Q/QUARTER,
// Y/YEAR; months, quarters and years at their mean Gregorian length); 0 when unknown.
int64_t frequency_seconds(const std::string& f);
// "2025-06-05T13:10:00Z".
std::string iso8601(int64_t seconds);

}  // namespace fcast::serve

#include "serve/api.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "core/error.h"
#include "io/csv.h"

namespace fcast::serve {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, "invalid_request", message, param);
}

std::string type_of(const json& j) { return j.type_name(); }

const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

int64_t get_int(const json& j, const std::string& param, int64_t min, int64_t max) {
  if (!j.is_number_integer() && !(j.is_number_float() && std::floor(j.get<double>()) == j.get<double>()))
    bad(param, cat(param, " must be an integer, got ", type_of(j) == "number" ? j.dump() : type_of(j)));
  const double d = j.get<double>();
  if (d < static_cast<double>(min) || d > static_cast<double>(max))
    bad(param, cat(param, " must be in [", min, ", ", max, "], got ", j.dump()));
  return j.is_number_unsigned() ? static_cast<int64_t>(j.get<uint64_t>()) : j.get<int64_t>();
}

uint64_t get_seed(const json& j, const std::string& param) {
  if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0))
    bad(param, cat(param, " must be a non-negative integer, got ", j.dump()));
  return j.get<uint64_t>();
}

bool get_bool(const json& j, const std::string& param) {
  if (!j.is_boolean()) bad(param, cat(param, " must be true or false, got ", type_of(j)));
  return j.get<bool>();
}

std::string get_string(const json& j, const std::string& param) {
  if (!j.is_string()) bad(param, cat(param, " must be a string, got ", type_of(j)));
  return j.get<std::string>();
}

std::vector<double> get_quantiles(const json& j, const std::string& param) {
  if (!j.is_array()) bad(param, cat(param, " must be an array of levels in [0, 1], got ", type_of(j)));
  std::vector<double> q;
  for (size_t k = 0; k < j.size(); ++k) {
    if (!j[k].is_number()) bad(param, cat(param, "[", k, "] must be a number, got ", type_of(j[k])));
    const double v = j[k].get<double>();
    if (!(v >= 0 && v <= 1)) bad(param, cat(param, "[", k, "] must be in [0, 1], got ", v));
    q.push_back(v);
  }
  return q;
}

// Numbers (null = missing: unobserved) of one variate; all-missing and empty series are errors.
void get_values(const json& j, const std::string& param, const RequestLimits& limits, std::vector<double>& values,
                std::vector<uint8_t>& observed, bool& any_missing) {
  if (!j.is_array()) bad(param, cat(param, " must be an array of numbers, got ", type_of(j)));
  if (j.empty()) bad(param, cat(param, " is empty"));
  if (static_cast<int64_t>(j.size()) > limits.max_series_length)
    throw ApiError(413, "series_too_long",
                   cat(param, " has ", j.size(), " steps; the server takes at most ", limits.max_series_length,
                       " (--max-series-length)"),
                   param);
  values.resize(j.size());
  observed.assign(j.size(), 1);
  int64_t seen = 0;
  for (size_t t = 0; t < j.size(); ++t) {
    if (j[t].is_null()) {
      values[t] = 0;
      observed[t] = 0;
      any_missing = true;
      continue;
    }
    if (!j[t].is_number()) bad(param, cat(param, "[", t, "] must be a number or null, got ", type_of(j[t])));
    values[t] = j[t].get<double>();
    ++seen;
  }
  if (seen == 0) bad(param, cat(param, " has no observed value (every value is null)"));
}

// A series object's "values" ([numbers]: one variate; [[numbers], ...]: one array per variate;
// null = missing) and optional "variates" (one name per variate). `observed` is left empty when
// every value is present.
void get_series_values(const json& sj, const std::string& p, const RequestLimits& limits,
                       std::vector<std::vector<double>>& values, std::vector<std::vector<uint8_t>>& observed,
                       std::vector<std::string>& names) {
  const json* vals = field(sj, "values");
  if (!vals) bad(p + ".values", cat(p, ".values is missing"));
  bool missing = false;
  const bool nested = vals->is_array() && !vals->empty() && (*vals)[0].is_array();
  const size_t V = nested ? vals->size() : 1;
  for (size_t v = 0; v < V; ++v) {
    std::vector<double> x;
    std::vector<uint8_t> o;
    const std::string vp = nested ? cat(p, ".values[", v, "]") : p + ".values";
    get_values(nested ? (*vals)[v] : *vals, vp, limits, x, o, missing);
    if (v > 0 && x.size() != values[0].size())
      bad(vp, cat(vp, " has ", x.size(), " steps, variate 0 has ", values[0].size(), "; variates must be equally long"));
    values.push_back(std::move(x));
    observed.push_back(std::move(o));
  }
  if (!missing) observed.clear();
  if (const json* n = field(sj, "variates")) {
    if (!n->is_array() || n->size() != V) bad(p + ".variates", cat(p, ".variates must name the ", V, " variate(s)"));
    for (size_t v = 0; v < V; ++v) names.push_back(get_string((*n)[v], cat(p, ".variates[", v, "]")));
  }
}

int64_t get_timestamp(const json& j, const std::string& param) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_string()) {
    try {
      int32_t offset = 0;
      const int64_t utc = parse_timestamp(j.get<std::string>(), &offset);
      return utc + offset;  // wall-clock seconds, as `fcast predict` reads a CSV
    } catch (const Error& e) {
      bad(param, cat(param, ": ", e.what()));
    }
  }
  bad(param, cat(param, " must be seconds since the epoch or a date/time string, got ", type_of(j)));
}

std::vector<int64_t> get_timestamps(const json& j, const std::string& param, size_t want) {
  if (!j.is_array()) bad(param, cat(param, " must be an array, got ", type_of(j)));
  if (want && j.size() != want) bad(param, cat(param, " has ", j.size(), " stamps, expected ", want));
  std::vector<int64_t> out;
  for (size_t k = 0; k < j.size(); ++k) out.push_back(get_timestamp(j[k], cat(param, "[", k, "]")));
  return out;
}

std::string option_text(const json& j, const std::string& param) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  if (j.is_number()) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, j.get<double>());
    return std::string(buf, r.ptr);
  }
  bad(param, cat(param, " must be a string, number or boolean, got ", type_of(j)));
}

// The shortest text that reads back as the same float, as `fcast predict` prints it; null for
// non-finite values (JSON has none).
ojson jnum(float x) {
  if (!std::isfinite(x)) return nullptr;
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::strtod(std::string(buf, r.ptr).c_str(), nullptr);
}

std::string level_text(double q) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, q);
  return std::string(buf, r.ptr);
}

std::string response_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t boot = std::random_device{}();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%016llx%08llx", prefix, static_cast<unsigned long long>(boot),
                static_cast<unsigned long long>(++counter));
  return buf;
}

void check_common(ForecastRequest& r, const RequestLimits& limits, const std::string& horizon_field,
                  const std::string& samples_field) {
  if (r.horizon < 1 || r.horizon > limits.max_horizon)
    bad(horizon_field, cat(horizon_field, " must be in [1, ", limits.max_horizon, "], got ", r.horizon));
  if (r.num_samples < 0 || r.num_samples > limits.max_samples)
    bad(samples_field, cat(samples_field, " must be in [0, ", limits.max_samples, "], got ", r.num_samples));
}

}  // namespace

ojson error_json(const ApiError& e) {
  ojson err;
  err["code"] = e.code;
  err["message"] = e.what();
  err["param"] = e.param.empty() ? ojson(nullptr) : ojson(e.param);
  err["type"] = e.status >= 500 ? "server_error" : "invalid_request_error";
  return ojson{{"error", err}};
}

int64_t frequency_seconds(const std::string& f) {
  std::string u;
  for (char c : f) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u == "S" || u == "SECOND") return 1;
  if (u == "T" || u == "MINUTE" || u == "MIN") return 60;
  if (u == "H" || u == "HOUR") return 3600;
  if (u == "D" || u == "DAY") return 86400;
  if (u == "W" || u == "WEEK") return 7 * 86400;
  if (u == "M" || u == "MONTH") return 2629746;  // 365.2425 / 12 days
  if (u == "Q" || u == "QUARTER") return 3 * 2629746;
  if (u == "Y" || u == "YEAR") return 31556952;
  return 0;
}

std::string iso8601(int64_t seconds) {
  const CivilTime c = civil_from_seconds(seconds);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day, c.hour, c.minute, c.second);
  return buf;
}

std::string pick_model(const json& body, const ServedModels& served) {
  if (!body.is_object()) bad("", cat("the request body must be a JSON object, got ", type_of(body)));
  const json* m = field(body, "model");
  if (!m) {
    if (served.size() == 1) return served.begin()->first;
    bad("model", "name the model (\"model\"): this server serves several");
  }
  const std::string name = get_string(*m, "model");
  if (!served.count(name)) {
    std::string names;
    for (const auto& [n, s] : served) names += (names.empty() ? "" : ", ") + n;
    throw ApiError(404, "model_not_found", cat("model '", name, "' is not served here; served: ", names), "model");
  }
  return name;
}

// ---- native ----

NativeRequest parse_native(const json& body, const ServedModels& served, const RequestLimits& limits) {
  NativeRequest n;
  n.model = pick_model(body, served);
  ForecastRequest& r = n.request;
  static const char* known[] = {"model", "series", "prediction_length", "horizon", "num_samples", "seed",
                                "quantiles", "options", "return_samples", "aggregate"};
  for (const auto& [k, v] : body.items())
    if (std::find(std::begin(known), std::end(known), k) == std::end(known))
      bad(k, cat("unknown field '", k, "'; fields: model, series, prediction_length, num_samples, seed, quantiles, "
                 "options, return_samples, aggregate"));
  if (const json* g = field(body, "aggregate")) {
    const std::string spec = get_string(*g, "aggregate");
    try {
      n.aggregate = eval::parse_aggregation(spec);
    } catch (const Error& e) {
      bad("aggregate", e.what());
    }
  }
  if (const json* h = field(body, "prediction_length")) r.horizon = get_int(*h, "prediction_length", INT32_MIN, INT32_MAX);
  else if (const json* h2 = field(body, "horizon")) r.horizon = get_int(*h2, "horizon", INT32_MIN, INT32_MAX);
  if (const json* s = field(body, "num_samples")) r.num_samples = get_int(*s, "num_samples", INT32_MIN, INT32_MAX);
  if (const json* s = field(body, "seed")) r.seed = get_seed(*s, "seed");
  if (const json* q = field(body, "quantiles")) r.quantiles = get_quantiles(*q, "quantiles");
  if (const json* b = field(body, "return_samples")) n.return_samples = get_bool(*b, "return_samples");
  if (const json* o = field(body, "options")) {
    if (!o->is_object()) bad("options", cat("options must be an object of NAME: value, got ", type_of(*o)));
    for (const auto& [k, v] : o->items()) r.options[k] = option_text(v, "options." + k);
  }
  check_common(r, limits, body.contains("horizon") ? "horizon" : "prediction_length", "num_samples");
  const json* series = field(body, "series");
  if (!series || !series->is_array() || series->empty())
    bad("series", "series must be a non-empty array of {id, variates, values, timestamps}");
  if (static_cast<int64_t>(series->size()) > limits.max_series)
    throw ApiError(413, "too_many_series",
                   cat(series->size(), " series; the server takes at most ", limits.max_series, " per request (--max-series)"),
                   "series");
  for (size_t k = 0; k < series->size(); ++k) {
    const json& sj = (*series)[k];
    const std::string p = cat("series[", k, "]");
    if (!sj.is_object()) bad(p, cat(p, " must be an object, got ", type_of(sj)));
    for (const auto& [key, v] : sj.items())
      if (key != "id" && key != "variates" && key != "values" && key != "timestamps" && key != "future_timestamps")
        bad(p + "." + key, cat("unknown field '", key, "' in ", p, "; fields: id, variates, values, timestamps, future_timestamps"));
    SeriesInput s;
    if (const json* id = field(sj, "id")) s.id = get_string(*id, p + ".id");
    get_series_values(sj, p, limits, s.values, s.observed, s.variate_names);
    if (const json* t = field(sj, "timestamps")) s.timestamps = get_timestamps(*t, p + ".timestamps", s.values[0].size());
    if (const json* t = field(sj, "future_timestamps"))
      s.future_timestamps = get_timestamps(*t, p + ".future_timestamps", static_cast<size_t>(r.horizon));
    r.series.push_back(std::move(s));
  }
  return n;
}

ojson native_response(const NativeRequest& req, const ForecastResult& res, const LoadedModel& model, double seconds,
                      int64_t batch_series) {
  const ForecastRequest& r = req.request;
  ojson j;
  j["model"] = {{"family", model.entry().name},
                {"weights_identity", model.identity()},
                {"executor", res.metadata.count("executor") ? res.metadata.at("executor") : ""},
                {"random_weights", model.random_weights()}};
  ojson opts = {{"prediction_length", r.horizon},
                {"num_samples", r.num_samples},
                {"mean_forecast", r.num_samples == 0},
                {"seed", r.seed},
                {"quantiles", r.quantiles}};
  for (const auto& [k, v] : r.options) opts[k] = v;
  j["options"] = opts;
  j["seconds"] = seconds;
  j["batch_series"] = batch_series;
  ojson all = ojson::array();
  for (size_t k = 0; k < res.series.size(); ++k) {
    const SeriesForecast& f = res.series[k];
    bool with_time = false;
    for (int64_t t : f.timestamps) with_time = with_time || t % 86400 != 0;
    ojson rows = ojson::array();
    for (int64_t h = 0; h < r.horizon; ++h)
      for (size_t v = 0; v < f.variate_names.size(); ++v) {
        ojson row;
        if (!f.timestamps.empty()) row["timestamp"] = format_timestamp(f.timestamps[h], with_time);
        row["variate"] = f.variate_names[v];
        row["step"] = h + 1;
        row["mean"] = jnum(f.mean[v][h]);
        row["median"] = jnum(f.median[v][h]);
        row["std"] = jnum(f.std[v][h]);
        for (size_t q = 0; q < res.quantile_levels.size(); ++q)
          row[std::string("q").append(level_text(res.quantile_levels[q]))] = jnum(f.quantiles[q][v][h]);
        if (req.aggregate) {
          if (f.samples.empty()) {
            row["point"] = jnum(f.mean[v][h]);
            row["band_p40_p60"] = 0.0;
          } else {
            const std::vector<double> paths(f.samples[v][h].begin(), f.samples[v][h].end());
            row["point"] = jnum(static_cast<float>(eval::aggregate_one_step(*req.aggregate, paths)));
            row["band_p40_p60"] = jnum(static_cast<float>(eval::band_p40_p60_by_step({f.samples[v][h]}).at(0)));
          }
        }
        rows.push_back(std::move(row));
      }
    ojson s;
    s["id"] = f.id;
    s["variates"] = f.variate_names;
    s["forecast"] = std::move(rows);
    if (req.return_samples) {
      ojson samples = ojson::array();  // [variate][step][sample]
      for (const auto& v : f.samples) {
        ojson steps = ojson::array();
        for (const auto& h : v) {
          ojson xs = ojson::array();
          for (float x : h) xs.push_back(jnum(x));
          steps.push_back(std::move(xs));
        }
        samples.push_back(std::move(steps));
      }
      s["samples"] = std::move(samples);
    }
    all.push_back(std::move(s));
  }
  j["series"] = std::move(all);
  return j;
}

// ---- KServe ----

KServeRequest parse_kserve(const json& body, const ServedModels& served, const RequestLimits& limits) {
  KServeRequest k;
  k.model = pick_model(body, served);
  const ModelEntry& e = *served.at(k.model).entry;
  ForecastRequest& r = k.request;
  r.quantiles.clear();  // KServe: no quantiles asked, only the mean returned
  const json* options = field(body, "options");
  if (!options || !options->is_object()) bad("options", "options must be an object with at least \"horizon\"");
  const json* horizon = field(*options, "horizon");
  if (!horizon) bad("options.horizon", "options.horizon is missing (the number of steps to forecast)");
  r.horizon = get_int(*horizon, "options.horizon", INT32_MIN, INT32_MAX);
  for (const auto& [key, v] : options->items()) {
    const std::string p = "options." + key;
    if (key == "horizon" || v.is_null()) continue;
    if (key == "quantiles") r.quantiles = get_quantiles(v, p);
    else if (key == "num_samples") r.num_samples = get_int(v, p, INT32_MIN, INT32_MAX);
    else if (key == "seed") r.seed = get_seed(v, p);
    else if (key == "return_samples") k.return_samples = get_bool(v, p);
    else if (std::any_of(e.options.begin(), e.options.end(), [&](const ModelOption& o) { return o.name == key; }))
      r.options[key] = option_text(v, p);
    else k.ignored_options.push_back(key);  // the schema allows extra fields
  }
  check_common(r, limits, "options.horizon", "options.num_samples");
  if (const json* m = field(body, "metadata")) k.metadata = *m;
  const json* inputs = field(body, "inputs");
  if (!inputs || !inputs->is_array() || inputs->empty()) bad("inputs", "inputs must be a non-empty array of time series");
  if (static_cast<int64_t>(inputs->size()) > limits.max_series)
    throw ApiError(413, "too_many_series",
                   cat(inputs->size(), " inputs; the server takes at most ", limits.max_series, " per request (--max-series)"),
                   "inputs");
  for (size_t i = 0; i < inputs->size(); ++i) {
    const json& in = (*inputs)[i];
    const std::string p = cat("inputs[", i, "]");
    KServeInput ki;
    try {
      if (!in.is_object()) bad(p, cat(p, " must be an object, got ", type_of(in)));
      if (const json* n = field(in, "name")) ki.name = get_string(*n, p + ".name");
      else bad(p + ".name", cat(p, ".name is missing"));
      for (const KServeInput& other : k.inputs)
        if (other.name == ki.name) bad(p + ".name", cat("input name '", ki.name, "' is used twice; names must be unique"));
      const json* type = field(in, "type");
      if (!type) bad(p + ".type", cat(p, ".type is missing (univariate_time_series or multivariate_time_series)"));
      ki.type = get_string(*type, p + ".type");
      if (ki.type != "univariate_time_series" && ki.type != "multivariate_time_series")
        bad(p + ".type", cat(p, ".type must be univariate_time_series or multivariate_time_series, got '", ki.type, "'"));
      if (const json* f = field(in, "frequency")) {
        ki.frequency = get_string(*f, p + ".frequency");
        ki.step_seconds = frequency_seconds(ki.frequency);
        if (!ki.step_seconds)
          bad(p + ".frequency", cat("unknown frequency '", ki.frequency, "'; one of S, T, H, D, W, M, Q, Y (or SECOND, ..., YEAR)"));
      } else {
        bad(p + ".frequency", cat(p, ".frequency is missing"));
      }
      if (const json* st = field(in, "start_timestamp")) {
        ki.start = get_timestamp(*st, p + ".start_timestamp");
        ki.has_start = true;
      }
      const json* series = field(in, "series");
      if (!series) bad(p + ".series", cat(p, ".series is missing"));
      SeriesInput s;
      s.id = ki.name;
      bool missing = false;
      if (ki.type == "univariate_time_series") {
        std::vector<double> x;
        std::vector<uint8_t> o;
        get_values(*series, p + ".series", limits, x, o, missing);
        s.values.push_back(std::move(x));
        s.observed.push_back(std::move(o));
      } else {
        // [time][variable]: transposed into fcast's [variate][time].
        if (!series->is_array() || series->empty() || !(*series)[0].is_array() || (*series)[0].empty())
          bad(p + ".series", cat(p, ".series must be a non-empty [time][variable] array of numbers"));
        const size_t T = series->size(), V = (*series)[0].size();
        if (static_cast<int64_t>(T) > limits.max_series_length)
          throw ApiError(413, "series_too_long",
                         cat(p, ".series has ", T, " steps; the server takes at most ", limits.max_series_length,
                             " (--max-series-length)"),
                         p + ".series");
        s.values.assign(V, std::vector<double>(T));
        s.observed.assign(V, std::vector<uint8_t>(T, 1));
        std::vector<int64_t> seen(V, 0);
        for (size_t t = 0; t < T; ++t) {
          const json& row = (*series)[t];
          if (!row.is_array() || row.size() != V)
            bad(cat(p, ".series[", t, "]"), cat(p, ".series[", t, "] must be an array of ", V, " numbers"));
          for (size_t v = 0; v < V; ++v) {
            if (row[v].is_null()) {
              s.observed[v][t] = 0;
              missing = true;
            } else if (row[v].is_number()) {
              s.values[v][t] = row[v].get<double>();
              ++seen[v];
            } else {
              bad(cat(p, ".series[", t, "][", v, "]"), cat(p, ".series[", t, "][", v, "] must be a number or null"));
            }
          }
        }
        for (size_t v = 0; v < V; ++v)
          if (!seen[v]) bad(p + ".series", cat(p, ".series: variable ", v, " has no observed value"));
      }
      if (!missing) s.observed.clear();
      if (const json* names = field(in, "variate_names")) {
        if (!names->is_array() || names->size() != s.values.size())
          bad(p + ".variate_names", cat(p, ".variate_names must name the ", s.values.size(), " variable(s)"));
        for (size_t v = 0; v < names->size(); ++v) s.variate_names.push_back(get_string((*names)[v], cat(p, ".variate_names[", v, "]")));
      } else if (s.values.size() == 1 && !e.market_variates.empty()) {
        s.variate_names = {e.market_variates.front()};
      }
      ki.length = static_cast<int64_t>(s.values[0].size());
      if (ki.has_start)
        for (int64_t t = 0; t < ki.length; ++t) s.timestamps.push_back(ki.start + t * ki.step_seconds);
      ki.variate_names = s.variate_names;
      ki.request_index = static_cast<int>(r.series.size());
      r.series.push_back(std::move(s));
    } catch (const ApiError& err) {
      if (err.status != 400) throw;
      ki.error = err;
      ki.request_index = -1;
    }
    k.inputs.push_back(std::move(ki));
  }
  return k;
}

ojson kserve_response(const KServeRequest& req, const ForecastResult* res, double seconds) {
  ojson j;
  j["id"] = response_id("resp_");
  j["created_at"] = static_cast<int64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  int ok = 0;
  for (const KServeInput& in : req.inputs) ok += in.request_index >= 0 && res ? 1 : 0;
  j["status"] = ok == static_cast<int>(req.inputs.size()) ? "completed" : ok > 0 ? "partial" : "error";
  j["error"] = nullptr;
  j["model"] = req.model;
  ojson outputs = ojson::array();
  for (const KServeInput& in : req.inputs) {
    ojson o;
    o["type"] = "time_series_forecast";
    o["id"] = response_id("ts_");
    if (in.request_index < 0 || !res) {
      o["status"] = "error";
      o["content"] = ojson::array();
      o["error"] = error_json(in.error)["error"];
      outputs.push_back(std::move(o));
      continue;
    }
    const SeriesForecast& f = res->series.at(static_cast<size_t>(in.request_index));
    const int64_t H = req.request.horizon;
    const bool uni = in.type == "univariate_time_series";
    // univariate: [step]; multivariate: [step][variable].
    auto series_of = [&](const std::vector<std::vector<float>>& vh) {
      ojson a = ojson::array();
      for (int64_t h = 0; h < H; ++h) {
        if (uni) {
          a.push_back(jnum(vh[0][h]));
          continue;
        }
        ojson row = ojson::array();
        for (const auto& v : vh) row.push_back(jnum(v[h]));
        a.push_back(std::move(row));
      }
      return a;
    };
    ojson c;
    c["type"] = in.type;
    c["name"] = in.name;
    c["mean_forecast"] = series_of(f.mean);
    c["frequency"] = in.frequency;
    c["start_timestamp"] = in.has_start ? ojson(iso8601(in.start + in.length * in.step_seconds)) : ojson(nullptr);
    if (!res->quantile_levels.empty()) {
      ojson q = ojson::object();
      for (size_t k = 0; k < res->quantile_levels.size(); ++k) q[level_text(res->quantile_levels[k])] = series_of(f.quantiles[k]);
      c["quantiles"] = std::move(q);
    }
    // fcast extensions.
    c["median"] = series_of(f.median);
    c["std"] = series_of(f.std);
    c["variate_names"] = f.variate_names;
    if (req.return_samples && !f.samples.empty()) {
      ojson samples = ojson::array();  // [step][sample] (univariate) or [step][variable][sample]
      for (int64_t h = 0; h < H; ++h) {
        ojson per_var = ojson::array();
        for (const auto& v : f.samples) {
          ojson xs = ojson::array();
          for (float x : v[h]) xs.push_back(jnum(x));
          per_var.push_back(std::move(xs));
        }
        samples.push_back(uni ? per_var[0] : per_var);
      }
      c["samples"] = std::move(samples);
    }
    o["status"] = "completed";
    o["content"] = ojson::array({c});
    o["error"] = nullptr;
    outputs.push_back(std::move(o));
  }
  j["outputs"] = std::move(outputs);
  if (!req.metadata.is_null()) j["metadata"] = req.metadata;
  if (!req.ignored_options.empty()) j["ignored_options"] = req.ignored_options;
  j["seconds"] = seconds;
  return j;
}

// ---- drift ----

namespace {

ojson finite_or_null(double x) { return std::isfinite(x) ? ojson(x) : ojson(nullptr); }

ojson score_json(const DriftScore& s) {
  ojson j;
  j["id"] = s.id;
  j["status"] = s.status == DriftScore::Status::kScored ? "scored"
                : s.status == DriftScore::Status::kNoMatch ? "no_match"
                                                            : "not_found";
  if (s.status == DriftScore::Status::kNotFound) {
    j["error"] = error_json(ApiError(404, "no_forecast", s.note))["error"];
    return j;
  }
  j["origin"] = s.origin;
  j["origin_time"] = iso8601(s.origin);
  j["steps"] = s.steps;
  j["values"] = s.values;
  j["already_scored"] = s.already_scored;
  if (s.status == DriftScore::Status::kScored) {
    j["mae"] = finite_or_null(s.mae);
    j["rmse"] = finite_or_null(s.rmse);
    j["mape"] = finite_or_null(s.mape);
    j["wape"] = finite_or_null(s.wape);
    j["coverage"] = finite_or_null(s.coverage);
    j["delta"] = finite_or_null(s.delta);
  } else {
    j["note"] = s.note;
  }
  return j;
}

}  // namespace

ActualsRequest parse_actuals(const json& body, const ServedModels& served, const RequestLimits& limits) {
  ActualsRequest a;
  a.model = pick_model(body, served);
  for (const auto& [k, v] : body.items())
    if (k != "model" && k != "series") bad(k, cat("unknown field '", k, "'; fields: model, series"));
  const json* series = field(body, "series");
  if (!series || !series->is_array() || series->empty())
    bad("series", "series must be a non-empty array of {id, variates, timestamps, values}");
  if (static_cast<int64_t>(series->size()) > limits.max_series)
    throw ApiError(413, "too_many_series",
                   cat(series->size(), " series; the server takes at most ", limits.max_series, " per request (--max-series)"),
                   "series");
  for (size_t k = 0; k < series->size(); ++k) {
    const json& sj = (*series)[k];
    const std::string p = cat("series[", k, "]");
    if (!sj.is_object()) bad(p, cat(p, " must be an object, got ", type_of(sj)));
    for (const auto& [key, v] : sj.items())
      if (key != "id" && key != "variates" && key != "values" && key != "timestamps")
        bad(p + "." + key, cat("unknown field '", key, "' in ", p, "; fields: id, variates, timestamps, values"));
    SeriesActuals s;
    const json* id = field(sj, "id");
    if (!id) bad(p + ".id", cat(p, ".id is missing (the id of the forecast series these values realise)"));
    s.id = get_string(*id, p + ".id");
    if (s.id.empty()) bad(p + ".id", cat(p, ".id is empty"));
    get_series_values(sj, p, limits, s.values, s.observed, s.variate_names);
    const json* t = field(sj, "timestamps");
    if (!t) bad(p + ".timestamps", cat(p, ".timestamps is missing (one per value: they say which forecast steps these are)"));
    s.timestamps = get_timestamps(*t, p + ".timestamps", s.values[0].size());
    a.series.push_back(std::move(s));
  }
  return a;
}

ojson actuals_response(const std::string& model, const std::vector<DriftScore>& scores) {
  ojson all = ojson::array();
  int64_t scored = 0;
  for (const DriftScore& s : scores) {
    scored += s.status == DriftScore::Status::kScored ? 1 : 0;
    all.push_back(score_json(s));
  }
  return ojson{{"model", model}, {"scored_series", scored}, {"series", std::move(all)}};
}

ojson drift_report_json(const DriftModelReport& r, const DriftOptions& o) {
  ojson j;
  j["baseline_wape"] = finite_or_null(r.baseline);
  j["baseline_source"] = r.baseline_source;
  j["state"] = r.state;
  j["alert_deltas"] = r.deltas;
  j["scores"] = r.scores;
  j["scored_values"] = r.scored_values;
  j["tracked_series"] = r.tracked_series;
  j["evicted_series"] = r.evicted;
  j["max_series"] = o.max_series;
  j["window"] = o.window;
  j["rolling"] = {{"scores", r.rolling_scores},     {"mae", finite_or_null(r.mae)},
                  {"rmse", finite_or_null(r.rmse)}, {"mape", finite_or_null(r.mape)},
                  {"wape", finite_or_null(r.wape)}, {"coverage", finite_or_null(r.coverage)}};
  ojson last = ojson::array();
  for (const DriftScore& s : r.last) last.push_back(score_json(s));
  j["last_scores"] = std::move(last);
  return j;
}

}  // namespace fcast::serve

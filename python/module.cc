// fcast._fcast: the extension module under the Python package `fcast` (python/fcast/). It
// converts between numpy and the engine's types and nothing more: every forecast runs through
// the library the `fcast` executable uses (models/registry.h, include/fcast/forecast.h; Toto's
// lower-level forecaster, models/toto/forecaster.h, for id masks and batched tensors).
//
//   import fcast._fcast as _f
//   m = _f.Model("toto", {"model": "tests/data/models/toto-tiny-market"}, {})
//   r = m.forecast([{"values": closes[None, :]}], horizon=8, num_samples=64, seed=7)
//
// Thread-safety: a Model is shared by any number of Python threads. Each call borrows a session
// (models/registry.h: one thread at a time) from the model's pool, creating one when all are
// busy, and releases the GIL while the engine runs, so threads forecast in parallel.
//
// Errors: fcast::Error becomes FileNotFoundError (a missing file or folder), RuntimeError
// (internal errors, non-finite model outputs, failed writes) or ValueError (everything else: the
// request or an argument is wrong), with the engine's message unchanged.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/env.h"
#include "core/error.h"
#include "eval/aggregate.h"
#include "io/hf_cache.h"
#include "models/registry.h"
#include "models/toto/session.h"
#include "runtime/compile_cli.h"
#include "runtime/plan_cache.h"
#include "tools/compile_flags.h"

namespace py = pybind11;

namespace {

using fcast::cat;

// A missing checkpoint file or folder: FileNotFoundError in Python.
struct FileMissing : fcast::Error {
  using fcast::Error::Error;
};

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// The Python exception class for an engine error, from its message (the engine has one error type).
PyObject* python_class_of(const std::string& m) {
  if (contains(m, "does not exist") || contains(m, "(No such file or directory)") || contains(m, "' has no config.json") ||
      contains(m, "' has no model.safetensors"))
    return PyExc_FileNotFoundError;
  if (m.rfind("internal error", 0) == 0 || contains(m, "non-finite forecast") || contains(m, "cannot write"))
    return PyExc_RuntimeError;
  return PyExc_ValueError;
}

// Request options arrive as Python values; the engine reads strings ("true", "0.9", "20").
std::map<std::string, std::string> option_strings(const py::dict& d) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : d) {
    const std::string key = py::str(k);
    if (py::isinstance<py::bool_>(v)) out[key] = v.cast<bool>() ? "true" : "false";
    else out[key] = py::str(v);
  }
  return out;
}

fcast::NonFinitePolicy nonfinite_policy(const std::string& v) {
  if (v == "warn") return fcast::NonFinitePolicy::kWarn;
  FCAST_CHECK(v == "error", "nonfinite must be 'error' or 'warn', got '", v, "'");
  return fcast::NonFinitePolicy::kError;
}

// Compile overrides from a dict of Python keyword values (each wins over its variable, as a
// command-line flag does; the source map says "flag --x", which the Python layer rewords).
fcast::CompileCliValues compile_values(const py::dict& d) {
  fcast::CompileCliValues v;
  for (const auto& [k, val] : d) {
    const std::string key = py::str(k);
    if (val.is_none()) continue;
    if (key == "compile") v.base.compile = val.cast<bool>();
    else if (key == "mode") v.base.mode = py::str(val);
    else if (key == "backend") v.base.backend = py::str(val);
    else if (key == "precision") v.base.precision = py::str(val);
    else if (key == "models_dir") v.base.models_dir = py::str(val);
    else if (key == "recompile_limit") v.base.recompile_limit = val.cast<int>();
    else if (key == "kernel_cache_dir") v.kernel_cache_dir = py::str(val);
    else if (key == "debug") v.debug = val.cast<bool>();
    else if (key == "torch_logs") v.torch_logs = py::str(val);
    else if (key == "context_buckets") v.context_buckets = py::str(val);
    else if (key == "hybrid_min_batch") v.hybrid_min_batch = val.cast<int64_t>();
    else if (key == "persistent_cache") v.persistent_cache = val.cast<bool>();
    else
      fcast::fail("unknown compile setting '", key, "' (compile, mode, backend, precision, models_dir, recompile_limit, ",
                  "kernel_cache_dir, debug, torch_logs, context_buckets, hybrid_min_batch, persistent_cache)");
  }
  return v;
}

py::dict settings_dict(const fcast::CompileSettings& s) {
  auto source = [&](const char* k) {
    auto it = s.source.find(k);
    return it == s.source.end() ? std::string("default") : it->second;
  };
  py::dict d;
  auto put = [&](const char* name, py::object value) { d[name] = py::make_tuple(value, source(name)); };
  put("enabled", py::bool_(s.enabled));
  put("mode", py::str(fcast::to_string(s.mode)));
  put("backend", py::str(fcast::to_string(s.backend)));
  put("precision", py::str(fcast::to_string(s.precision)));
  put("models_dir", py::str(s.models_dir));
  put("kernel_cache_dir", py::str(s.kernel_cache_dir));
  put("recompile_limit", py::int_(s.recompile_limit));
  put("debug", py::bool_(s.debug));
  put("log_recompiles", py::bool_(s.log_recompiles));
  put("context_buckets", py::cast(s.context_buckets));
  put("hybrid_min_batch", py::int_(s.hybrid_min_batch));
  put("persistent_cache", py::bool_(s.persistent_cache));
  return d;
}

// A checkpoint part's folder, checked as `fcast predict` checks it (same messages).
std::string checkpoint_dir(const fcast::ModelEntry& e, const fcast::ModelPart& part, const std::string& given) {
  namespace fs = std::filesystem;
  const std::string flag = "--" + part.name;
  FCAST_CHECK(!given.empty(), "missing ", flag, " DIR (", part.help, "). ", e.weights_hint);
  std::string dir;
  try {
    dir = fcast::resolve_model_dir(given, flag);
  } catch (const fcast::Error& err) {
    throw FileMissing(err.what());
  }
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw FileMissing(cat(flag, " '", dir, "' does not exist. ", e.weights_hint));
  if (!fs::is_directory(dir, ec)) throw FileMissing(cat(flag, " '", dir, "' is not a directory. ", e.weights_hint));
  for (const char* f : {"config.json", "model.safetensors"})
    if (!fs::exists(fs::path(dir) / f, ec)) throw FileMissing(cat(flag, " '", dir, "' has no ", f, ". ", e.weights_hint));
  return dir;
}

// A numpy array that owns (a view of) an engine tensor: no copy of the forecast's numbers.
template <class T>
py::array_t<T> tensor_array(const fcast::Tensor& t) {
  auto* keep = new fcast::Tensor(t);
  py::capsule owner(keep, [](void* p) { delete static_cast<fcast::Tensor*>(p); });
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  return py::array_t<T>(shape, static_cast<const T*>(keep->raw()), owner);
}

// One session of the pool, with Toto's lower-level forecaster over the session's model view.
struct Slot {
  std::unique_ptr<fcast::ForecastSession> session;
  std::unique_ptr<fcast::toto::TotoForecaster> toto;
};

class Model {
 public:
  Model(const std::string& name, const std::map<std::string, std::string>& paths, const py::dict& compile)
      : entry_(&fcast::find_model(name)) {
    for (const fcast::ModelPart& p : entry_->parts) {
      auto it = paths.find(p.name);
      paths_[p.name] = checkpoint_dir(*entry_, p, it == paths.end() ? "" : it->second);
    }
    for (const auto& [part, dir] : paths) {
      bool known = false;
      for (const fcast::ModelPart& p : entry_->parts) known |= p.name == part;
      FCAST_CHECK(known, entry_->name, " has no checkpoint part '", part, "'");
    }
    settings_ = fcast::resolve_compile_cli(entry_->compile, fcast::Environment::from_process(), compile_values(compile));
    py::gil_scoped_release nogil;
    model_ = entry_->load(paths_, settings_);
  }

  const fcast::ModelEntry& entry() const { return *entry_; }
  const fcast::LoadedModel& loaded() const { return *model_; }
  const fcast::CompileSettings& settings() const { return settings_; }
  const fcast::ModelPaths& paths() const { return paths_; }

  // Borrows a session for one call (creating one when every session is busy) and returns it after.
  class Lease {
   public:
    explicit Lease(Model& m) : m_(m) {
      {
        std::lock_guard<std::mutex> lock(m_.mu_);
        if (!m_.idle_.empty()) {
          slot_ = std::move(m_.idle_.back());
          m_.idle_.pop_back();
        }
        ++m_.busy_;
      }
      if (!slot_) {
        slot_ = std::make_unique<Slot>();
        slot_->session = m_.model_->new_session();
        std::lock_guard<std::mutex> lock(m_.mu_);
        ++m_.sessions_;
      }
    }
    ~Lease() {
      std::lock_guard<std::mutex> lock(m_.mu_);
      --m_.busy_;
      m_.idle_.push_back(std::move(slot_));
    }
    Slot& slot() { return *slot_; }

   private:
    Model& m_;
    std::unique_ptr<Slot> slot_;
  };

  py::dict forecast(const py::list& series, int64_t horizon, int64_t num_samples, const std::vector<double>& quantiles,
                    uint64_t seed, const std::vector<uint64_t>& series_seeds, const py::dict& options,
                    const std::string& nonfinite, int64_t max_horizon, int64_t max_samples) {
    fcast::ForecastRequest r;
    r.horizon = horizon;
    r.num_samples = num_samples;
    r.quantiles = quantiles;
    r.seed = seed;
    r.series_seeds = series_seeds;
    r.options = option_strings(options);
    r.nonfinite = nonfinite_policy(nonfinite);
    r.limits.max_horizon = max_horizon;
    r.limits.max_samples = max_samples;
    for (const py::handle& h : series) {
      const py::dict d = py::reinterpret_borrow<py::dict>(h);
      fcast::SeriesInput s;
      if (d.contains("id") && !d["id"].is_none()) s.id = py::str(d["id"]);
      const auto values = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(d["values"]);
      FCAST_CHECK(values && values.ndim() == 2, "series values must be a 2-D array [variate, time]");
      const int64_t V = values.shape(0), T = values.shape(1);
      s.values.assign(static_cast<size_t>(V), std::vector<double>(static_cast<size_t>(T)));
      for (int64_t v = 0; v < V; ++v) std::copy_n(values.data(v, 0), T, s.values[static_cast<size_t>(v)].begin());
      if (d.contains("variate_names") && !d["variate_names"].is_none())
        s.variate_names = d["variate_names"].cast<std::vector<std::string>>();
      if (d.contains("observed") && !d["observed"].is_none()) {
        const auto obs = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(d["observed"]);
        FCAST_CHECK(obs && obs.ndim() == 2 && obs.shape(0) == V && obs.shape(1) == T,
                    "observed must be a 2-D array shaped like the values [variate, time]");
        s.observed.assign(static_cast<size_t>(V), std::vector<uint8_t>(static_cast<size_t>(T)));
        for (int64_t v = 0; v < V; ++v) std::copy_n(obs.data(v, 0), T, s.observed[static_cast<size_t>(v)].begin());
      }
      if (d.contains("timestamps") && !d["timestamps"].is_none())
        s.timestamps = d["timestamps"].cast<std::vector<int64_t>>();
      if (d.contains("future_timestamps") && !d["future_timestamps"].is_none())
        s.future_timestamps = d["future_timestamps"].cast<std::vector<int64_t>>();
      r.series.push_back(std::move(s));
    }
    fcast::ForecastResult res;
    double seconds = 0;
    {
      py::gil_scoped_release nogil;
      Lease lease(*this);
      const auto t0 = std::chrono::steady_clock::now();
      res = lease.slot().session->forecast(r);
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    py::list out;
    for (const fcast::SeriesForecast& f : res.series) {
      const py::ssize_t V = static_cast<py::ssize_t>(f.mean.size()), H = static_cast<py::ssize_t>(horizon);
      const py::ssize_t Q = static_cast<py::ssize_t>(res.quantile_levels.size());
      py::array_t<float> mean({V, H}), median({V, H}), sd({V, H}), qs({Q, V, H});
      for (py::ssize_t v = 0; v < V; ++v)
        for (py::ssize_t t = 0; t < H; ++t) {
          mean.mutable_at(v, t) = f.mean[v][t];
          median.mutable_at(v, t) = f.median[v][t];
          sd.mutable_at(v, t) = f.std[v][t];
          for (py::ssize_t q = 0; q < Q; ++q) qs.mutable_at(q, v, t) = f.quantiles[q][v][t];
        }
      py::dict s;
      s["id"] = f.id;
      s["variate_names"] = f.variate_names;
      s["timestamps"] = py::array_t<int64_t>(static_cast<py::ssize_t>(f.timestamps.size()), f.timestamps.data());
      s["mean"] = mean;
      s["median"] = median;
      s["std"] = sd;
      s["quantiles"] = qs;
      if (!f.samples.empty()) {
        const py::ssize_t N = static_cast<py::ssize_t>(f.samples[0][0].size());
        py::array_t<float> samples({V, H, N});
        float* p = samples.mutable_data();
        for (py::ssize_t v = 0; v < V; ++v)
          for (py::ssize_t t = 0; t < H; ++t) p = std::copy(f.samples[v][t].begin(), f.samples[v][t].end(), p);
        s["samples"] = samples;
      } else {
        s["samples"] = py::none();
      }
      out.append(s);
    }
    py::dict d;
    d["series"] = out;
    d["quantile_levels"] = res.quantile_levels;
    d["metadata"] = res.metadata;
    d["engine_seconds"] = seconds;
    return d;
  }

  // Toto's TotoForecaster.forecast: series F32 [B, V, T], read in place when it is a C-contiguous
  // float32 array (other layouts and dtypes are converted once).
  py::dict toto_forecast(const py::array_t<float, py::array::c_style | py::array::forcecast>& series,
                         const std::optional<py::array_t<uint8_t, py::array::c_style | py::array::forcecast>>& mask,
                         const std::optional<py::array_t<int32_t, py::array::c_style | py::array::forcecast>>& ids,
                         int64_t prediction_length, int64_t num_samples, int64_t samples_per_batch, bool use_kv_cache,
                         uint64_t seed, const std::vector<uint64_t>& row_seeds, const std::string& nonfinite) {
    FCAST_CHECK(entry_->name == "toto", "toto_forecast needs a Toto model, this is ", entry_->name);
    FCAST_CHECK(series.ndim() == 3, "series must be a 3-D array [batch, variates, time], got ", series.ndim(), " dimensions");
    auto borrow = [](fcast::DType dt, const py::array& a) {
      return fcast::Tensor::borrow(dt, fcast::Shape(a.shape(), a.shape() + a.ndim()), const_cast<void*>(a.data()), nullptr);
    };
    const fcast::Tensor x = borrow(fcast::DType::F32, series);
    std::optional<fcast::Tensor> m, i;
    if (mask) m = borrow(fcast::DType::U8, *mask);
    if (ids) i = borrow(fcast::DType::I32, *ids);
    fcast::toto::ForecastOptions o;
    o.prediction_length = prediction_length;
    o.num_samples = num_samples;
    o.samples_per_batch = samples_per_batch;
    o.use_kv_cache = use_kv_cache;
    o.seed = seed;
    o.row_seeds = row_seeds;
    o.nonfinite = nonfinite_policy(nonfinite);
    fcast::check_forecast_limits(fcast::ForecastLimits{}, "prediction_length", prediction_length, "num_samples",
                                 num_samples);
    fcast::toto::Forecast f;
    double seconds = 0;
    {
      py::gil_scoped_release nogil;
      Lease lease(*this);
      Slot& slot = lease.slot();
      if (!slot.toto) {
        auto* s = dynamic_cast<fcast::toto::TotoSession*>(slot.session.get());
        FCAST_ASSERT(s != nullptr);
        slot.toto = std::make_unique<fcast::toto::TotoForecaster>(s->model());
      }
      const auto t0 = std::chrono::steady_clock::now();
      f = slot.toto->forecast(x, m ? &*m : nullptr, i ? &*i : nullptr, o);
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    py::dict d;
    d["forecast"] = f;
    d["engine_seconds"] = seconds;
    return d;
  }

  py::list warm_up(const std::vector<int64_t>& context_lengths, const std::vector<int64_t>& num_samples,
                   int64_t horizon, int64_t variates, uint64_t seed, const py::dict& options) {
    fcast::WarmUpSpec spec = entry_->warm_up;
    if (!context_lengths.empty()) spec.context_lengths = context_lengths;
    if (!num_samples.empty()) spec.num_samples = num_samples;
    if (horizon > 0) spec.horizon = horizon;
    if (variates > 0) spec.variates = variates;
    spec.seed = seed;
    for (const auto& [k, v] : option_strings(options)) spec.options[k] = v;
    std::vector<fcast::WarmUpStep> steps;
    {
      py::gil_scoped_release nogil;
      Lease lease(*this);
      steps = lease.slot().session->warm_up(spec);
    }
    py::list out;
    for (const fcast::WarmUpStep& s : steps) {
      py::dict d;
      d["context_length"] = s.context_length;
      d["num_samples"] = s.num_samples;
      d["seconds"] = s.seconds;
      d["plans_built"] = s.delta.plans_built;
      d["cache_hits"] = s.delta.cache_hits;
      d["recompiles"] = s.delta.recompiles;
      d["description"] = s.describe();
      out.append(d);
    }
    return out;
  }

  // The `fcast predict --stats` object over the idle sessions, plus the pool's size.
  std::string stats() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<const fcast::Executor*> ex;
    for (const auto& slot : idle_)
      for (fcast::Executor* e : slot->session->executors()) ex.push_back(e);
    nlohmann::ordered_json j = fcast::tools::stats_json(entry_->compile, settings_, ex, 0.0);
    j.erase("seconds");
    j["sessions"] = sessions_;
    j["sessions_busy"] = busy_;
    j["packed_weight_bytes"] = model_->packed_weight_bytes();
    return j.dump();
  }

 private:
  const fcast::ModelEntry* entry_;
  fcast::ModelPaths paths_;
  fcast::CompileSettings settings_;
  std::shared_ptr<fcast::LoadedModel> model_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Slot>> idle_;
  int64_t sessions_ = 0, busy_ = 0;
};

}  // namespace

PYBIND11_MODULE(_fcast, m) {
  m.doc() = "fcast engine bindings; use the `fcast` package (python/fcast) rather than this module directly";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileMissing& e) {
      PyErr_SetString(PyExc_FileNotFoundError, e.what());
    } catch (const fcast::Error& e) {
      PyErr_SetString(python_class_of(e.what()), e.what());
    }
  });

  m.attr("__version__") = FCAST_VERSION;
  m.def("engine_version", &fcast::PlanCache::engine_version);
  m.def("cpu_features", &fcast::PlanCache::cpu_features);

  m.def("models", [] {
    py::list out;
    for (const fcast::ModelEntry& e : fcast::model_registry()) {
      py::dict d;
      d["name"] = e.name;
      d["summary"] = e.summary;
      py::list parts;
      for (const fcast::ModelPart& p : e.parts) parts.append(py::make_tuple(p.name, p.help));
      d["parts"] = parts;
      py::list options;
      for (const fcast::ModelOption& o : e.options) options.append(py::make_tuple(o.name, o.default_value, o.help));
      d["options"] = options;
      d["market_variates"] = e.market_variates;
      d["accepts_observed_mask"] = e.accepts_observed_mask;
      d["default_num_samples"] = e.default_num_samples;
      out.append(d);
    }
    return out;
  });

  // (model name, part) of a checkpoint folder; raises naming what each model found wrong.
  m.def("detect", [](const std::string& dir) {
    std::string part;
    const fcast::ModelEntry& e = fcast::detect_model(dir, &part);
    return py::make_tuple(e.name, part);
  });
  m.def("resolve_model_dir", [](const std::string& given, const std::string& what) {
    try {
      return fcast::resolve_model_dir(given, what);
    } catch (const fcast::Error& e) {
      throw FileMissing(e.what());
    }
  });

  m.def(
      "compile_settings",
      [](const std::string& name, const py::dict& overrides) {
        const fcast::ModelEntry& e = fcast::find_model(name);
        const fcast::Environment env = fcast::Environment::from_process();
        const fcast::CompileSettings s = fcast::resolve_compile_cli(e.compile, env, compile_values(overrides));
        py::dict d;
        d["settings"] = settings_dict(s);
        // The variables this model reads that are set, for the caller's notes.
        py::dict set;
        for (const std::string& var : fcast::compile_env_vars(e.compile))
          if (auto v = env.get(var)) set[py::str(var)] = *v;
        d["variables_set"] = set;
        d["note"] = e.compile.note;
        return d;
      },
      py::arg("name"), py::arg("overrides") = py::dict());

  m.def(
      "aggregate",
      [](const std::string& spec, const py::array_t<double, py::array::c_style | py::array::forcecast>& samples) {
        FCAST_CHECK(samples.ndim() == 2, "samples must be 2-D [sample, step]");
        const fcast::eval::AggregationSpec s = fcast::eval::parse_aggregation(spec);
        std::vector<std::vector<double>> rows(static_cast<size_t>(samples.shape(0)));
        for (py::ssize_t n = 0; n < samples.shape(0); ++n)
          rows[static_cast<size_t>(n)].assign(samples.data(n, 0), samples.data(n, 0) + samples.shape(1));
        const std::vector<double> out = fcast::eval::aggregate(s, rows);
        return py::array_t<double>(static_cast<py::ssize_t>(out.size()), out.data());
      },
      py::arg("spec"), py::arg("samples"));
  m.def("aggregation_grammar", &fcast::eval::aggregation_grammar);

  py::class_<fcast::toto::Forecast>(m, "TotoForecast")
      .def_property_readonly("mean", [](const fcast::toto::Forecast& f) { return tensor_array<float>(f.mean()); })
      .def_property_readonly("samples",
                             [](const fcast::toto::Forecast& f) -> py::object {
                               if (!f.has_samples()) return py::none();
                               return tensor_array<float>(f.samples());
                             })
      .def_property_readonly("num_samples", &fcast::toto::Forecast::num_samples)
      .def("quantile", [](const fcast::toto::Forecast& f, double q) { return tensor_array<float>(f.quantile(q)); })
      .def("std", [](const fcast::toto::Forecast& f) { return tensor_array<float>(f.std()); })
      .def_property_readonly("nonfinite_values", &fcast::toto::Forecast::nonfinite_values)
      .def_property_readonly("nonfinite_detail", &fcast::toto::Forecast::nonfinite_detail);

  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def(py::init<const std::string&, const std::map<std::string, std::string>&, const py::dict&>(), py::arg("name"),
           py::arg("paths"), py::arg("compile") = py::dict())
      .def_property_readonly("name", [](const Model& m) { return m.entry().name; })
      .def_property_readonly("paths", [](const Model& m) { return m.paths(); })
      .def_property_readonly("identity", [](const Model& m) { return m.loaded().identity(); })
      .def_property_readonly("random_weights", [](const Model& m) { return m.loaded().random_weights(); })
      .def_property_readonly("weight_file_bytes", [](const Model& m) { return m.loaded().weight_file_bytes(); })
      .def_property_readonly("settings", [](const Model& m) { return settings_dict(m.settings()); })
      .def("forecast", &Model::forecast, py::arg("series"), py::arg("horizon"), py::arg("num_samples"),
           py::arg("quantiles"), py::arg("seed"), py::arg("series_seeds"), py::arg("options"), py::arg("nonfinite"),
           py::arg("max_horizon"), py::arg("max_samples"))
      .def("toto_forecast", &Model::toto_forecast, py::arg("series"), py::arg("padding_mask"), py::arg("id_mask"),
           py::arg("prediction_length"), py::arg("num_samples"), py::arg("samples_per_batch"), py::arg("use_kv_cache"),
           py::arg("seed"), py::arg("row_seeds"), py::arg("nonfinite"))
      .def("warm_up", &Model::warm_up, py::arg("context_lengths"), py::arg("num_samples"), py::arg("horizon"),
           py::arg("variates"), py::arg("seed"), py::arg("options"))
      .def("stats", &Model::stats);
}

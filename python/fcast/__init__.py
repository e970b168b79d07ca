"""fcast: the fcast forecasting engine (Toto 1.0, Kronos, and every other registered model) from Python.

The numbers come from the same C++ library as the ``fcast`` command; this package only converts
between numpy/pandas and the engine's request and result types.

    import fcast
    model = fcast.load("tests/data/models/toto-tiny-market")        # any registered model
    f = model.forecast(closes, prediction_length=16, num_samples=128, seed=7)
    f.mean, f.quantile(0.9), f.samples                               # numpy arrays [series, variate, step(, sample)]
    df = model.predict_df(panel, id_column="symbol", timestamp_column="date", target="close",
                          prediction_length=16)                      # long format in and out

Model-specific classes shaped like the upstream Python APIs: ``fcast.toto`` (TotoPipeline,
TotoForecaster) and ``fcast.kronos`` (KronosPredictor, KronosForecastingWrapper). Dask:
``fcast.cluster``. See docs/PYTHON.md.

Thread-safety: a loaded model may be used by any number of Python threads at once; each call
runs on a session of its own (created on demand, then reused) with the GIL released.
"""
from __future__ import annotations

import json
import os
import threading

import numpy as np

try:
    from . import _fcast
except ImportError as _e:  # pragma: no cover - a source tree without a build
    raise ImportError(
        "fcast: the compiled module fcast._fcast is missing; build it with "
        "`cmake --build build --target fcast_python` and put build/python on PYTHONPATH "
        f"(see docs/PYTHON.md): {_e}"
    ) from _e

from ._frames import from_wall_seconds, wall_seconds

__version__ = _fcast.__version__
__all__ = ["load", "cached_load", "Forecaster", "Forecast", "SeriesForecast", "aggregate", "config", "compile", "models"]

_COMPILE_KEYS = ("compile", "mode", "backend", "precision", "models_dir", "recompile_limit", "kernel_cache_dir",
                 "debug", "torch_logs", "context_buckets", "hybrid_min_batch", "persistent_cache")


def models():
    """The registered models: name, summary, checkpoint parts and request options (with defaults)."""
    return _fcast.models()


def _model_info(name):
    for m in _fcast.models():
        if m["name"] == name:
            return m
    raise ValueError(f"unknown model '{name}' (registered models: {', '.join(m['name'] for m in _fcast.models())})")


def _reword_source(source):
    # The engine records a value given by a caller as "flag --x" (its command-line spelling).
    if source.startswith("flag --"):
        return "argument " + source[len("flag --"):].replace("-", "_")
    return source


def _settings_of(raw):
    return {k: {"value": v, "source": _reword_source(s)} for k, (v, s) in raw.items()}


def _paths_for(path, tokenizer=None, model=None):
    """(model name, {part: folder}) for a checkpoint folder (or Hugging Face repo id).

    A folder whose own config names no model but whose sub-folders hold the parts of one (a Kronos
    predictor/ + tokenizer/ pair) is accepted too.
    """
    path = os.fspath(path)
    resolved = _fcast.resolve_model_dir(path, "--model")
    if model is None and not os.path.exists(resolved):
        names = ", ".join(m["name"] for m in _fcast.models())
        raise FileNotFoundError(f"--model '{resolved}' does not exist (expected a checkpoint folder of one of: "
                                f"{names}, or a Hugging Face repo id found in the local cache)")
    if model is None:
        try:
            model, part = _fcast.detect(resolved)
        except ValueError:
            found = {}
            if os.path.isdir(resolved):
                for sub in sorted(os.listdir(resolved)):
                    d = os.path.join(resolved, sub)
                    if os.path.isfile(os.path.join(d, "config.json")):
                        try:
                            name, p = _fcast.detect(d)
                        except ValueError:
                            continue
                        found.setdefault(name, {})[p] = d
            complete = [n for n, parts in found.items()
                        if set(parts) == {p for p, _ in _model_info(n)["parts"]}]
            if len(complete) != 1:
                raise
            model = complete[0]
            paths = dict(found[model])
            if tokenizer is not None:
                paths["tokenizer"] = os.fspath(tokenizer)
            return model, paths
    else:
        part = "model"
    paths = {part: resolved}
    if tokenizer is not None:
        paths["tokenizer"] = os.fspath(tokenizer)
    return model, paths


def load(path, *, tokenizer=None, model=None, compile=None, compile_mode=None, compile_backend=None,
         precision=None, **compile_settings):
    """Loads a checkpoint of any registered model and returns a :class:`Forecaster`.

    path: a checkpoint folder (config.json + model.safetensors) or a Hugging Face repo id found in
        the local hub cache (offline); the model is detected from its config.json. A folder holding
        a Kronos ``predictor/`` and ``tokenizer/`` is accepted as it is.
    tokenizer: the tokenizer folder, for models that have one (Kronos), when ``path`` is the predictor.
    model: the registered model name, to skip detection (``"toto"``, ``"kronos"``, ...).
    compile, compile_mode, compile_backend, precision, and the other settings of ``fcast config``
        (models_dir, recompile_limit, kernel_cache_dir, debug, torch_logs, context_buckets,
        hybrid_min_batch, persistent_cache): None (the default) leaves each to its environment
        variable, else the engine's default; a value given here wins, as a command-line flag does.
    """
    name, paths = _paths_for(path, tokenizer, model)
    overrides = dict(compile=compile, mode=compile_mode, backend=compile_backend, precision=precision)
    for k, v in compile_settings.items():
        if k not in _COMPILE_KEYS:
            raise TypeError(f"load() got an unexpected keyword argument '{k}' (compile settings: {', '.join(_COMPILE_KEYS)})")
        overrides[k] = v
    return Forecaster(_fcast.Model(name, paths, {k: v for k, v in overrides.items() if v is not None}))


_cache_lock = threading.Lock()
_cache = {}
_cache_loads = 0


def cached_load(path, **kwargs):
    """:func:`load`, once per process for the same arguments (a Dask worker keeps its model).

    Later calls with the same arguments return the same :class:`Forecaster` (which any number of
    threads may use at once).
    """
    global _cache_loads
    key = (os.fspath(path), tuple(sorted((k, os.fspath(v) if isinstance(v, os.PathLike) else v)
                                         for k, v in kwargs.items())))
    with _cache_lock:
        f = _cache.get(key)
        if f is None:
            f = load(path, **kwargs)
            _cache[key] = f
            _cache_loads += 1
        return f


def cached_load_count():
    """How many models :func:`cached_load` has loaded in this process."""
    return _cache_loads


def aggregate(samples, spec="trimmed_mean_10", *, sample_axis=None):
    """One value per step from sample paths by an aggregation spec ("mean", "median", "p10", "p90",
    "quantile_<q>", "trimmed_mean_<f>", "lower_/upper_trimmed_mean_<f>", "mean_minus_std_<k>",
    "mean_plus_std_<k>", "quantile_plus_std_<q>_<k>", "mean_quantile_mix_<q>_<w>"; fractions above
    1 are percentages: "trimmed_mean_10").

    samples: 1-D (one step's samples, or one path) or 2-D. As the upstream aggregation does, a 1-D
        array is one column of samples, singleton axes are squeezed, and of a 2-D array the longer
        axis is the sample axis unless ``sample_axis`` says which it is.
    Returns a float64 array with one value per step.
    """
    a = np.asarray(samples, dtype=np.float64)
    if a.ndim > 2:
        a = np.squeeze(a)
    if a.ndim == 0:
        a = a.reshape(1, 1)
    elif a.ndim == 1:
        a = a.reshape(-1, 1)
    elif a.ndim != 2:
        raise ValueError(f"samples must be 1-D or 2-D after squeezing, got shape {np.shape(samples)}")
    if sample_axis is None:
        sample_axis = 0 if a.shape[0] >= a.shape[1] else 1
    if sample_axis == 1:
        a = a.T
    elif sample_axis != 0:
        raise ValueError(f"sample_axis must be 0, 1 or None, got {sample_axis}")
    return _fcast.aggregate(spec, np.ascontiguousarray(a))


def config(model=None, **overrides):
    """The effective compile settings of every registered model (or of ``model``) and where each came
    from ("default", "env VAR", "argument x"), resolved as :func:`load` resolves them.

    Returns {model: {"settings": {name: {"value", "source"}}, "notes": [...]}} plus "engine":
    {"version", "cpu_features"}. Keyword arguments are the settings :func:`load` takes.
    """
    names = [m["name"] for m in _fcast.models()]
    if model is not None:
        _model_info(model)
        names = [model]
    ov = {}
    for k, v in overrides.items():
        key = {"compile_mode": "mode", "compile_backend": "backend"}.get(k, k)
        if key not in _COMPILE_KEYS:
            raise TypeError(f"config() got an unexpected keyword argument '{k}'")
        if v is not None:
            ov[key] = v
    out = {}
    for name in names:
        raw = _fcast.compile_settings(name, ov)
        settings = _settings_of(raw["settings"])
        notes = []
        for var, value in raw["variables_set"].items():
            if not any(s["source"] == f"env {var}" for s in settings.values()):
                notes.append(f"{var}='{value}' is set but not in effect (another source decided its setting, "
                             "or compilation is off)")
        if raw["note"]:
            notes.append(raw["note"])
        out[name] = {"settings": settings, "notes": notes}
    out["engine"] = {"version": _fcast.engine_version(), "cpu_features": _fcast.cpu_features()}
    return out


def compile(forecaster, *, context_lengths=None, num_samples=None, prediction_length=None, variates=None, seed=0,
            **options):
    """Warms ``forecaster`` up (as ``fcast compile`` does): one forecast per (context length, sample
    count) so that every plan those shapes need is built (and stored in the persistent cache), then
    marks the model warm. Unset arguments take the model's defaults. Returns one dict per shape."""
    return forecaster.compile(context_lengths=context_lengths, num_samples=num_samples,
                              prediction_length=prediction_length, variates=variates, seed=seed, **options)


class SeriesForecast:
    """One series' forecast: arrays [variate, step] (samples [variate, step, sample])."""

    def __init__(self, raw, levels):
        self.id = raw["id"]
        self.variate_names = list(raw["variate_names"])
        self.timestamps = raw["timestamps"]  # wall-clock seconds of the future steps (empty without input stamps)
        self.mean = raw["mean"]
        self.median = raw["median"]
        self.std = raw["std"]
        self.samples = raw["samples"]
        self.quantile_levels = list(levels)
        self._quantiles = raw["quantiles"]

    def quantile(self, q):
        """[variate, step] at level q: a requested level as the engine computed it, else from the samples."""
        for i, level in enumerate(self.quantile_levels):
            if abs(level - q) < 1e-12:
                return self._quantiles[i]
        if self.samples is None:
            raise ValueError(f"quantile {q} was not requested (levels: {self.quantile_levels}) and a point "
                             "forecast has no samples to take it from")
        return np.quantile(self.samples, q, axis=-1).astype(np.float32)

    def __repr__(self):
        return f"SeriesForecast(id={self.id!r}, variates={self.variate_names}, steps={self.mean.shape[-1]})"


class Forecast:
    """A forecast of one or more series. ``series`` holds one :class:`SeriesForecast` each; the
    stacked arrays ``mean``, ``median``, ``std`` [series, variate, step] and ``samples``
    [series, variate, step, sample] exist when every series has as many variates."""

    def __init__(self, raw):
        self.quantile_levels = list(raw["quantile_levels"])
        self.series = [SeriesForecast(s, self.quantile_levels) for s in raw["series"]]
        self.metadata = dict(raw["metadata"])
        self.engine_seconds = raw["engine_seconds"]

    def _stack(self, name):
        parts = [getattr(s, name) for s in self.series]
        if any(p is None for p in parts):
            return None
        if len({p.shape for p in parts}) != 1:
            raise ValueError(f"the series have different variate counts; read .series[k].{name}")
        return np.stack(parts)

    mean = property(lambda self: self._stack("mean"))
    median = property(lambda self: self._stack("median"))
    std = property(lambda self: self._stack("std"))
    samples = property(lambda self: self._stack("samples"))

    def quantile(self, q):
        return np.stack([s.quantile(q) for s in self.series])

    def __len__(self):
        return len(self.series)

    def __repr__(self):
        return f"Forecast({len(self.series)} series, levels={self.quantile_levels}, metadata={self.metadata})"


def _as_series_list(series):
    """The series of a forecast call: a list of [variate, time] float arrays.

    Shapes: [time] = one series of one variate; [variate, time] = one series of several variates;
    [series, variate, time] = a batch; a list or tuple = a batch of series, each [time] or
    [variate, time] (lengths may differ).
    """
    if isinstance(series, (list, tuple)) and len(series) > 0 and np.ndim(series[0]) >= 1:
        out = []
        for k, s in enumerate(series):
            a = np.asarray(s, dtype=np.float64)
            if a.ndim == 1:
                a = a[None, :]
            if a.ndim != 2:
                raise ValueError(f"series #{k}: expected [time] or [variate, time], got shape {a.shape}")
            out.append(a)
        return out
    a = np.asarray(series, dtype=np.float64)
    if a.ndim == 1:
        return [a[None, :]]
    if a.ndim == 2:
        return [a]
    if a.ndim == 3:
        return list(a)
    raise ValueError(f"series must be [time], [variate, time], [series, variate, time] or a list of series; got shape {a.shape}")


def _per_series(value, n, what):
    if value is None:
        return [None] * n
    if n == 1 and not (isinstance(value, (list, tuple)) and len(value) == 1 and np.ndim(value[0]) >= 1):
        return [value]
    if len(value) != n:
        raise ValueError(f"{what}: {len(value)} given for {n} series")
    return list(value)


class Forecaster:
    """A loaded model of any registered kind (from :func:`load`). Shared by threads."""

    def __init__(self, model):
        self._model = model
        self.name = model.name
        self._info = _model_info(model.name)

    # -- description ------------------------------------------------------------------------
    paths = property(lambda self: self._model.paths)
    identity = property(lambda self: self._model.identity)
    random_weights = property(lambda self: self._model.random_weights)
    options = property(lambda self: {n: d for n, d, _ in self._info["options"]})

    @property
    def settings(self):
        """The compile settings this model was loaded with: {name: {"value", "source"}}."""
        return _settings_of(self._model.settings)

    def stats(self):
        """Executor counters over this model's idle sessions (``fcast predict --stats``'s object: mode,
        backend, dtype, compiled, executor, plans_built, recompiles, cache_hits, cache_misses,
        fallbacks_to_eager, runs, ...) plus the session pool's size."""
        return json.loads(self._model.stats())

    def compile(self, *, context_lengths=None, num_samples=None, prediction_length=None, variates=None, seed=0,
                **options):
        """See :func:`fcast.compile`."""
        steps = self._model.warm_up(list(context_lengths or []), list(num_samples or []), int(prediction_length or 0),
                                    int(variates or 0), int(seed), options)
        return steps

    def __repr__(self):
        return f"fcast.Forecaster({self.name}, {self.paths})"

    # -- forecasting ------------------------------------------------------------------------
    def forecast(self, series, *, prediction_length, num_samples=None, quantile_levels=(0.1, 0.5, 0.9), seed=0,
                 series_seeds=None, ids=None, variate_names=None, timestamps=None, future_timestamps=None,
                 observed=None, nonfinite="error", max_horizon=4096, max_samples=4096, **options):
        """Forecasts one or more independent series in one batched call.

        series: [time] (one series, one variate), [variate, time] (one series, several variates
            forecast jointly), [series, variate, time], or a list of series each [time] or
            [variate, time] (lengths may differ). Any float dtype; NaN is refused (use ``observed``).
        prediction_length: steps to forecast. num_samples: sample paths (None: the model's default;
            0: the point forecast). quantile_levels: levels in [0, 1]. seed / series_seeds: the same
            seed gives the same numbers, and a series gets the numbers it gets alone.
        ids, variate_names, timestamps (datetime-likes or epoch seconds), future_timestamps,
            observed (1 = observed, [variate, time]): per series (a single value for one series).
        **options: the model's request options (Toto: samples_per_batch, kv_cache; Kronos:
            temperature, top_k, top_p, max_context, clip, kv_cache).
        """
        arrays = _as_series_list(series)
        n = len(arrays)
        if num_samples is None:
            num_samples = self._info["default_num_samples"]
        ids = [None] * n if ids is None else list(ids) if isinstance(ids, (list, tuple)) else [ids]
        if len(ids) != n:
            raise ValueError(f"ids: {len(ids)} given for {n} series")
        names = variate_names
        if names is not None and (len(names) == 0 or isinstance(names[0], str)):
            names = [names] * n
        names = _per_series(names, n, "variate_names")
        stamps = _per_series(timestamps, n, "timestamps")
        futures = _per_series(future_timestamps, n, "future_timestamps")
        obs = _per_series(observed, n, "observed")
        req = []
        for k, a in enumerate(arrays):
            d = {"values": a, "id": None if ids[k] is None else str(ids[k]), "variate_names": names[k]}
            if stamps[k] is not None:
                d["timestamps"] = _stamp_seconds(stamps[k], "timestamps")
            if futures[k] is not None:
                d["future_timestamps"] = _stamp_seconds(futures[k], "future_timestamps")
            if obs[k] is not None:
                o = np.asarray(obs[k])
                d["observed"] = (o if o.ndim == 2 else o[None, :]).astype(np.uint8)
            req.append(d)
        raw = self._model.forecast(req, int(prediction_length), int(num_samples), [float(q) for q in quantile_levels],
                                   int(seed), [int(s) for s in (series_seeds or [])], options, nonfinite,
                                   int(max_horizon), int(max_samples))
        return Forecast(raw)

    def predict_df(self, df, *, id_column="item_id", timestamp_column="timestamp", target="target",
                   prediction_length, quantile_levels=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), num_samples=None,
                   seed=0, context_length=None, point="median", **options):
        """Long-format forecasting: one row per id and time step in, one row per id x target x future
        step out, every id forecast in one batched call.

        df: columns ``id_column`` (optional when the frame holds one series: then it may be absent),
            ``timestamp_column`` (datetimes, naive or time-zone-aware) and the ``target`` column(s).
            Rows may come in any order; each id is sorted by time. Missing target values are masked
            where the model takes masks (Toto), else refused.
        target: a column name, or a list of them forecast jointly (variates of one series).
        context_length: the last N rows of each id (default: the ``max_context`` option where given,
            else 512, as ``fcast predict``); 0 = every row.
        Returns a DataFrame with columns ``id_column``, ``timestamp_column``, ``target_name``,
        ``predictions`` (the median, or the mean with point="mean"), ``mean`` and one column per
        quantile level named by its value ("0.1", ...). Future stamps continue each series' own
        calendar (business days, trading sessions, else the median interval), in its time zone.
        """
        import pandas as pd

        targets = [target] if isinstance(target, str) else list(target)
        missing = [c for c in [timestamp_column, *targets] if c not in df.columns]
        if missing:
            raise ValueError(f"predict_df: column(s) {missing} not in the frame (it has: {list(df.columns)})")
        if point not in ("median", "mean"):
            raise ValueError(f"point must be 'median' or 'mean', got {point!r}")
        if context_length is None:
            context_length = int(options.get("max_context", 512))
        single = id_column not in df.columns
        if single:
            groups = [(None, df)]
        else:
            groups = list(df.groupby(id_column, sort=False))
        masks_ok = self._info["accepts_observed_mask"]
        arrays, ids, stamps, zones, observed = [], [], [], [], []
        for key, g in groups:
            secs, tz = wall_seconds(g[timestamp_column], f"{timestamp_column} of id {key!r}")
            order = np.argsort(secs, kind="stable")
            secs = secs[order]
            if len(secs) > 1 and np.any(np.diff(secs) == 0):
                raise ValueError(f"predict_df: id {key!r} has duplicate time stamps in '{timestamp_column}'")
            vals = g[targets].to_numpy(dtype=np.float64)[order].T
            if context_length:
                vals, secs = vals[:, -context_length:], secs[-context_length:]
            nan = ~np.isfinite(vals)
            obs = None
            if nan.any():
                if not masks_ok:
                    t = int(np.argwhere(nan)[0][1])
                    raise ValueError(f"predict_df: id {key!r} has a missing or non-finite target value at "
                                     f"{from_wall_seconds(secs[t:t + 1], tz)[0]}; {self.name} takes no missing values")
                obs = (~nan).astype(np.uint8)
                vals = np.where(nan, 0.0, vals)
            arrays.append(vals)
            ids.append(key)
            stamps.append(secs)
            zones.append(tz)
            observed.append(obs)
        f = self.forecast(arrays, prediction_length=prediction_length, num_samples=num_samples,
                          quantile_levels=quantile_levels, seed=seed, ids=[None if i is None else str(i) for i in ids],
                          variate_names=[targets] * len(arrays), timestamps=stamps,
                          observed=observed if any(o is not None for o in observed) else None, **options)
        frames = []
        for k, s in enumerate(f.series):
            future = from_wall_seconds(s.timestamps, zones[k])
            for v, name in enumerate(s.variate_names):
                if name not in targets:
                    continue  # a model may forecast more variates than asked for (Kronos: every bar field)
                cols = {}
                if not single:
                    cols[id_column] = [ids[k]] * len(future)
                cols[timestamp_column] = future
                cols["target_name"] = name
                cols["predictions"] = s.median[v] if point == "median" else s.mean[v]
                cols["mean"] = s.mean[v]
                for i, q in enumerate(f.quantile_levels):
                    cols[str(q)] = s._quantiles[i][v]
                frames.append(pd.DataFrame(cols))
        out = pd.concat(frames, ignore_index=True)
        out.attrs["metadata"] = f.metadata
        return out


def _stamp_seconds(stamps, what):
    a = np.asarray(stamps)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    secs, _ = wall_seconds(stamps, what)
    return secs

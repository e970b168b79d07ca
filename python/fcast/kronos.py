"""Kronos through fcast, shaped like the upstream Python APIs.

- :class:`KronosPredictor` (with :class:`Kronos` and :class:`KronosTokenizer` for the upstream
  ``from_pretrained`` lines): ``predict(df, x_timestamp, y_timestamp, pred_len, T, top_k, top_p,
  sample_count)`` and ``predict_batch(...)`` return DataFrames with the columns open, high, low,
  close, volume, amount indexed by the future time stamps; ``return_samples=True`` also returns
  every sample path.
- :class:`KronosForecastingWrapper`: the Python production wrapper's
  ``predict_series(data, timestamp_col, columns, pred_len, lookback, ...)`` returning
  ``{column: KronosForecastResult(absolute, percent, timestamps)}``, and ``predict_series_batch``.

Differences from upstream (docs/PYTHON.md): fcast runs on the CPU; draws come from fcast's seeded
generator (``seed=``); series of a batch may have different context lengths; the engine decodes
with an exact KV cache (``kv_cache=False`` recomputes the window as the reference does).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from . import load
from ._frames import wall_seconds

__all__ = ["Kronos", "KronosTokenizer", "KronosPredictor", "KronosForecastingWrapper", "KronosForecastResult"]

COLUMNS = ["open", "high", "low", "close", "volume", "amount"]


def _device_of(device):
    d = str(device or "cpu").lower()
    if d.startswith("cuda"):
        warnings.warn(f"fcast runs on the CPU; device {device!r} is ignored", RuntimeWarning, stacklevel=3)
    elif not (d.startswith("cpu") or d == "mps"):
        raise ValueError(f"device {device!r}: expected 'cpu' (or 'cuda*', which fcast runs on the CPU)")
    return "cpu"


class Kronos:
    """A Kronos predictor checkpoint folder (or Hugging Face repo id), for upstream-style code."""

    def __init__(self, path):
        self.path = str(path)

    @classmethod
    def from_pretrained(cls, path, **_):
        return cls(path)


class KronosTokenizer(Kronos):
    """A Kronos tokenizer checkpoint folder (or Hugging Face repo id)."""


def _dir_of(x):
    return x.path if isinstance(x, Kronos) else str(x)


def _timestamps(ts, what):
    """Wall-clock seconds of a pandas Series (or any datetime-like sequence) of time stamps."""
    secs, _ = wall_seconds(ts, what)
    return secs


def _prepare_frame(df, k):
    """The six bar columns of one upstream-style input frame (float64), with upstream's rules."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"series #{k}: df must be a pandas DataFrame, got {type(df).__name__}")
    cols = {str(c).lower(): c for c in df.columns}
    missing = [c for c in ("open", "high", "low", "close") if c not in cols]
    if missing:
        raise ValueError(f"series #{k}: price columns {missing} not found in the DataFrame (it has: {list(df.columns)})")
    out = {c: df[cols[c]].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")}
    if "volume" in cols:
        out["volume"] = df[cols["volume"]].to_numpy(dtype=np.float64)
        if "amount" in cols:
            out["amount"] = df[cols["amount"]].to_numpy(dtype=np.float64)
    for c, v in out.items():
        if not np.all(np.isfinite(v)):
            raise ValueError(f"series #{k}: column '{c}' holds NaN or infinite values")
    return out


class KronosPredictor:
    """Upstream KronosPredictor over fcast's Kronos.

    model, tokenizer: folders (or :class:`Kronos` / :class:`KronosTokenizer`, or Hugging Face repo ids
        in the local cache). max_context: bars the model sees per step; clip: normalised inputs are
        clipped to [-clip, clip]. compile (None: KRONOS_COMPILE / MARKETSIM_KRONOS_COMPILE decide, else on),
        compile_mode, compile_backend, precision: as :func:`fcast.load`.
    """

    def __init__(self, model, tokenizer, device=None, max_context=512, clip=5, *, compile=None, compile_mode=None,
                 compile_backend=None, precision=None, kv_cache=True):
        _device_of(device)
        self.max_context = int(max_context)
        self.clip = float(clip)
        self.kv_cache = bool(kv_cache)
        self.model = load(_dir_of(model), tokenizer=_dir_of(tokenizer), model="kronos", compile=compile,
                          compile_mode=compile_mode, compile_backend=compile_backend, precision=precision)
        self.last_engine_seconds = None

    def _run(self, dfs, xs, ys, pred_len, T, top_k, top_p, sample_count, seed):
        pred_len = int(pred_len)
        if pred_len <= 0:
            raise ValueError(f"pred_len must be positive, got {pred_len}")
        if int(sample_count) < 1:
            raise ValueError(f"sample_count must be at least 1, got {sample_count}")
        arrays, names, stamps, futures = [], [], [], []
        for k, (df, x, y) in enumerate(zip(dfs, xs, ys)):
            cols = _prepare_frame(df, k)
            xs_ = _timestamps(x, f"series #{k}: x_timestamp")
            ys_ = _timestamps(y, f"series #{k}: y_timestamp")
            if len(xs_) != len(df):
                raise ValueError(f"series #{k}: x_timestamp has {len(xs_)} stamps for {len(df)} rows")
            if len(ys_) != pred_len:
                raise ValueError(f"series #{k}: y_timestamp has {len(ys_)} stamps; pred_len is {pred_len}")
            names.append(list(cols))
            arrays.append(np.stack([cols[c] for c in cols]))
            stamps.append(xs_)
            futures.append(ys_)
        f = self.model.forecast(arrays, prediction_length=pred_len, num_samples=int(sample_count), quantile_levels=(),
                                seed=seed, variate_names=names, timestamps=stamps, future_timestamps=futures,
                                temperature=float(T), top_k=int(top_k), top_p=float(top_p),
                                max_context=self.max_context, clip=self.clip, kv_cache=self.kv_cache)
        self.last_engine_seconds = f.engine_seconds
        return f

    @staticmethod
    def _frame(s, y):
        index = y if isinstance(y, pd.Series) else pd.Series(y)
        order = [s.variate_names.index(c) for c in COLUMNS]
        return pd.DataFrame(s.mean[order].T, columns=COLUMNS, index=index)

    @staticmethod
    def _paths(s):
        order = [s.variate_names.index(c) for c in COLUMNS]
        return np.transpose(s.samples[order], (2, 1, 0))  # [sample, step, column]

    def predict(self, df, x_timestamp, y_timestamp, pred_len, T=1.0, top_k=0, top_p=0.9, sample_count=1,
                verbose=False, *, seed=0, return_samples=False):
        """A DataFrame of pred_len rows (columns open, high, low, close, volume, amount; index
        y_timestamp): the average of ``sample_count`` decoded paths. With return_samples=True,
        (frame, paths) where paths is float32 [sample_count, pred_len, 6] in the same columns."""
        f = self._run([df], [x_timestamp], [y_timestamp], pred_len, T, top_k, top_p, sample_count, seed)
        frame = self._frame(f.series[0], y_timestamp)
        return (frame, self._paths(f.series[0])) if return_samples else frame

    def predict_batch(self, df_list, x_timestamp_list, y_timestamp_list, pred_len, T=1.0, top_k=0, top_p=0.9,
                      sample_count=1, verbose=False, *, seed=0, return_samples=False):
        """predict() over several series in one batched call; a list of frames in input order (with
        return_samples=True, a list of (frame, paths)). Each series draws what it draws alone."""
        n = len(df_list)
        if len(x_timestamp_list) != n or len(y_timestamp_list) != n:
            raise ValueError(f"predict_batch: {n} frames, {len(x_timestamp_list)} x_timestamp and "
                             f"{len(y_timestamp_list)} y_timestamp series; give one of each per series")
        if n == 0:
            raise ValueError("predict_batch: no series given")
        f = self._run(df_list, x_timestamp_list, y_timestamp_list, pred_len, T, top_k, top_p, sample_count, seed)
        out = []
        for s, y in zip(f.series, y_timestamp_list):
            frame = self._frame(s, y)
            out.append((frame, self._paths(s)) if return_samples else frame)
        return out


@dataclass
class KronosForecastResult:
    """One column's forecast: absolute values, step returns chained from the last observed value
    (0 where the previous value is 0), and the future time stamps."""

    absolute: np.ndarray
    percent: np.ndarray
    timestamps: pd.DatetimeIndex
    samples: Optional[np.ndarray] = None  # [sample, step] when return_samples=True


class KronosForecastingWrapper:
    """The Python production wrapper over fcast's Kronos (see the module docstring).

    model_name / tokenizer_name: folders or Hugging Face repo ids in the local cache. The sampling
    defaults (temperature, top_p, top_k, sample_count) apply where predict_series gets None.
    device (CPU only), cache_dir, prefer_fp32: accepted for compatibility. compile: None leaves it
    to KRONOS_COMPILE (else fcast's default, on); True/False win.
    """

    def __init__(self, model_name, tokenizer_name, device="cpu", max_context=512, clip=5.0, temperature=0.75,
                 top_p=0.9, top_k=0, sample_count=8, cache_dir=None, verbose=False, prefer_fp32=False, compile=None,
                 compile_mode=None, compile_backend=None, *, seed=0):
        _device_of(device)
        self.model_name, self.tokenizer_name = str(model_name), str(tokenizer_name)
        self.max_context, self.clip = int(max_context), float(clip)
        self.temperature, self.top_p, self.top_k, self.sample_count = temperature, top_p, top_k, sample_count
        self.verbose, self.seed = verbose, seed
        self._compile = dict(compile=compile, compile_mode=compile_mode, compile_backend=compile_backend)
        self._predictor = None

    @property
    def predictor(self) -> KronosPredictor:
        """Created on first use, as upstream."""
        if self._predictor is None:
            self._predictor = KronosPredictor(self.model_name, self.tokenizer_name, max_context=self.max_context,
                                              clip=self.clip, **self._compile)
        return self._predictor

    def unload(self):
        self._predictor = None

    @staticmethod
    def _prepare(data, timestamp_col, lookback):
        if not isinstance(data, pd.DataFrame):
            raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        df = data.copy()
        df.columns = ["_".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in df.columns]
        df.columns = [c.lower() for c in df.columns]
        ts_col = str(timestamp_col).lower()
        if ts_col not in df.columns:
            raise ValueError(f"timestamp column '{timestamp_col}' not in the frame (it has: {list(data.columns)})")
        stamps = pd.to_datetime(df[ts_col], utc=True, errors="coerce")
        df = df.assign(**{ts_col: stamps}).dropna(subset=[ts_col])
        df[ts_col] = df[ts_col].dt.tz_localize(None)
        df = df.drop_duplicates(subset=[ts_col], keep="last").sort_values(ts_col)
        if lookback:
            df = df.iloc[-int(lookback):]
        if "close" not in df.columns:
            raise ValueError(f"a 'close' column is required (the frame has: {list(data.columns)})")
        for c in ("open", "high", "low"):
            if c not in df.columns:
                df[c] = df["close"]
        if "volume" not in df.columns:
            df["volume"] = 0.0
        if "amount" not in df.columns:
            df["amount"] = df["volume"] * df["close"]
        feats = df[COLUMNS].astype(np.float32).replace([np.inf, -np.inf], np.nan).ffill().bfill()
        if len(feats) < 2:
            raise ValueError(f"at least 2 rows with a time stamp are needed, got {len(feats)}")
        if feats.isna().any().any():
            bad = [c for c in COLUMNS if feats[c].isna().any()]
            raise ValueError(f"column(s) {bad} hold no finite value")
        x_ts = df[ts_col].reset_index(drop=True)
        steps = np.diff(x_ts.to_numpy().astype("datetime64[ns]").astype(np.int64))
        step = pd.Timedelta(int(np.median(steps)), unit="ns") if len(steps) else pd.Timedelta(0)
        if step <= pd.Timedelta(0):
            step = pd.Timedelta(days=1)
        return feats.reset_index(drop=True), x_ts, step

    @staticmethod
    def _results(frame, columns, last, future, paths=None):
        out = {}
        for col in columns:
            c = str(col).lower()
            if c not in COLUMNS:
                raise ValueError(f"column '{col}' is not a Kronos output ({', '.join(COLUMNS)})")
            absolute = frame[c].to_numpy(dtype=np.float64)
            prev = np.concatenate([[float(last[c])], absolute[:-1]])
            with np.errstate(divide="ignore", invalid="ignore"):
                percent = np.where(prev != 0, (absolute - prev) / np.where(prev != 0, prev, 1.0), 0.0)
            samples = None if paths is None else paths[:, :, COLUMNS.index(c)]
            out[col] = KronosForecastResult(absolute=absolute, percent=percent, timestamps=future, samples=samples)
        return out

    def _sampling(self, temperature, top_p, top_k, sample_count):
        return dict(T=self.temperature if temperature is None else temperature,
                    top_p=self.top_p if top_p is None else top_p,
                    top_k=self.top_k if top_k is None else top_k,
                    sample_count=self.sample_count if sample_count is None else sample_count)

    def predict_series(self, data, timestamp_col, columns, pred_len, lookback=None, temperature=None, top_p=None,
                       top_k=None, sample_count=None, verbose=None, *, seed=None, return_samples=False):
        """{column: KronosForecastResult} for each of ``columns`` (matched case-insensitively)."""
        return self.predict_series_batch([data], timestamp_col, columns, pred_len, lookback, temperature, top_p,
                                         top_k, sample_count, verbose, seed=seed, return_samples=return_samples)[0]

    def predict_series_batch(self, data_frames, timestamp_col, columns, pred_len, lookback=None, temperature=None,
                             top_p=None, top_k=None, sample_count=None, verbose=None, *, seed=None,
                             return_samples=False):
        """predict_series over several frames in one batched call: a list of dicts in input order."""
        if isinstance(columns, str):
            columns = [columns]
        prepared = [self._prepare(d, timestamp_col, lookback) for d in data_frames]
        futures = [pd.Series(pd.date_range(x.iloc[-1] + step, periods=int(pred_len), freq=step))
                   for _, x, step in prepared]
        res = self.predictor.predict_batch([f for f, _, _ in prepared], [x for _, x, _ in prepared], futures,
                                           pred_len=pred_len, **self._sampling(temperature, top_p, top_k, sample_count),
                                           seed=self.seed if seed is None else seed, return_samples=True)
        out = []
        for (feats, _, _), fut, (frame, paths) in zip(prepared, futures, res):
            out.append(self._results(frame, columns, feats.iloc[-1], pd.DatetimeIndex(fut),
                                     paths if return_samples else None))
        return out

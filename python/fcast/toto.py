"""Toto 1.0 through fcast, shaped like the upstream Python APIs.

- :class:`TotoPipeline`: the Python production wrapper's ``TotoPipeline.from_pretrained(...)``
  and ``.predict(context, prediction_length, num_samples, samples_per_batch=...)`` returning one
  :class:`TotoForecast` per context row, plus ``last_run_metadata``.
- :class:`TotoForecaster` and :class:`MaskedTimeseries`: upstream Toto's
  ``TotoForecaster(...).forecast(MaskedTimeseries(...), prediction_length, num_samples,
  samples_per_batch, use_kv_cache)`` returning a :class:`TotoForecastResult` (``.mean``,
  ``.median``, ``.std``, ``.samples``, ``.quantile(q)``).

Layouts: ``[variate, time]`` is one series of several variates (they share Toto's space-wise
attention); ``[batch, variate, time]`` is a batch of independent series. The pipeline's
``predict`` treats the rows of a 2-D context as variates of one series, as the production wrapper
does; ``series_axis="batch"`` forecasts them as independent series instead.

Differences from the upstream APIs (see docs/PYTHON.md): fcast runs on the CPU (a CUDA device
is accepted with a warning); random draws come from fcast's seeded generator (``seed=``), not
PyTorch's; there is no OOM retry loop (nothing to retry on the CPU), so ``last_run_metadata``
always reports the requested sizes.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import _fcast, load

__all__ = ["TotoPipeline", "TotoForecast", "TotoForecaster", "TotoForecastResult", "MaskedTimeseries"]


def _dtype_token(torch_dtype):
    """fcast precision of a torch dtype (or its name): fp32 or bf16; None = the configured default."""
    if torch_dtype is None:
        return None
    name = str(torch_dtype).replace("torch.", "").lower()
    if name in ("float32", "float", "fp32"):
        return "fp32"
    if name in ("bfloat16", "bf16"):
        return "bf16"
    raise ValueError(f"torch_dtype {torch_dtype!r}: fcast runs Toto in float32 or bfloat16 (got {name})")


def _device_of(device):
    d = str(device or "cpu").lower()
    if d.startswith("cpu") or d == "mps":
        return "cpu"
    if d.startswith("cuda"):
        warnings.warn(f"fcast runs on the CPU; device {device!r} is ignored", RuntimeWarning, stacklevel=3)
        return "cpu"
    raise ValueError(f"device {device!r}: expected 'cpu' (or 'cuda*', which fcast runs on the CPU)")


@dataclass
class TotoForecast:
    """One context row's forecast, as the production wrapper returns it.

    ``samples`` has shape (1, 1, prediction_length, num_samples); :meth:`numpy` gives
    (num_samples,) for one step and (num_samples, prediction_length) otherwise.
    """

    samples: np.ndarray

    def numpy(self) -> np.ndarray:
        s = self.samples
        while s.ndim > 2 and s.shape[0] == 1:
            s = s[0]
        if s.ndim == 2 and s.shape[0] == 1:
            return s[0]
        if s.ndim == 2:
            return s.T
        return s


@dataclass
class MaskedTimeseries:
    """Upstream Toto's input record. ``series`` is [variate, time] or [batch, variate, time];
    ``padding_mask`` (True = observed) and ``id_mask`` (variates with equal ids attend to each
    other) have its shape. The time stamps are accepted and unused, as by the released model."""

    series: Any
    padding_mask: Any = None
    id_mask: Any = None
    timestamp_seconds: Any = None
    time_interval_seconds: Any = None


class TotoForecastResult:
    """Upstream Toto's Forecast: ``mean``, ``median``, ``std`` [batch, variate, step]; ``samples``
    [batch, variate, step, sample] (None for a mean forecast); ``quantile(q)`` (linear
    interpolation between order statistics, as torch.quantile). Arrays are views of the engine's
    result, not copies."""

    def __init__(self, native, engine_seconds):
        self._f = native
        self.engine_seconds = engine_seconds

    mean = property(lambda self: self._f.mean)
    samples = property(lambda self: self._f.samples)
    median = property(lambda self: self._f.quantile(0.5))
    std = property(lambda self: self._f.std())
    num_samples = property(lambda self: self._f.num_samples)
    nonfinite_values = property(lambda self: self._f.nonfinite_values)

    def quantile(self, q):
        return self._f.quantile(float(q))


def _as_array(x, dtype):
    if x is None:
        return None
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


class TotoForecaster:
    """The lower-level forecaster over a loaded Toto model (``fcast.load`` or a path)."""

    def __init__(self, model, **load_kwargs):
        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            model = load(model, model="toto", **load_kwargs)
        if getattr(model, "name", None) != "toto":
            raise ValueError(f"TotoForecaster needs a Toto model, got {getattr(model, 'name', model)!r}")
        self.model = model

    def forecast(self, inputs, prediction_length, num_samples=None, samples_per_batch=10, use_kv_cache=True, *,
                 padding_mask=None, id_mask=None, seed=0, series_seeds=None, nonfinite="error"):
        """Forecasts ``inputs`` (a :class:`MaskedTimeseries` or an array [time], [variate, time] or
        [batch, variate, time]). num_samples None: the mean forecast; else sample paths, run
        ``samples_per_batch`` at a time (it must divide num_samples). Rows of a batch never
        interact; a row gets the numbers it gets alone with the same seed (or its series_seeds
        entry). A C-contiguous float32 series is read in place."""
        if isinstance(inputs, MaskedTimeseries):
            series, padding_mask, id_mask = inputs.series, inputs.padding_mask, inputs.id_mask
        else:
            series = inputs
        x = _as_array(series, np.float32)
        if x.ndim == 1:
            x = x[None, None, :]
        elif x.ndim == 2:
            x = x[None, :, :]
        elif x.ndim != 3:
            raise ValueError(f"series must be [time], [variate, time] or [batch, variate, time]; got shape {x.shape}")
        m = _as_array(padding_mask, np.bool_)
        i = _as_array(id_mask, np.int32)
        for name, a in (("padding_mask", m), ("id_mask", i)):
            if a is not None and a.size != x.size:
                raise ValueError(f"{name} has shape {a.shape}; the series has shape {x.shape}")
        if m is not None:
            m = m.reshape(x.shape).astype(np.uint8)
        if i is not None:
            i = i.reshape(x.shape)
        raw = self.model._model.toto_forecast(x, m, i, int(prediction_length), int(num_samples or 0),
                                              int(samples_per_batch), bool(use_kv_cache), int(seed),
                                              [int(s) for s in (series_seeds or [])], nonfinite)
        return TotoForecastResult(raw["forecast"], raw["engine_seconds"])


class TotoPipeline:
    """The production wrapper's TotoPipeline over fcast's Toto (see the module docstring)."""

    def __init__(self, model, *, device="cpu", model_dtype="float32", compile_requested=False, compile_mode=None,
                 compile_backend=None, max_oom_retries=2, min_samples_per_batch=32, min_num_samples=256):
        self.model = model
        self.forecaster = TotoForecaster(model)
        self.device = device
        self.model_dtype = model_dtype
        self.max_oom_retries = max(0, int(max_oom_retries))
        self.min_samples_per_batch = max(1, int(min_samples_per_batch))
        self.min_num_samples = max(1, int(min_num_samples))
        self._compile_requested = compile_requested
        self._compile_mode = compile_mode
        self._compile_backend = compile_backend
        self._last_run_metadata: Optional[dict] = None

    @classmethod
    def from_pretrained(cls, model_id="Datadog/Toto-Open-Base-1.0", device_map="cpu", torch_dtype=None, *,
                        compile_model=True, compile_mode=None, amp_dtype=None, amp_autocast=True, torch_compile=False,
                        compile_backend=None, cache_policy="prefer", warmup_sequence=512, force_refresh=False,
                        cache_manager=None, **kwargs):
        """Loads a Toto checkpoint (a folder, or a Hugging Face repo id in the local cache).

        compile_model / torch_compile: both False turns fcast's compilation off; torch_compile=True
            turns it on; the defaults leave it to TOTO_COMPILE / TOTO_DISABLE_COMPILE (else on).
        compile_mode ("default", "reduce-overhead", "max-autotune") and compile_backend ("inductor",
            "aot_eager"): None leaves them to their variables. torch_dtype: None/float32 or bfloat16.
        warmup_sequence: when compiling, a warm-up forecast on a context of this length (8 steps,
            64 samples, as the production wrapper does); 0 skips it.
        amp_dtype, amp_autocast, cache_policy, force_refresh, cache_manager: accepted for
        compatibility; fcast has no autocast, and its compiled plans are cached on disk by the engine.
        max_oom_retries, min_samples_per_batch, min_num_samples: kept (nothing to retry on the CPU).
        """
        device = _device_of(device_map)
        policy = str(cache_policy).lower()
        if policy not in ("prefer", "never", "only"):
            raise ValueError(f"Unrecognised cache policy '{cache_policy}'. Expected 'prefer', 'never', or 'only'.")
        pipeline_kwargs = {k: kwargs.pop(k) for k in ("max_oom_retries", "min_samples_per_batch", "min_num_samples")
                           if k in kwargs}
        if kwargs:
            warnings.warn(f"TotoPipeline.from_pretrained: ignoring {sorted(kwargs)} (model loading options of the "
                          "upstream Toto class)", RuntimeWarning, stacklevel=2)
        compile_flag = None
        if torch_compile:
            compile_flag = True
        elif not compile_model:
            compile_flag = False
        precision = _dtype_token(torch_dtype)
        model = load(model_id, model="toto", compile=compile_flag, compile_mode=compile_mode,
                     compile_backend=compile_backend, precision=precision)
        enabled = bool(model.settings["enabled"]["value"])
        pipeline = cls(model, device=device, model_dtype="bfloat16" if model.settings["precision"]["value"] == "bf16"
                       else "float32", compile_requested=enabled,
                       compile_mode=model.settings["mode"]["value"] if enabled else compile_mode,
                       compile_backend=model.settings["backend"]["value"] if enabled else compile_backend,
                       **pipeline_kwargs)
        if warmup_sequence and warmup_sequence > 0 and enabled:
            try:
                pipeline.predict(np.zeros(int(warmup_sequence), dtype=np.float32), prediction_length=8,
                                 num_samples=64, samples_per_batch=64)
            except (ValueError, RuntimeError) as e:  # best effort, as upstream
                warnings.warn(f"Toto warm-up failed (ignored): {e}", RuntimeWarning, stacklevel=2)
            pipeline._last_run_metadata = None
        return pipeline

    @property
    def compiled(self) -> bool:
        return bool(self._compile_requested)

    @property
    def last_run_metadata(self) -> Optional[dict]:
        """Details of the last predict: the production wrapper's keys, plus fcast's engine_seconds and executor."""
        return self._last_run_metadata

    def predict(self, context, prediction_length, num_samples=4096, temperature=1.0, top_k=None, top_p=None,
                **kwargs):
        """One :class:`TotoForecast` per context row.

        context: [time] or [rows, time] (list, numpy array or CPU torch tensor). The rows are
            variates of one series, as in the production wrapper, unless series_axis="batch".
        samples_per_batch (default 512, clamped to num_samples; must divide it), use_kv_cache
            (default True), seed (default 0), series_axis ("variates" or "batch"). temperature,
            top_k, top_p and time_interval_seconds are accepted and ignored, as upstream.
        """
        _ = temperature, top_k, top_p
        x = _as_array(context, np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise ValueError(f"context must be [time] or [rows, time]; got shape {x.shape} "
                             "(use forecast() for [batch, variate, time])")
        rows = x.shape[0]
        num_samples = int(num_samples)
        if num_samples <= 0:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        kwargs.pop("time_interval_seconds", None)
        samples_per_batch = max(1, min(int(kwargs.pop("samples_per_batch", 512)), num_samples))
        for k in ("max_oom_retries", "min_samples_per_batch", "min_num_samples"):
            kwargs.pop(k, None)
        use_kv_cache = bool(kwargs.pop("use_kv_cache", True))
        seed = int(kwargs.pop("seed", 0))
        axis = kwargs.pop("series_axis", "variates")
        if kwargs:
            raise TypeError(f"predict() got unexpected keyword argument(s) {sorted(kwargs)}")
        if axis == "variates":
            series = x[None, :, :]
        elif axis == "batch":
            series = x[:, None, :]
        else:
            raise ValueError(f"series_axis must be 'variates' or 'batch', got {axis!r}")
        result = self.forecaster.forecast(series, prediction_length, num_samples=num_samples,
                                          samples_per_batch=samples_per_batch, use_kv_cache=use_kv_cache, seed=seed)
        samples = result.samples
        if axis == "variates":
            samples = np.swapaxes(samples, 0, 1)  # [rows, 1, step, sample]
        self._last_run_metadata = {
            "num_samples_requested": num_samples,
            "num_samples_used": num_samples,
            "samples_per_batch_requested": samples_per_batch,
            "samples_per_batch_used": samples_per_batch,
            "torch_dtype": f"torch.{self.model_dtype}",
            "torch_compile_requested": self._compile_requested,
            "torch_compile_success": self._compile_requested,
            "torch_compile_mode": self._compile_mode,
            "torch_compile_backend": self._compile_backend,
            "batch_size": rows,
            "engine_seconds": result.engine_seconds,
        }
        return [TotoForecast(samples=samples[r:r + 1]) for r in range(rows)]

    def forecast(self, series, padding_mask=None, id_mask=None, *, prediction_length, num_samples=None,
                 samples_per_batch=10, use_kv_cache=True, seed=0, series_seeds=None, nonfinite="error"):
        """Upstream TotoForecaster.forecast on arrays: see :meth:`TotoForecaster.forecast`."""
        return self.forecaster.forecast(series, prediction_length, num_samples=num_samples,
                                        samples_per_batch=samples_per_batch, use_kv_cache=use_kv_cache,
                                        padding_mask=padding_mask, id_mask=id_mask, seed=seed,
                                        series_seeds=series_seeds, nonfinite=nonfinite)

    def unload(self) -> None:
        """Drops the model (its memory is freed once no other object holds it)."""
        self.model = None
        self.forecaster = None

"""Forecasting a panel of many series on a Dask distributed cluster.

Each worker process loads the model once (:func:`fcast.cached_load`) and keeps it for every task
it runs; a task forecasts one chunk of ids in one batched call. Every series draws from its own
random stream seeded by the call's seed, so the numbers do not depend on how the ids are chunked
or which worker runs them: a cluster gives the numbers one process gives.

    from distributed import Client, LocalCluster
    import fcast.cluster
    if __name__ == "__main__":  # worker processes are spawned and re-import the main file
        with LocalCluster(n_workers=2, threads_per_worker=1) as lc, Client(lc) as client:
            out = fcast.cluster.predict_df(client, "tests/data/models/toto-tiny-market", panel,
                                           id_column="symbol", timestamp_column="date", target="close",
                                           prediction_length=8, num_samples=64, seed=1)
"""
from __future__ import annotations

import os

import fcast

__all__ = ["predict_df", "forecast_chunk", "worker_info"]


def forecast_chunk(df, model, load_kwargs, predict_kwargs):
    """Runs on a worker: the process's cached model forecasts one chunk of the panel."""
    return fcast.cached_load(model, **load_kwargs).predict_df(df, **predict_kwargs)


def worker_info(model, load_kwargs):
    """Runs on a worker: (process id, models loaded by this process), loading ``model`` if needed."""
    fcast.cached_load(model, **load_kwargs)
    return os.getpid(), fcast.cached_load_count()


def predict_df(client, model, df, *, id_column="item_id", chunks=None, load_kwargs=None, **predict_kwargs):
    """:meth:`fcast.Forecaster.predict_df` over a Dask ``client``: the ids are split into ``chunks``
    groups (default: two per worker), each forecast by one task, and the results are concatenated
    in the order the ids first appear in ``df``.

    model: a checkpoint folder (every worker must see it); load_kwargs: :func:`fcast.load`'s
    keyword arguments (tokenizer=..., compile=...); predict_kwargs: predict_df's.
    """
    import numpy as np
    import pandas as pd

    load_kwargs = dict(load_kwargs or {})
    model = os.path.abspath(os.fspath(model)) if os.path.exists(os.fspath(model)) else os.fspath(model)
    for k in ("tokenizer",):
        if k in load_kwargs and os.path.exists(os.fspath(load_kwargs[k])):
            load_kwargs[k] = os.path.abspath(os.fspath(load_kwargs[k]))
    if id_column not in df.columns:
        raise ValueError(f"predict_df: id column '{id_column}' not in the frame (it has: {list(df.columns)})")
    ids = pd.unique(df[id_column])
    if chunks is None:
        chunks = max(1, 2 * len(client.scheduler_info().get("workers", {})))
    groups = [g for g in np.array_split(ids, min(int(chunks), len(ids))) if len(g)]
    parts = [df[df[id_column].isin(g)] for g in groups]
    kwargs = dict(predict_kwargs, id_column=id_column)
    futures = client.map(forecast_chunk, parts, model=model, load_kwargs=load_kwargs, predict_kwargs=kwargs,
                         pure=False)
    results = client.gather(futures)
    out = pd.concat(results, ignore_index=True)
    order = {k: i for i, k in enumerate(ids)}
    out = out.sort_values(id_column, key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return out

"""Concurrency: Python threads on one loaded model, and a Dask LocalCluster forecasting a panel."""
import os
import threading

import numpy as np
import pandas as pd
import pytest

from conftest import MARKET, TOTO_DIR, cli_env


def test_two_threads_give_the_serial_numbers(toto, kronos_predictor, mstr):
    rng = np.random.default_rng(5)
    toto_inputs = [100 + np.cumsum(rng.normal(size=300)) for _ in range(2)]
    ctx = mstr.iloc[-90:].reset_index(drop=True)
    fut = pd.Series(ctx["Date"].iloc[-1] + pd.to_timedelta(np.arange(1, 5), unit="D"))
    cols = ["open", "high", "low", "close", "volume"]

    def run_toto(k):
        return toto.forecast(toto_inputs[k], prediction_length=8, num_samples=32, seed=k).samples

    def run_kronos(k):
        return kronos_predictor.predict(ctx[cols], ctx["Date"], fut, pred_len=4, sample_count=2, seed=k).to_numpy()

    jobs = [(run_toto, 0), (run_toto, 1), (run_kronos, 0), (run_kronos, 1)]
    serial = [f(k) for f, k in jobs]
    results = [None] * len(jobs)
    errors = []

    def worker(i):
        try:
            for _ in range(2):
                results[i] = jobs[i][0](jobs[i][1])
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for want, got in zip(serial, results):
        np.testing.assert_array_equal(got, want)
    assert toto.stats()["sessions_busy"] == 0


def test_the_gil_is_released_while_the_engine_runs(toto):
    import time

    x = 100 + np.cumsum(np.random.default_rng(1).normal(size=512))
    box = {}

    def work():
        box["f"] = toto.forecast(x, prediction_length=64, num_samples=256, seed=3)

    t = threading.Thread(target=work)
    last, gap = time.perf_counter(), 0.0
    t.start()
    while t.is_alive():  # this loop only advances while the forecasting thread does not hold the GIL
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    t.join()
    engine = box["f"].engine_seconds
    if engine < 0.05:
        pytest.skip(f"the forecast took {engine:.3f} s: too short to tell")
    assert gap < 0.5 * engine, f"the main thread stalled {gap:.3f} s during a {engine:.3f} s forecast"


def test_dask_local_cluster_panel():
    distributed = pytest.importorskip("distributed")
    import fcast
    import fcast.cluster

    df = pd.read_csv(os.path.join(MARKET, "stocks5_daily.csv"), parse_dates=["date"])
    kw = dict(id_column="symbol", timestamp_column="date", target="close", prediction_length=4, num_samples=16,
              seed=7)
    want = fcast.load(TOTO_DIR).predict_df(df, **kw)
    # Worker processes import fcast from the same build (PYTHONPATH) and keep their caches private.
    os.environ["PYTHONPATH"] = cli_env()["PYTHONPATH"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        got = fcast.cluster.predict_df(client, TOTO_DIR, df, chunks=4, **{k: v for k, v in kw.items() if k != "id_column"},
                                       id_column="symbol")
        again = fcast.cluster.predict_df(client, TOTO_DIR, df, chunks=5, **{k: v for k, v in kw.items() if k != "id_column"},
                                         id_column="symbol")
        loads = client.run(fcast.cluster.worker_info, os.path.abspath(TOTO_DIR), {})
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(again, want)
    assert len(loads) == 2
    assert all(count == 1 for _, count in loads.values()), loads  # each worker loaded the model once

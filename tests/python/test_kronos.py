"""Kronos through Python: the numbers of `fcast predict kronos`, golden parity, the upstream shapes."""
import json
import os

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, KRONOS_DIR, MARKET, cli_json, read_safetensors

GOLDEN = os.path.join(DATA, "golden", "kronos")
COLUMNS = ["open", "high", "low", "close", "volume", "amount"]


def golden_case(name):
    manifest = json.load(open(os.path.join(GOLDEN, "manifest.json")))
    return next(c for c in manifest["cases"] if c["name"] == name)


def golden_inputs(spec):
    data = pd.read_csv(os.path.join(GOLDEN, "data", "regression_input.csv"), parse_dates=["timestamps"])
    a, n = spec["row_start"], spec["context_len"]
    df = data.iloc[a:a + n][spec["columns_present"]].reset_index(drop=True)
    x = data["timestamps"].iloc[a:a + n].reset_index(drop=True)
    return df, x, data, a + n


@pytest.mark.parametrize("name", ["greedy_tiny_c64_p8_mc128", "novol_tiny_c64_p8_mc128", "batch_tiny_3series_c64_p8_n2"])
def test_golden_predict(name):
    from fcast.kronos import Kronos, KronosPredictor, KronosTokenizer

    case = golden_case(name)
    args = case["args"]
    models = os.path.join(GOLDEN, "models", case["models"])
    predictor = KronosPredictor(Kronos.from_pretrained(os.path.join(models, "predictor")),
                                KronosTokenizer.from_pretrained(os.path.join(models, "tokenizer")), device="cpu",
                                max_context=args["max_context"], clip=5)
    P = args["pred_len"]
    dfs, xs, ys = [], [], []
    for spec in args["series"]:
        df, x, data, end = golden_inputs(spec)
        dfs.append(df)
        xs.append(x)
        ys.append(data["timestamps"].iloc[end:end + P].reset_index(drop=True))
    kw = dict(pred_len=P, T=args["T"], top_k=args["top_k"], top_p=args["top_p"], sample_count=args["sample_count"])
    if case["kind"] == "predict":
        got = [predictor.predict(dfs[0], xs[0], ys[0], **kw)]
        outputs = [f"{name}_output.csv"]
    else:
        got = predictor.predict_batch(dfs, xs, ys, **kw)
        outputs = [f"{name}_output_series{k}.csv" for k in range(len(dfs))]
    x_std = read_safetensors(os.path.join(GOLDEN, case["file"]))["x_std"]
    for k, (frame, out) in enumerate(zip(got, outputs)):
        want = pd.read_csv(os.path.join(GOLDEN, "cases", out), parse_dates=["timestamps"])
        assert list(frame.columns) == COLUMNS
        assert list(frame.index) == list(want["timestamps"])
        # The manifest's rule for output frames: |a-b| <= 1e-5*(x_std+1e-5) + 1e-6*|b| per column.
        b = want[COLUMNS].to_numpy(np.float64)
        bound = 1e-5 * (x_std[k].astype(np.float64) + 1e-5) + 1e-6 * np.abs(b)
        assert (np.abs(frame.to_numpy(np.float64) - b) <= bound).all(), f"{name} series {k}"


def test_same_numbers_as_cli(kronos_predictor, mstr):
    doc = cli_json("predict", "kronos", "-m", os.path.join(KRONOS_DIR, "predictor"), "--tokenizer",
                   os.path.join(KRONOS_DIR, "tokenizer"), "-i", os.path.join(MARKET, "MSTR.csv"), "-n", 4,
                   "--num-samples", 3, "--seed", 3, "--max-context", 64, "--context", 100)
    ctx = mstr.iloc[-100:].reset_index(drop=True)
    rows = doc["forecast"]
    future = pd.Series(pd.to_datetime(sorted({r["timestamp"] for r in rows})))
    frame = kronos_predictor.predict(ctx[["open", "high", "low", "close", "volume"]], ctx["Date"], future, pred_len=4,
                                     sample_count=3, seed=3)
    for col in ("open", "high", "low", "close", "volume"):
        want = [r["mean"] for r in sorted(rows, key=lambda r: r["step"]) if r["variate"] == col]
        np.testing.assert_allclose(frame[col], want, rtol=2e-6, atol=1e-6, err_msg=col)
    # The generic loader, whose future stamps continue the series' calendar as the CLI's do.
    import fcast

    model = fcast.load(KRONOS_DIR)
    out = model.predict_df(ctx, timestamp_column="Date", target=["open", "high", "low", "close", "volume"],
                           prediction_length=4,
                           num_samples=3, seed=3, context_length=100, max_context=64)
    close = out[out["target_name"] == "close"]
    np.testing.assert_allclose(close["mean"], frame["close"], rtol=2e-6)
    assert list(close["Date"]) == list(future)


def test_batch_samples_and_wrapper(kronos_predictor, mstr):
    from fcast.kronos import KronosForecastingWrapper

    a = mstr.iloc[-80:].reset_index(drop=True)
    b = mstr.iloc[-200:-120].reset_index(drop=True)
    cols = ["open", "high", "low", "close", "volume"]
    fut = lambda d: pd.Series(d["Date"].iloc[-1] + pd.to_timedelta(np.arange(1, 6), unit="D"))
    kw = dict(pred_len=5, T=0.7, top_k=0, top_p=0.9, sample_count=4, seed=8)
    alone = kronos_predictor.predict(b[cols], b["Date"], fut(b), **kw)
    both = kronos_predictor.predict_batch([a[cols], b[cols]], [a["Date"], b["Date"]], [fut(a), fut(b)], **kw)
    pd.testing.assert_frame_equal(both[1], alone)
    frame, paths = kronos_predictor.predict(b[cols], b["Date"], fut(b), return_samples=True, **kw)
    assert paths.shape == (4, 5, 6)
    np.testing.assert_allclose(paths.mean(axis=0)[:, 3], frame["close"], rtol=1e-4)

    w = KronosForecastingWrapper(os.path.join(KRONOS_DIR, "predictor"), os.path.join(KRONOS_DIR, "tokenizer"),
                                 max_context=64, temperature=0.7, top_p=0.9, top_k=0, sample_count=4, seed=8)
    res = w.predict_series(b.rename(columns={"close": "Close"}), "Date", ["Close", "low"], pred_len=5)
    assert set(res) == {"Close", "low"}
    r = res["Close"]
    assert r.absolute.dtype == np.float64 and r.absolute.shape == (5,)
    # The wrapper fills amount = volume x close (the predictor alone: volume x mean price) in float32.
    filled = b[cols].assign(amount=b["volume"] * b["close"]).astype(np.float32)
    expect = kronos_predictor.predict(filled, b["Date"], fut(b), **kw)
    np.testing.assert_allclose(r.absolute, expect["close"], rtol=1e-6)
    last = float(b["close"].iloc[-1])
    np.testing.assert_allclose(r.percent[0], (r.absolute[0] - last) / last, rtol=1e-6)
    np.testing.assert_allclose(r.percent[1:], np.diff(r.absolute) / r.absolute[:-1], rtol=1e-6)
    assert list(r.timestamps) == list(fut(b))  # the last stamp plus the median step (a day)
    batch = w.predict_series_batch([a, b], "Date", ["close"], pred_len=5)
    np.testing.assert_allclose(batch[1]["close"].absolute, r.absolute, rtol=1e-6)


def test_bad_inputs(kronos_predictor, mstr):
    import fcast
    from fcast.kronos import KronosPredictor

    ctx = mstr.iloc[-50:].reset_index(drop=True)
    fut = pd.Series(ctx["Date"].iloc[-1] + pd.to_timedelta(np.arange(1, 4), unit="D"))
    with pytest.raises(ValueError, match=r"price columns \['open'\] not found"):
        kronos_predictor.predict(ctx[["high", "low", "close"]], ctx["Date"], fut, pred_len=3)
    with pytest.raises(ValueError, match="y_timestamp has 3 stamps; pred_len is 4"):
        kronos_predictor.predict(ctx[["open", "high", "low", "close"]], ctx["Date"], fut, pred_len=4)
    bad = ctx.copy()
    bad.loc[5, "close"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        kronos_predictor.predict(bad[["open", "high", "low", "close"]], bad["Date"], fut, pred_len=3)
    with pytest.raises(ValueError, match="temperature"):
        kronos_predictor.predict(ctx[["open", "high", "low", "close"]], ctx["Date"], fut, pred_len=3, T=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        KronosPredictor("/nonexistent/predictor", os.path.join(KRONOS_DIR, "tokenizer"))
    with pytest.raises(ValueError, match="no timestamps"):
        fcast.load(KRONOS_DIR).forecast(ctx["close"].to_numpy(), prediction_length=2, variate_names=["close"])

"""Toto through Python: the numbers of `fcast predict toto`, golden parity, the upstream shapes."""
import os

import numpy as np
import pytest

from conftest import DATA, MARKET, TOTO_DIR, cli_json, read_safetensors, within

GOLDEN = os.path.join(DATA, "golden", "toto")


def cli_rows(doc, symbol=None):
    rows = [r for r in doc["forecast"] if symbol is None or r["symbol"] == symbol]
    return sorted(rows, key=lambda r: (r["symbol"], r["step"]))


def test_same_numbers_as_cli(toto, mstr):
    doc = cli_json("predict", "toto", "-m", TOTO_DIR, "-i", os.path.join(MARKET, "MSTR.csv"), "-n", 8,
                   "--num-samples", 32, "--samples-per-batch", 16, "--seed", 5)
    closes = mstr["close"].to_numpy()[-512:]
    f = toto.forecast(closes, prediction_length=8, num_samples=32, seed=5, samples_per_batch=16)
    rows = cli_rows(doc)
    assert len(rows) == 8
    for name, got in (("mean", f.mean), ("median", f.median), ("std", f.std), ("q0.1", f.quantile(0.1)),
                      ("q0.9", f.quantile(0.9))):
        want = np.array([r[name] for r in rows])
        np.testing.assert_allclose(got[0, 0], want, rtol=2e-6, atol=1e-6, err_msg=name)
    assert f.samples.shape == (1, 1, 8, 32)


def test_predict_df_matches_cli_for_every_symbol(toto):
    import pandas as pd

    path = os.path.join(MARKET, "stocks5_daily.csv")
    doc = cli_json("predict", "toto", "-m", TOTO_DIR, "-i", path, "--symbol", "all", "-n", 4, "--num-samples", 16,
                   "--seed", 11)
    df = pd.read_csv(path, parse_dates=["date"])
    out = toto.predict_df(df, id_column="symbol", timestamp_column="date", target="close", prediction_length=4,
                          num_samples=16, seed=11, quantile_levels=(0.1, 0.5, 0.9))
    assert list(out.columns) == ["symbol", "date", "target_name", "predictions", "mean", "0.1", "0.5", "0.9"]
    assert list(pd.unique(out["symbol"])) == list(pd.unique(df["symbol"]))
    for sym, g in out.groupby("symbol", sort=False):
        rows = cli_rows(doc, sym)
        np.testing.assert_allclose(g["mean"], [r["mean"] for r in rows], rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(g["0.9"], [r["q0.9"] for r in rows], rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(g["predictions"], [r["median"] for r in rows], rtol=2e-6, atol=1e-6)
        assert [t.strftime("%Y-%m-%d") for t in g["date"]] == [r["timestamp"] for r in rows]


@pytest.mark.parametrize("model", ["tiny_a", "tiny_b"])
def test_golden_generate_mean(model):
    from fcast.toto import MaskedTimeseries, TotoForecaster

    fc = TotoForecaster(os.path.join(GOLDEN, "models", model))
    tol = 5e-4  # the manifest's multi_step tolerance
    case = read_safetensors(os.path.join(GOLDEN, "cases", model, "case3_generate_mean.safetensors"))
    inputs = MaskedTimeseries(case["raw_series"], case["raw_padding_mask"].astype(bool), case["raw_id_mask"])
    for kv, want in ((True, case["mean_kv"]), (False, case["mean_nokv"])):
        got = fc.forecast(inputs, prediction_length=want.shape[-1], num_samples=None, use_kv_cache=kv).mean
        assert got.shape == want.shape
        assert within(got, want, tol).all(), f"{model} use_kv_cache={kv}: worst {np.max(np.abs(got - want))}"
    case = read_safetensors(os.path.join(GOLDEN, "cases", model, "case5_multivariate_idmask.safetensors"))
    for kv, want in ((True, case["forecast_mean_kv"]), (False, case["forecast_mean_nokv"])):
        got = fc.forecast(case["series"], prediction_length=want.shape[-1], use_kv_cache=kv,
                          padding_mask=case["padding_mask"], id_mask=case["id_mask"]).mean
        assert within(got, want, tol).all(), f"{model} id mask, use_kv_cache={kv}"


def test_pipeline_shapes_and_metadata():
    from fcast.toto import TotoPipeline

    p = TotoPipeline.from_pretrained(TOTO_DIR, warmup_sequence=0)
    ctx = np.sin(np.arange(200) / 7.0).astype(np.float32) + 10
    one = p.predict(ctx, prediction_length=1, num_samples=16, samples_per_batch=8)
    assert len(one) == 1 and one[0].samples.shape == (1, 1, 1, 16) and one[0].numpy().shape == (16,)
    many = p.predict(np.stack([ctx, ctx * 2, ctx + 1]), prediction_length=4, num_samples=16)
    assert len(many) == 3 and many[0].numpy().shape == (16, 4) and many[2].samples.shape == (1, 1, 4, 16)
    md = p.last_run_metadata
    for key in ("num_samples_requested", "num_samples_used", "samples_per_batch_requested", "samples_per_batch_used",
                "torch_dtype", "torch_compile_requested", "torch_compile_success", "torch_compile_mode",
                "torch_compile_backend", "batch_size"):
        assert key in md
    assert md["batch_size"] == 3 and md["samples_per_batch_used"] == 16 and md["torch_dtype"] == "torch.float32"
    # Rows as variates of one series (the production wrapper) vs as independent series.
    low = p.forecast(np.stack([ctx, ctx * 2, ctx + 1]), prediction_length=4, num_samples=16, samples_per_batch=16)
    np.testing.assert_array_equal(many[1].samples[0, 0], low.samples[0, 1])
    alone = p.predict(ctx * 2, prediction_length=4, num_samples=16)
    batch = p.predict(np.stack([ctx, ctx * 2]), prediction_length=4, num_samples=16, series_axis="batch")
    np.testing.assert_array_equal(batch[1].samples, alone[0].samples)


def test_forecast_result_statistics(toto):
    from fcast.toto import TotoForecaster

    x = (np.cumsum(np.random.default_rng(3).normal(size=(2, 1, 96)), axis=-1) + 50).astype(np.float32)
    r = TotoForecaster(toto).forecast(x, prediction_length=5, num_samples=64, samples_per_batch=32, seed=9)
    assert r.samples.shape == (2, 1, 5, 64) and r.mean.shape == (2, 1, 5)
    np.testing.assert_allclose(r.mean, r.samples.mean(-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r.std, r.samples.std(-1, ddof=1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r.quantile(0.25), np.quantile(r.samples, 0.25, axis=-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r.median, np.quantile(r.samples, 0.5, axis=-1), rtol=1e-5, atol=1e-5)
    again = TotoForecaster(toto).forecast(x, prediction_length=5, num_samples=64, samples_per_batch=32, seed=9)
    np.testing.assert_array_equal(r.samples, again.samples)


def test_aggregate_config_compile_stats(toto):
    import fcast

    s = np.random.default_rng(1).normal(size=(100, 3))
    srt = np.sort(s, axis=0)
    np.testing.assert_allclose(fcast.aggregate(s, "trimmed_mean_10"), srt[10:90].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(fcast.aggregate(s.T, "mean"), s.mean(axis=0), rtol=1e-12)  # longer axis = samples
    np.testing.assert_allclose(fcast.aggregate(s[:, 0], "p90"), [np.quantile(s[:, 0], 0.9)], rtol=1e-12)
    with pytest.raises(ValueError, match="nonsense"):
        fcast.aggregate(s, "nonsense")

    cfg = fcast.config()
    assert {"toto", "kronos", "engine"} <= set(cfg)
    assert cfg["toto"]["settings"]["mode"]["source"] in ("default", "env TOTO_COMPILE_MODE", "env REAL_TOTO_COMPILE_MODE")
    cfg = fcast.config("toto", compile_mode="reduce-overhead")
    assert cfg["toto"]["settings"]["mode"] == {"value": "reduce-overhead", "source": "argument compile_mode"}

    steps = fcast.compile(toto, context_lengths=[64], num_samples=[16], prediction_length=16)
    assert len(steps) == 1 and steps[0]["context_length"] == 64
    st = toto.stats()
    assert st["family"] == "toto" and st["runs"] > 0 and st["sessions"] >= 1


def test_bad_inputs(toto):
    import fcast
    from fcast.toto import TotoPipeline

    with pytest.raises(FileNotFoundError, match="does not exist"):
        fcast.load("/nonexistent/toto-folder", model="toto")
    with pytest.raises(ValueError, match="non-finite"):
        toto.forecast(np.array([1.0, np.nan, 3.0] * 10), prediction_length=2, num_samples=0)
    with pytest.raises(ValueError, match="must divide num_samples"):
        toto.forecast(np.arange(40.0), prediction_length=2, num_samples=30, samples_per_batch=16)
    with pytest.raises(ValueError, match="unknown option 'temprature'"):
        toto.forecast(np.arange(40.0), prediction_length=2, temprature=1)
    with pytest.raises(ValueError, match="prediction_length|horizon"):
        toto.forecast(np.arange(40.0), prediction_length=0)
    with pytest.raises(ValueError, match="max_samples|FCAST_MAX_SAMPLES"):
        toto.forecast(np.arange(40.0), prediction_length=2, num_samples=8192)
    p = TotoPipeline(toto)
    with pytest.raises(TypeError, match="unexpected keyword"):
        p.predict(np.arange(40.0), prediction_length=2, num_samples=8, not_an_option=1)
    with pytest.raises(ValueError, match="context must be"):
        p.predict(np.zeros((2, 2, 40)), prediction_length=2, num_samples=8)
    with pytest.raises(ValueError, match="torch_dtype"):
        TotoPipeline.from_pretrained(TOTO_DIR, torch_dtype="float16")


def test_errors_carry_the_cli_message(tmp_path):
    import fcast

    from conftest import run_cli

    missing = str(tmp_path / "no-such-model")
    p = run_cli("predict", "toto", "-m", missing, "-i", os.path.join(MARKET, "MSTR.csv"), check=False)
    assert p.returncode != 0
    with pytest.raises(FileNotFoundError) as e:
        fcast.load(missing, model="toto")
    assert str(e.value) in p.stderr

    p = run_cli("predict", "toto", "-m", TOTO_DIR, "-i", os.path.join(MARKET, "MSTR.csv"), "--num-samples", 30,
                "--samples-per-batch", 16, check=False)
    with pytest.raises(ValueError) as e:
        fcast.load(TOTO_DIR).forecast(np.arange(40.0), prediction_length=2, num_samples=30, samples_per_batch=16)
    assert str(e.value) in p.stderr

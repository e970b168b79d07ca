"""Toto 2.0 through the generic API: `fcast.load` detects it, predict_df gives the numbers of
`fcast predict toto2`, and what needs sample paths is refused with the CLI's message."""
import os

import numpy as np
import pandas as pd
import pytest

import fcast
from conftest import DATA, MARKET, cli_json

TINY_A = os.path.join(DATA, "golden", "toto2", "models", "tiny_a")


@pytest.fixture(scope="module")
def toto2():
    return fcast.load(TINY_A, compile=False)


def test_predict_df_matches_cli(toto2):
    path = os.path.join(MARKET, "stocks5_daily.csv")
    doc = cli_json("predict", "toto2", "-m", TINY_A, "-i", path, "--symbol", "all", "-n", 5, "--quantiles",
                   "0.05,0.5,0.95", "--no-compile")
    df = pd.read_csv(path, parse_dates=["date"])
    out = toto2.predict_df(df, id_column="symbol", timestamp_column="date", target="close", prediction_length=5,
                           quantile_levels=(0.05, 0.5, 0.95))
    for sym, g in out.groupby("symbol", sort=False):
        rows = sorted((r for r in doc["forecast"] if r["symbol"] == sym), key=lambda r: r["step"])
        assert len(rows) == 5
        np.testing.assert_allclose(g["predictions"], [r["median"] for r in rows], rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(g["0.05"], [r["q0.05"] for r in rows], rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(g["0.95"], [r["q0.95"] for r in rows], rtol=2e-6, atol=1e-6)
        assert (g["0.05"].to_numpy() <= g["0.5"].to_numpy()).all()
        assert (g["0.5"].to_numpy() <= g["0.95"].to_numpy()).all()


def test_quantiles_not_samples(toto2):
    x = 100 + np.cumsum(np.random.default_rng(1).normal(size=80))
    f = toto2.forecast(x, prediction_length=7, quantile_levels=[0.1, 0.5, 0.9])
    np.testing.assert_array_equal(f.median, f.quantile(0.5))
    with pytest.raises(ValueError, match="num_samples 0"):
        toto2.forecast(x, prediction_length=7, num_samples=8)

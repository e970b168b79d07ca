"""pandas round trips: long-format frames in and out, time zones, daily and intraday stamps."""
import numpy as np
import pandas as pd
import pytest


def panel(stamps, ids=("A", "B", "C"), seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for k, i in enumerate(ids):
        v = 100 + k * 10 + np.cumsum(rng.normal(size=len(stamps)))
        frames.append(pd.DataFrame({"item_id": i, "timestamp": stamps, "target": v, "other": v * 2}))
    return pd.concat(frames, ignore_index=True)


def test_daily_business_days(toto):
    stamps = pd.bdate_range("2024-01-01", periods=60)  # ends on a Friday
    df = panel(stamps)
    out = toto.predict_df(df.sample(frac=1, random_state=3), prediction_length=3, num_samples=16, seed=2)
    assert list(pd.unique(out["item_id"])) == list(pd.unique(df.sample(frac=1, random_state=3)["item_id"]))
    g = out[out["item_id"] == "A"]
    assert list(g["timestamp"]) == list(pd.bdate_range(stamps[-1] + pd.Timedelta(days=1), periods=3))
    assert list(out.columns[:5]) == ["item_id", "timestamp", "target_name", "predictions", "mean"]
    assert [c for c in out.columns[5:]] == [str(q) for q in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    # Rows in any order, ids batched: each id gets what it gets alone.
    alone = toto.predict_df(df[df["item_id"] == "B"], prediction_length=3, num_samples=16, seed=2)
    np.testing.assert_array_equal(out[out["item_id"] == "B"]["mean"].to_numpy(), alone["mean"].to_numpy())


def test_time_zones_and_intraday(toto, kronos_predictor):
    import fcast

    local = pd.date_range("2024-03-04 09:30", periods=78, freq="5min", tz="America/New_York")
    df = panel(local, ids=("X",))
    out = toto.predict_df(df, prediction_length=4, num_samples=8, seed=1)
    assert str(out["timestamp"].dt.tz) == "America/New_York"
    assert list(out["timestamp"]) == list(local[-1] + pd.Timedelta(minutes=5) * np.arange(1, 5))
    # The same instants in UTC: Toto reads no calendar, so the numbers are the same; the stamps keep UTC.
    utc = df.assign(timestamp=df["timestamp"].dt.tz_convert("UTC"))
    out_utc = toto.predict_df(utc, prediction_length=4, num_samples=8, seed=1)
    np.testing.assert_array_equal(out_utc["mean"].to_numpy(), out["mean"].to_numpy())
    assert str(out_utc["timestamp"].dt.tz) == "UTC"
    assert list(out_utc["timestamp"]) == list(out["timestamp"].dt.tz_convert("UTC"))
    # Kronos reads the wall clock: aware stamps give what their naive local wall-clock time gives.
    kronos = fcast.load(kronos_predictor.model.paths["model"], tokenizer=kronos_predictor.model.paths["tokenizer"])
    bars = df.rename(columns={"target": "close"})
    aware = kronos.predict_df(bars, target="close", prediction_length=3, num_samples=1, seed=4, max_context=64)
    naive = kronos.predict_df(bars.assign(timestamp=bars["timestamp"].dt.tz_localize(None)), target="close",
                              prediction_length=3, num_samples=1, seed=4, max_context=64)
    np.testing.assert_array_equal(aware["mean"].to_numpy(), naive["mean"].to_numpy())
    assert list(aware["timestamp"].dt.tz_localize(None)) == list(naive["timestamp"])


def test_several_targets_and_missing_values(toto):
    stamps = pd.date_range("2024-01-01", periods=50, freq="D")
    df = panel(stamps, ids=("A", "B"))
    out = toto.predict_df(df, target=["target", "other"], prediction_length=2, num_samples=8,
                          quantile_levels=(0.5,))
    assert len(out) == 2 * 2 * 2 and set(out["target_name"]) == {"target", "other"}
    holes = df.copy()
    holes.loc[10, "target"] = np.nan
    masked = toto.predict_df(holes, prediction_length=2, num_samples=8)  # Toto masks missing values
    assert np.isfinite(masked["mean"]).all()


def test_bad_frames(toto):
    df = panel(pd.date_range("2024-01-01", periods=30, freq="D"), ids=("A",))
    with pytest.raises(ValueError, match=r"column\(s\) \['price'\] not in the frame"):
        toto.predict_df(df, target="price", prediction_length=2)
    dup = pd.concat([df, df.iloc[[3]]])
    with pytest.raises(ValueError, match="duplicate time stamps"):
        toto.predict_df(dup, prediction_length=2)
    with pytest.raises(ValueError, match="cannot read as date-times"):
        toto.predict_df(df.assign(timestamp="not a date"), prediction_length=2)

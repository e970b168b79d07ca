"""Shared fixtures of the Python package's tests.

The package is imported from <build>/python (FCAST_BUILD_DIR, default build/), the layout
`cmake --build build` writes; the `fcast` executable of the same build is the reference the
numbers are compared with. Compile caches go to a temporary folder, not the user's.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("FCAST_BUILD_DIR", os.path.join(ROOT, "build")))
DATA = os.path.join(ROOT, "tests", "data")
MARKET = os.path.join(DATA, "market")
TOTO_DIR = os.path.join(DATA, "models", "toto-tiny-market")
KRONOS_DIR = os.path.join(DATA, "models", "kronos-tiny-market")
FCAST_BIN = os.path.join(BUILD, "fcast")

_CACHE = tempfile.mkdtemp(prefix="fcast-pytest-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
os.environ["COMPILED_MODELS_DIR"] = os.path.join(_CACHE, "compiled_models")
os.environ.setdefault("OMP_NUM_THREADS", "2")

if os.path.join(BUILD, "python") not in sys.path:
    sys.path.insert(0, os.path.join(BUILD, "python"))

try:
    import fcast  # noqa: F401
except ImportError as e:  # reported once, by every test
    _IMPORT_ERROR = str(e)
else:
    _IMPORT_ERROR = None


def pytest_collection_modifyitems(config, items):
    if _IMPORT_ERROR is None:
        return
    skip = pytest.mark.skip(reason=f"the fcast module is not built in {BUILD}/python: {_IMPORT_ERROR}")
    for item in items:
        item.add_marker(skip)


def cli_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(BUILD, "python")
    return env


def run_cli(*args, check=True):
    """Runs the fcast executable of the same build; returns the CompletedProcess."""
    if not os.path.exists(FCAST_BIN):
        pytest.skip(f"{FCAST_BIN} is not built")
    p = subprocess.run([FCAST_BIN, *map(str, args)], capture_output=True, text=True, env=cli_env())
    if check and p.returncode != 0:
        raise AssertionError(f"fcast {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p


def cli_json(*args):
    return json.loads(run_cli(*args, "--format", "json", "--quiet").stdout)


_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """{name: array} of a safetensors file (u64 header length, JSON header, raw little-endian data)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def within(got, want, tol):
    """|got - want| <= tol * (|want| + 1) elementwise (the golden manifests' rule)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return np.abs(got - want) <= tol * (np.abs(want) + 1)


@pytest.fixture(scope="session")
def toto():
    import fcast

    return fcast.load(TOTO_DIR)


@pytest.fixture(scope="session")
def kronos_predictor():
    from fcast.kronos import KronosPredictor

    return KronosPredictor(os.path.join(KRONOS_DIR, "predictor"), os.path.join(KRONOS_DIR, "tokenizer"), max_context=64)


@pytest.fixture(scope="session")
def mstr():
    import pandas as pd

    return pd.read_csv(os.path.join(MARKET, "MSTR.csv"), parse_dates=["Date"])


@pytest.fixture(scope="session")
def stocks():
    import pandas as pd

    return pd.read_csv(os.path.join(MARKET, "stocks5_daily.csv"), parse_dates=["date"])

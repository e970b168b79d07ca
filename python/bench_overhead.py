#!/usr/bin/env python3
"""Python overhead per forecast call against the engine's own time, at the W1 shape.

W1 (docs/PERFORMANCE.md): Toto-Open-Base-1.0 shape (random weights), one series, context 512,
prediction 1, 128 samples, samples_per_batch 128. Every call is timed twice in the same run: the
wall time of the Python call (argument conversion, the engine, the result's arrays) and the time
the engine spent inside its forecast (measured in C++ around the session's call). The overhead is
(wall - engine) / engine over all timed calls; the target is at most 2 %.

    PYTHONPATH=build/python /usr/bin/python3 python/bench_overhead.py [--model DIR] [--calls N]

Without --model, the random checkpoint is written once into build/models/toto-base-random-w1 by
`build/fcast init-model toto --preset toto-open-base-1.0`.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="Toto checkpoint folder (default: a random one at the published shape)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build folder (default: build/)")
    ap.add_argument("--calls", type=int, default=20, help="timed calls per API (default: 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls first (default: 3)")
    a = ap.parse_args()

    sys.path.insert(0, os.path.join(a.build, "python"))
    import fcast
    from fcast.toto import TotoPipeline

    model = a.model
    if model is None:
        model = os.path.join(a.build, "models", "toto-base-random-w1")
        if not os.path.exists(os.path.join(model, "model.safetensors")):
            subprocess.run([os.path.join(a.build, "fcast"), "init-model", "toto", "--preset", "toto-open-base-1.0",
                            "--out", model], check=True)

    pipeline = TotoPipeline.from_pretrained(model, warmup_sequence=0)
    forecaster = fcast.load(model)
    context = (100 + np.cumsum(np.random.default_rng(7).normal(size=512))).astype(np.float32)

    def via_pipeline():
        out = pipeline.predict(context, prediction_length=1, num_samples=128, samples_per_batch=128)
        out[0].numpy()
        return pipeline.last_run_metadata["engine_seconds"]

    def via_forecast():
        f = forecaster.forecast(context, prediction_length=1, num_samples=128, samples_per_batch=128)
        f.samples
        return f.engine_seconds

    print(f"fcast {fcast.__version__}, {fcast.config('toto')['engine']['cpu_features']}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}")
    print(f"W1: {model}, context 512, prediction 1, 128 samples, samples_per_batch 128; "
          f"{a.warmup} warm-up + {a.calls} timed calls per API")
    worst = 0.0
    for name, call in (("TotoPipeline.predict", via_pipeline), ("Forecaster.forecast", via_forecast)):
        for _ in range(a.warmup):
            call()
        walls, engines = [], []
        for _ in range(a.calls):
            t0 = time.perf_counter()
            engine = call()
            walls.append(time.perf_counter() - t0)
            engines.append(engine)
        overhead = (sum(walls) - sum(engines)) / sum(engines)
        per_call_us = (sum(walls) - sum(engines)) / len(walls) * 1e6
        worst = max(worst, overhead)
        print(f"{name:22s} wall p50 {statistics.median(walls) * 1e3:8.2f} ms  engine p50 "
              f"{statistics.median(engines) * 1e3:8.2f} ms  overhead {per_call_us:7.1f} us/call = "
              f"{overhead * 100:.3f} % (target <= 2 %)")
    print(f"result: {'PASS' if worst <= 0.02 else 'FAIL'} (worst overhead {worst * 100:.3f} %)")
    return 0 if worst <= 0.02 else 1


if __name__ == "__main__":
    sys.exit(main())

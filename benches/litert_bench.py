#!/usr/bin/env python3
"""LiteRT (PyPI `ai-edge-litert`) latency of the benchmark models, for benches/report.sh.

usage: litert_bench.py OUT.json NAME=MODEL.tflite:INPUT.bin[:EXPECTED.bin] ...

For each model: one `Interpreter(num_threads=1)` with the default op resolver (XNNPACK
delegate applied by default) and one with `OpResolverType.BUILTIN_REF` (TFLite's reference
kernels, no delegate); the input file's bytes are the input tensor; the median wall-clock
time of `invoke()` over repeated calls (after one warm-up call) is recorded, and whether
the XNNPACK output equals EXPECTED (TFLM's recorded output) when given.
"""

import json
import statistics
import sys
import time
from importlib import metadata

import numpy as np
from ai_edge_litert import interpreter as litert


def median_invoke(interp, min_time=2.0, min_calls=10, max_calls=2000):
    interp.invoke()
    times = []
    start = time.perf_counter()
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() - start < min_time):
        t = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(path, data, resolver):
    kwargs = {"model_path": path, "num_threads": 1}
    if resolver is not None:
        kwargs["experimental_op_resolver_type"] = resolver
    interp = litert.Interpreter(**kwargs)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    arr = np.frombuffer(data, dtype=inp["dtype"]).reshape(inp["shape"])
    interp.set_tensor(inp["index"], arr)
    seconds = median_invoke(interp)
    out = interp.get_tensor(interp.get_output_details()[0]["index"]).tobytes()
    return seconds, out


def main():
    out_path, specs = sys.argv[1], sys.argv[2:]
    result = {"version": metadata.version("ai-edge-litert"), "models": {}}
    for spec in specs:
        name, rest = spec.split("=", 1)
        parts = rest.split(":")
        model, inp = parts[0], parts[1]
        expected = open(parts[2], "rb").read() if len(parts) > 2 else None
        data = open(inp, "rb").read()
        xnn_s, xnn_out = run(model, data, None)
        ref_s, ref_out = run(model, data, litert.OpResolverType.BUILTIN_REF)
        entry = {"xnnpack_s": xnn_s, "reference_s": ref_s}
        if expected is not None:
            entry["output_equal"] = xnn_out == expected
            entry["reference_output_equal"] = ref_out == expected
        result["models"][name] = entry
        print(f"{name}: xnnpack {xnn_s * 1e3:.3f} ms, reference {ref_s * 1e3:.3f} ms", file=sys.stderr)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()

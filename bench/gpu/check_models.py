"""Checks diffda-built ONNX graphs on a GPU node.

For every folder written by export-models.ts: validates the model with onnx.checker (full check, with
shape inference), runs it with onnxruntime's CPU and CUDA execution providers on the saved inputs, compares
both with the outputs onnxruntime-node computed on the machine that built the graph, and times the CUDA run.
Prints one JSON document.

    python3 bench/gpu/check_models.py <models dir>
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file


def compare(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    diff = np.abs(got - want)
    scale = max(float(np.abs(want).max()), 1e-12)
    return {"max_abs": float(diff.max()), "max_rel_to_max": float(diff.max() / scale)}


def run(path, providers, feeds, repeats=0):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=providers)
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, feeds)))
    timing = None
    if repeats:
        for _ in range(5):
            session.run(names, feeds)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            session.run(names, feeds)
            samples.append((time.perf_counter() - start) * 1000)
        samples.sort()
        timing = {"median_ms": samples[len(samples) // 2], "min_ms": samples[0]}
    return outputs, session.get_providers(), timing


def main(root):
    report = {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "providers": ort.get_available_providers(), "models": {}}
    for folder in sorted(p for p in Path(root).iterdir() if (p / "model.onnx").exists()):
        entry = {}
        model = onnx.load(str(folder / "model.onnx"))
        entry["ir_version"] = model.ir_version
        entry["opset"] = [(o.domain or "ai.onnx", o.version) for o in model.opset_import]
        try:
            onnx.checker.check_model(model, full_check=True)
            entry["onnx_checker"] = "ok"
        except Exception as error:  # the message is the finding
            entry["onnx_checker"] = f"failed: {error}"[:500]
        feeds = load_file(str(folder / "inputs.safetensors"))
        want = load_file(str(folder / "outputs.safetensors"))
        cpu, _, _ = run(folder / "model.onnx", ["CPUExecutionProvider"], feeds)
        cuda, used, timing = run(folder / "model.onnx", ["CUDAExecutionProvider", "CPUExecutionProvider"], feeds, repeats=50)
        entry["cuda_providers_used"] = used
        entry["cuda_timing"] = timing
        entry["cpu_vs_node"] = {k: compare(cpu[k], want[k]) for k in want}
        entry["cuda_vs_node"] = {k: compare(cuda[k], want[k]) for k in want}
        # Summaries: the worst output of each comparison.
        for key in ("cpu_vs_node", "cuda_vs_node"):
            worst = max(entry[key].items(), key=lambda kv: kv[1]["max_rel_to_max"])
            entry[key + "_worst"] = {"output": worst[0], **worst[1]}
            del entry[key]
        report["models"][folder.name] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1])

"""The same short LoRA-DPO run through both backends (PyTorch/TRL and MLX): tokens/s and peak memory, and ratios.

Meant for an Apple Silicon Mac (MLX on the Apple GPU against PyTorch on MPS). On Linux MLX runs on the CPU, far
slower than torch: there it only shows that both paths train and report the same way; use ``--tiny``.

Usage:
    python bench/mlx_vs_torch.py [--model SPEC] [--steps 10] [--batch 4] [--max-length 256] [--tiny]

Each backend runs in its own process (so peak memory is its own); each prints one JSON line, then the ratios.
``--tiny`` trains a 2-layer random-weight Llama with SmolLM2's tokenizer instead of the model (made in a temp folder).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(backend: str, model: str, steps: int, batch: int, max_length: int) -> dict:
    from dpostudio.core.training.engine import train
    from dpostudio.core.training.run_config import RunConfig

    config = RunConfig(
        model=model,
        backend=backend,
        max_steps=steps,
        per_device_batch_size=batch,
        max_length=max_length,
        eval_steps=None,
        eval_ratio=0.0,
        save_steps=100_000,
        lr_scheduler_type="constant",
        seed=1,
    )
    events: list[dict] = []
    run = train(config, events.append)
    info = run.info()
    if info["status"] != "finished":
        return {"backend": backend, "error": info.get("message")}
    summary = next(e for e in events if e["type"] == "summary")["metrics"]
    logs = run.metrics("log")
    tokens = max(m.get("num_tokens", 0) for m in logs)
    result = {
        "backend": backend,
        "device": info.get("device"),
        "precision": info.get("precision"),
        "steps": logs[-1]["step"],
        "tokens": tokens,
        "train_runtime_s": summary["train_runtime"],
        "tokens_per_s": tokens / summary["train_runtime"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "first_loss": logs[0]["loss"],
        "last_loss": logs[-1]["loss"],
    }
    result["peak_accelerator_mb"] = _accelerator_peak(backend)
    return result


def _accelerator_peak(backend: str) -> float | None:
    if backend == "mlx":
        import mlx.core as mx

        return mx.get_peak_memory() / 2**20
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    if torch.backends.mps.is_available():
        return torch.mps.driver_allocated_memory() / 2**20
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--tiny", action="store_true", help="a 2-layer random Llama instead of the model")
    parser.add_argument("--child", choices=("torch", "mlx"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.steps, args.batch, args.max_length)))
        return
    model = args.model
    if args.tiny:
        sys.path.insert(0, str(REPO / "tests"))
        from mlx_fixtures import make_tiny_llama

        from dpostudio.core.model_store import resolve_model

        model = str(make_tiny_llama(resolve_model(args.model).location, Path(tempfile.mkdtemp()) / "tiny"))
    results = {}
    for backend in ("torch", "mlx"):
        command = [
            sys.executable,
            __file__,
            "--child",
            backend,
            "--model",
            model,
            "--steps",
            str(args.steps),
            "--batch",
            str(args.batch),
            "--max-length",
            str(args.max_length),
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        line = (done.stdout.strip().splitlines() or ["{}"])[-1]
        results[backend] = json.loads(line) if line.startswith("{") else {"error": done.stderr[-2000:]}
        print(json.dumps(results[backend]))
    torch_r, mlx_r = results["torch"], results["mlx"]
    if "tokens_per_s" in torch_r and "tokens_per_s" in mlx_r:
        print(f"MLX / torch tokens per second: {mlx_r['tokens_per_s'] / torch_r['tokens_per_s']:.2f}×")
        print(f"MLX / torch peak RSS: {mlx_r['peak_rss_mb'] / torch_r['peak_rss_mb']:.2f}×")
        if mlx_r.get("peak_accelerator_mb") and torch_r.get("peak_accelerator_mb"):
            ratio = mlx_r["peak_accelerator_mb"] / torch_r["peak_accelerator_mb"]
            print(f"MLX / torch peak accelerator memory: {ratio:.2f}×")


if __name__ == "__main__":
    main()

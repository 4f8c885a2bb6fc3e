"""Training throughput of the paper's models in PyTorch: the reference side of `npm run bench:train`.

    python3 benchmarks/pytorch/bench_train.py --model squeezenet1d|cnn-lstm|transformer \
        --batch 32 --threads N --seconds S [--device cpu|cuda] [--warmup 2]

Times forward + backward + Adam(lr 1e-3) steps on random data and prints exactly one JSON line on
stdout: model, device, batch, threads, steps, samplesPerSec, torchVersion, params, peakRssBytes
(plus elapsedSec, cpuShare and, on cuda, peakCudaBytes). Diagnostics go to stderr only, so the caller can parse
stdout as-is. When the batch does not fit in memory, samplesPerSec is null and "error" says why.

The measurement runs in a child process. On Linux a CPU run that outgrows memory is usually SIGKILLed
by the kernel rather than given a catchable allocation error, and only a parent that survives can still
print the JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MODELS = ("squeezenet1d", "cnn-lstm", "transformer")
CHILD_FLAG = "--_child"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=MODELS)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seconds", type=float, default=20.0, help="minimum timed duration")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (allocator, Adam state)")
    p.add_argument(CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.batch < 1 or args.threads < 1 or args.seconds < 0 or args.warmup < 0:
        p.error("--batch and --threads must be >= 1; --seconds and --warmup >= 0")
    return args


def peak_rss_bytes(who=resource.RUSAGE_SELF) -> int:
    rss = resource.getrusage(who).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss if sys.platform == "darwin" else rss * 1024


def process_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def is_oom(exc: BaseException) -> bool:
    # CUDA raises torch.OutOfMemoryError; the CPU allocator raises a plain RuntimeError.
    text = str(exc).lower()
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text or "can't allocate memory" in text


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


# --------------------------------------------------------------------------------------- child side


def run_child(args) -> int:
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import models

    torch.set_num_threads(args.threads)
    # NNPACK is unsupported on these CPUs; PyTorch would fall back anyway but warns on every conv.
    torch.backends.nnpack.set_flags(False)
    torch.manual_seed(0)

    if args.device == "cuda" and not torch.cuda.is_available():
        emit({**base_record(args, torch.__version__, None), "samplesPerSec": None, "error": "cuda not available"})
        return 1
    device = torch.device(args.device)

    model = models.build(args.model).to(device).train()
    record = base_record(args, torch.__version__, models.count_params(model))
    # A first line the parent can fall back on if this process is killed mid-run.
    emit({**record, "partial": True})

    b = args.batch
    try:
        ecg = torch.randn(b, models.N_LEADS, models.T_STEPS, device=device)
        vm = torch.randn(b, models.N_SITES, models.T_STEPS, device=device)
        if args.model == "transformer":
            # The transformer works on [B, 500, 75] tokens: the true Vm is both decoder input and target.
            tokens = vm.transpose(1, 2).contiguous()

            def loss_fn():
                return F.huber_loss(model(ecg, tokens), tokens)
        else:

            def loss_fn():
                return F.mse_loss(model(ecg), vm)

        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn().backward()
            opt.step()

        def sync():
            if device.type == "cuda":
                torch.cuda.synchronize()

        for _ in range(args.warmup):
            step()
        sync()

        steps = 0
        cpu0 = process_cpu_seconds()
        start = time.perf_counter()
        while True:
            step()
            sync()
            steps += 1
            elapsed = time.perf_counter() - start
            # Two steps at least, so one slow outlier cannot be the whole measurement.
            if elapsed >= args.seconds and steps >= 2:
                break
    except Exception as exc:  # noqa: BLE001 - only OOM is turned into a result; the rest re-raises
        if not is_oom(exc):
            raise
        emit({**record, "samplesPerSec": None, "peakRssBytes": peak_rss_bytes(),
              "error": f"out of memory at batch {b}: {str(exc).splitlines()[0][:300]}"})
        return 0

    # On a 2-core machine shared with other jobs the numbers swing several-fold, the CNN-LSTM's
    # thousands of tiny per-time-step ops most of all. CPU seconds per wall second per thread near 1.0
    # means the run had its cores to itself; well below 1.0 means it was preempted and is not comparable.
    cpu_share = (process_cpu_seconds() - cpu0) / elapsed / args.threads
    result = {**record, "steps": steps, "samplesPerSec": steps * b / elapsed, "elapsedSec": elapsed,
              "peakRssBytes": peak_rss_bytes(), "cpuShare": cpu_share}
    if device.type == "cuda":
        result["peakCudaBytes"] = torch.cuda.max_memory_allocated()
    emit(result)
    return 0


def base_record(args, torch_version, params) -> dict:
    return {"model": args.model, "device": args.device, "batch": args.batch, "threads": args.threads,
            "steps": 0, "samplesPerSec": None, "torchVersion": torch_version, "params": params,
            "peakRssBytes": None}


# -------------------------------------------------------------------------------------- parent side


def torch_version_without_import() -> str | None:
    # Importing torch in the parent would cost a few hundred MB next to a child that may need it all.
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:  # noqa: BLE001 - only informational
        return None


def run_parent(argv, args) -> int:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, CHILD_FLAG],
                          stdout=subprocess.PIPE, text=True)
    records = []
    for line in proc.stdout.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            print(line, file=sys.stderr)  # stray output from a library; keep stdout to one line

    final = [r for r in records if not r.get("partial")]
    if proc.returncode == 0 and final:
        emit(final[-1])
        return 0
    if final and "error" in final[-1]:
        emit(final[-1])
        return proc.returncode or 1

    record = records[-1] if records else base_record(args, torch_version_without_import(), None)
    record.pop("partial", None)
    record["samplesPerSec"] = None
    record["peakRssBytes"] = peak_rss_bytes(resource.RUSAGE_CHILDREN)
    if proc.returncode == -9:
        # SIGKILL with no message of its own is almost always the kernel's OOM killer.
        record["error"] = f"out of memory at batch {args.batch}: worker killed by SIGKILL (kernel OOM killer)"
        emit(record)
        return 0
    record["error"] = f"worker failed with exit status {proc.returncode} (traceback on stderr)"
    emit(record)
    return 1


def main() -> int:
    argv = sys.argv[1:]
    args = parse_args(argv)
    if getattr(args, CHILD_FLAG.lstrip("-")):
        return run_child(args)
    return run_parent(argv, args)


if __name__ == "__main__":
    sys.exit(main())

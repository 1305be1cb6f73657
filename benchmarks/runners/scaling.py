"""Scaling figures: DDP training with 1 and 2 processes, Dask scoring with 1 and 2
workers, and chunked (out-of-core) scoring of a generated file of KDD-shaped rows.

Run ``python benchmarks/scaling.py`` (or ``memae benchmark scaling``). Generated files
go to ``--workdir`` (default: a temporary directory, deleted afterwards), never the repo.

* Training: MemAE with the KDD preset on all 494,021 KDD rows, launched with
  ``torchrun --nproc_per_node=K`` (K = 1, 2; one thread per process) and, for
  reference, one process with all cores. Rows/s = rows x epochs / time in ``fit``.
* Dask: ``memae.dask.score`` on a LocalCluster of 1 or 2 single-threaded worker
  processes, blocks read from an NPY file by the workers themselves.
* Chunked: ``memae score FILE --chunksize 100000 --out scores.npy`` in a fresh
  process, rows/s and the process's peak RSS (``ru_maxrss``) next to the same command
  on a 1,000-row file (the fixed cost of Python + torch).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.runners.report import environment, publish, write_text_atomic

_EPOCHS = 3


def _generate(path: Path, X: np.ndarray, n: int, fmt: str, seed: int = 0) -> None:
    """``n`` rows resampled from the real KDD rows, written block by block."""
    rng = np.random.default_rng(seed)
    block = 1_000_000
    if fmt == "npy":
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, X.shape[1]))
        for start in range(0, n, block):
            out[start : start + block] = X[rng.integers(0, len(X), min(block, n - start))]
        out.flush()
        del out
        return
    import pandas as pd

    cols = [f"f{i}" for i in range(X.shape[1])]
    writer = None
    try:
        for start in range(0, n, block):
            frame = pd.DataFrame(X[rng.integers(0, len(X), min(block, n - start))], columns=cols)
            if fmt == "csv":
                frame.to_csv(path, mode="a", header=start == 0, index=False)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table, row_group_size=100_000)
    finally:
        if writer is not None:
            writer.close()


_HWM = (
    "import sys\nfrom memae.cli import main\nrc = main(sys.argv[1:])\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
    "print(hwm.strip())\nsys.exit(rc)"
)


def _run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds and output of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return wall, proc.stdout


def _peak_rss_mb(output: str) -> float:
    """The child's own high-water RSS (``VmHWM``; ``ru_maxrss`` would include the parent's)."""
    line = next(line for line in output.splitlines() if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def _train_worker(args: argparse.Namespace) -> None:
    """Runs inside torchrun: time one fit and (rank 0) write the figure."""
    import memae
    from memae.distributed import distributed_session, get_world_size, is_main_process

    X = np.load(args.data, mmap_mode="r")
    with distributed_session():
        det = memae.MemAE.from_preset("kdd", epochs=args.epochs, random_state=0)
        det.set_params(validation_fraction=0.0)  # time the steps, not validation passes
        t0 = time.perf_counter()
        det.fit(X)
        seconds = time.perf_counter() - t0
        if is_main_process():
            write_text_atomic(
                Path(args.result),
                json.dumps({"processes": get_world_size(), "seconds": seconds, "rows": len(X)}),
            )


def _train(data: Path, work: Path, epochs: int, quick: bool = False) -> list[dict[str, Any]]:
    rows = []
    # --quick leaves out the all-cores reference: the same launch with another thread count
    configs = ((1, 1), (2, 1)) if quick else ((1, os.cpu_count() or 1), (1, 1), (2, 1))
    for procs, threads in configs:
        result = work / f"train{procs}x{threads}.json"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={procs}", "-m", "benchmarks.runners.scaling", "_train",
               str(data), str(result), str(epochs)]  # fmt: skip
        _run_child(cmd, env)
        r = json.loads(result.read_text())
        rows.append({
            "processes": procs, "threads_per_process": threads, "epochs": epochs,
            "rows": r["rows"], "seconds": r["seconds"],
            "rows_per_s": r["rows"] * epochs / r["seconds"],
        })  # fmt: skip
        print(f"train {procs} proc x {threads} thr: {rows[-1]['rows_per_s']:,.0f} rows/s")
    return rows


def _read_rows(path: str, start: int, stop: int) -> np.ndarray:
    mm = np.load(path, mmap_mode="r")
    return np.array(mm[start:stop])


def _dask(data: Path, model: Path, n: int, block: int) -> list[dict[str, Any]]:
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    import memae.dask

    d = np.load(data, mmap_mode="r").shape[1]
    parts = [
        da.from_delayed(
            dask.delayed(_read_rows)(str(data), s, min(s + block, n)),
            shape=(min(s + block, n) - s, d), dtype=np.float32,
        )
        for s in range(0, n, block)
    ]  # fmt: skip
    X = da.concatenate(parts)
    rows = []
    for workers in (1, 2):
        with LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster, Client(cluster):  # fmt: skip
            memae.dask.score(X[:block], model).compute()  # warm-up: workers load the model
            t0 = time.perf_counter()
            scores = memae.dask.score(X, model).compute()
            seconds = time.perf_counter() - t0
        assert len(scores) == n
        rows.append({"workers": workers, "rows": n, "seconds": seconds, "rows_per_s": n / seconds})
        print(f"dask {workers} worker(s): {rows[-1]['rows_per_s']:,.0f} rows/s")
    return rows


def _chunked(files: dict[str, Path], model: Path, work: Path, chunk: int) -> list[dict[str, Any]]:
    rows = []
    for fmt, path in files.items():
        n = _count_rows(path)
        # `memae score ...`, printing its peak RSS at exit
        cmd = [sys.executable, "-c", _HWM, "score", str(model), str(path),
               "--chunksize", str(chunk), "--out", str(work / "scores.npy")]  # fmt: skip
        wall, out = _run_child(cmd)
        rss = _peak_rss_mb(out)
        assert len(np.load(work / "scores.npy", mmap_mode="r")) == n
        rows.append({
            "format": fmt, "rows": n, "file_mb": path.stat().st_size / 1e6, "chunksize": chunk,
            "seconds": wall, "rows_per_s": n / wall, "peak_rss_mb": rss,
        })  # fmt: skip
        print(f"chunked {fmt} {n:,} rows: {n / wall:,.0f} rows/s, peak RSS {rss:,.0f} MB")
    return rows


def _count_rows(path: Path) -> int:
    if path.suffix == ".npy":
        return int(np.load(path, mmap_mode="r").shape[0])
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with open(path, "rb") as fh:
        return sum(1 for _ in fh) - 1


def run(
    quick: bool = False, rows: int = 20_000_000, csv_rows: int = 2_000_000,
    dask_rows: int = 5_000_000, workdir: str | None = None, data: str | None = None,
    command: tuple[str, list[str] | None] = ("memae benchmark scaling", None),
) -> dict[str, Any]:  # fmt: skip
    import memae
    from memae.datasets import load_kdd

    X, _ = load_kdd(data)
    epochs = _EPOCHS
    if quick:  # every code path once, at sizes where process start-up dominates
        X, rows, csv_rows, dask_rows, epochs = X[:20_000], 50_000, 10_000, 20_000, 1
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        work = Path(tmp)
        np.save(work / "train.npy", X)
        training = _train(work / "train.npy", work, epochs, quick)
        det = memae.MemAE.from_preset("kdd", epochs=1, random_state=0).fit(X[:50_000])
        det.save(work / "model")
        files = {"npy": work / "big.npy", "parquet": work / "big.parquet"}
        for fmt, path in files.items():
            _generate(path, X, rows, fmt)
        files["csv"] = work / "rows.csv"
        _generate(files["csv"], X, csv_rows, "csv")
        if not quick:  # the fixed cost of a `memae score` process, for reference
            _generate(work / "tiny.npy", X, 1000, "npy")
            files = {"npy (1,000 rows: fixed cost)": work / "tiny.npy", **files}
        chunked = _chunked(files, work / "model", work, 100_000)
        dask_rows = min(dask_rows, rows)
        dask_res = _dask(work / "big.npy", work / "model", dask_rows, max(1, dask_rows // 20))
    return {
        "benchmark": "scaling",
        "environment": environment(*command),
        "quick": quick,
        "training": training,
        "dask": dask_res,
        "chunked": chunked,
    }


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        f"Measured on {env['cpu']} ({env['cpu_count']} cores), torch {env['torch']}; "
        f"command: `{env['command']}`.",
        "",
        f"| training (MemAE, KDD preset, {results['training'][0]['rows']:,} rows, "
        f"{results['training'][0]['epochs']} epochs) | rows/s |",
        "|---|---|",
    ]
    for r in results["training"]:
        lines.append(
            f"| {r['processes']} process(es) x {r['threads_per_process']} thread(s) | "
            f"{r['rows_per_s']:,.0f} |"
        )
    lines += ["", "| Dask scoring (LocalCluster, 1 thread per worker) | rows | rows/s |",
              "|---|---|---|"]  # fmt: skip
    for r in results["dask"]:
        lines.append(f"| {r['workers']} worker(s) | {r['rows']:,} | {r['rows_per_s']:,.0f} |")
    lines += ["", "| `memae score --chunksize 100000` | rows | file MB | rows/s | peak RSS MB |",
              "|---|---|---|---|---|"]  # fmt: skip
    for r in results["chunked"]:
        lines.append(
            f"| {r['format']} | {r['rows']:,} | {r['file_mb']:,.0f} | {r['rows_per_s']:,.0f} | "
            f"{r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "memae benchmark scaling") -> None:
    if argv and argv[0] == "_train":  # internal: one torchrun worker
        ns = argparse.Namespace(data=argv[1], result=argv[2], epochs=int(argv[3]))
        _train_worker(ns)
        return
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every path once, small (about 50 s)")
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows of the NPY/Parquet")
    parser.add_argument("--workdir", default=None, help="where generated files go (temp dir)")
    parser.add_argument("--data", default=None, help="directory with the KDD data")
    parser.add_argument("--out", default="benchmarks/results", help="results directory")
    parser.add_argument("--readme", default=None, help="README.md whose table to update")
    args = parser.parse_args(argv)
    results = run(quick=args.quick, rows=args.rows, workdir=args.workdir, data=args.data,
                  command=(prog, argv))  # fmt: skip
    md = markdown(results)
    stem = "scaling-quick" if args.quick else "scaling"
    readme = Path(args.readme) if args.readme and not args.quick else None
    publish(results, md, Path(args.out), stem, readme, "scaling")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The ``memae`` command line: fit, score, benchmark, demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from memae._version import __version__

MODELS = {"memae": "MemAE", "ae": "AutoEncoder"}


class CLIError(Exception):
    """An error reported to the user as one line, without a traceback."""


def read_table(path: str, label_column: str | None = None, key: str | None = None) -> np.ndarray:
    """Read CSV (header row optional), NPY, NPZ or Parquet into a 2-D float array.

    ``label_column`` (a name, or an index for headerless/array input) is dropped.
    """
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"no such file: {path}")
    suffix = "".join(file.suffixes[-2:]) if file.suffix == ".gz" else file.suffix
    if suffix == ".npy":
        data = np.load(file, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(file, allow_pickle=False) as npz:
            if key is None and len(npz.files) != 1:
                raise CLIError(f"{path} holds arrays {npz.files}; choose one with --key")
            name = key or npz.files[0]
            if name not in npz.files:
                raise CLIError(f"{path} has no array {name!r} (found {npz.files})")
            data = npz[name]
    elif suffix in (".csv", ".csv.gz", ".txt", ".parquet", ".pq"):
        return _read_frame(file, suffix, label_column)
    else:
        raise CLIError(
            f"unsupported file type {suffix or '(none)'}: use .csv, .npy, .npz or .parquet"
        )
    if label_column is not None:
        if data.ndim != 2:
            raise CLIError(f"{path} is not a 2-D table")
        try:
            col = int(label_column)
        except ValueError:
            raise CLIError("--label-column must be a column index for array input") from None
        data = np.delete(data, col, axis=1)
    return data


def _read_frame(file: Path, suffix: str, label_column: str | None):
    try:
        import pandas as pd
    except ImportError:
        raise CLIError("reading CSV/Parquet needs pandas: pip install 'memae[pandas]'") from None
    if suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(file)
        except ImportError:
            raise CLIError("reading Parquet needs pyarrow: pip install pyarrow") from None
    else:
        df = pd.read_csv(file)
        # A header of numbers means the file had no header row.
        if all(_is_number(c) for c in df.columns):
            df = pd.read_csv(file, header=None)
    if label_column is not None:
        col = label_column
        if col not in df.columns and col.lstrip("-").isdigit():
            col = df.columns[int(col)]
        if col not in df.columns:
            raise CLIError(f"no column {label_column!r} in {file}")
        df = df.drop(columns=[col])
    return df


def _is_number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def cmd_fit(args: argparse.Namespace) -> None:
    import memae

    cls = getattr(memae, MODELS[args.model])
    overrides = {}
    for name in ("epochs", "batch_size", "lr", "contamination", "random_state"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    overrides["verbose"] = 0 if args.quiet else 1
    det = cls.from_preset(args.preset, **overrides) if args.preset else cls(**overrides)
    X = read_table(args.data, args.label_column, args.key)
    det.fit(X, checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every)
    det.save(args.out)
    print(
        f"fitted {type(det).__name__} on {len(det.decision_scores_)} rows x "
        f"{det.n_features_in_} features in {len(det.history_)} epochs; "
        f"threshold {det.threshold_:.6g}; saved to {args.out}"
    )


def cmd_score(args: argparse.Namespace) -> None:
    import memae

    det = memae.load(args.model_dir)
    X = read_table(args.data, args.label_column, args.key)
    scores = det.decision_function(X)
    labels = (scores > det.threshold_).astype(int)
    if args.out is not None and args.out.endswith(".npy"):
        np.save(args.out, scores)
    else:
        # float32-computed scores round-trip exactly through 9 significant digits
        np.savetxt(
            sys.stdout if args.out is None else args.out,
            np.column_stack([scores, labels]),
            fmt=["%.9g", "%d"],
            delimiter=",",
            header="score,label",
            comments="",
        )
    if args.out is not None:
        print(f"scored {len(scores)} rows ({labels.sum()} flagged) -> {args.out}")


def cmd_benchmark(args: argparse.Namespace) -> None:
    if args.name == "kdd":
        from memae.benchmarks import kdd

        kdd.main(args.rest)
    elif args.name == "speed":
        from memae.benchmarks import speed

        speed.main(args.rest)
    else:  # pragma: no cover - argparse restricts choices
        raise CLIError(f"unknown benchmark {args.name}")


def cmd_demo(args: argparse.Namespace) -> None:
    from memae.demo import run_demo

    run_demo(epochs=args.epochs, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memae",
        description="Deep autoencoder anomaly detection (MemAE and baselines).",
    )
    parser.add_argument("--version", action="version", version=f"memae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--label-column",
            default=None,
            help="column (name or index) to drop before fitting/scoring",
        )
        p.add_argument("--key", default=None, help="array name inside an .npz file")

    p = sub.add_parser(
        "fit",
        help="train a detector and save it",
        description="Train a detector on DATA (CSV/NPY/NPZ/Parquet rows of "
        "normal data) and save config.json + weights.safetensors to --out.",
    )
    p.add_argument("data", help="training data file")
    p.add_argument("--model", choices=sorted(MODELS), default="memae")
    p.add_argument("--preset", default=None, help="paper configuration, e.g. 'kdd'")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--contamination", type=float)
    p.add_argument("--random-state", type=int)
    p.add_argument("--checkpoint-dir", default=None, help="checkpoint (and resume) here")
    p.add_argument("--checkpoint-every", type=int, default=1, metavar="K")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    data_options(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser(
        "score",
        help="score data with a saved model",
        description="Write score,label per row of DATA (label 1 = above the "
        "model's threshold) as CSV to --out (or stdout); .npy writes scores only.",
    )
    p.add_argument("model_dir")
    p.add_argument("data")
    p.add_argument("--out", default=None, help="output .csv or .npy (default: stdout)")
    data_options(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "benchmark",
        help="run a paper benchmark",
        description="Run a benchmark; options after the name go to it "
        "(e.g. 'memae benchmark kdd --runs 5 --quick'; see "
        "'memae benchmark kdd --help').",
    )
    p.add_argument("name", choices=["kdd", "speed"])
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of the benchmark")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser(
        "demo",
        help="1-minute demo on scikit-learn's bundled digits",
        description="Train AE and MemAE one-class detectors on scikit-learn's "
        "bundled handwritten digits (no download) and print ROC-AUCs.",
    )
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (CLIError, ValueError, FileNotFoundError, OSError, RuntimeError, ImportError) as exc:
        print(f"memae {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"memae {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

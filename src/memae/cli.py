"""The ``memae`` command line: fit, score, plot, benchmark, demo."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from memae._version import __version__
from memae.encoding import UnseenCategoryWarning, describe_unseen, merge_unseen
from memae.readers import DEFAULT_CHUNKSIZE, iter_table, read_table
from memae.tables import Columns, identifier_like

#: the model knobs ``memae fit`` takes as options (on top of --config FILE.json)
_KNOBS = (
    "epochs", "batch_size", "lr", "lr_schedule", "contamination", "random_state", "device",
    "latent_dim", "memory_size", "hidden_dims", "precision", "score_method",
)  # fmt: skip
_OUTPUT_FORMATS = (".csv", ".parquet", ".npy")


class CLIError(Exception):
    """An error reported to the user as one line, without a traceback."""


def _user_modules_importable() -> None:
    """Let ``--model module:Class`` / ``--import module`` find modules in the working
    directory, as ``python -m`` would (the ``memae`` script alone does not)."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _import_plugins(args: argparse.Namespace) -> None:
    """Import the modules named by ``--import`` (they register their detectors)."""
    import importlib

    if getattr(args, "plugins", None):
        _user_modules_importable()
    for module in getattr(args, "plugins", None) or []:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise CLIError(f"--import {module}: {exc}") from None


def cmd_fit(args: argparse.Namespace) -> None:
    import memae  # noqa: F401 - registers memae's detectors
    from memae import registry
    from memae.distributed import distributed_session, get_world_size, is_main_process

    _check_model_destination(Path(args.out))  # before training, not after it
    if ":" in args.model:
        _user_modules_importable()
    cls = registry.resolve(args.model)
    overrides = _read_config(args.config) if args.config else {}
    for name in _KNOBS:
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    params = set(cls().get_params())
    unknown = sorted(set(overrides) - params)
    if unknown:
        raise CLIError(f"{cls.__name__} has no parameter {', '.join(unknown)}")
    columns = Columns(
        ids=args.id_column or (), drop=args.drop_column or (), label=args.label_column
    )
    # Under torchrun every rank runs this; rank 0 alone prints, checkpoints and saves.
    with distributed_session():
        if "verbose" in params:
            overrides["verbose"] = 0 if args.quiet or not is_main_process() else 1
        det = cls.from_preset(args.preset, **overrides) if args.preset else cls(**overrides)
        # NPY is memory-mapped: float32 rows are read batch by batch, never copied whole.
        X, _, _ = columns.split(read_table(args.data, None, args.key, mmap=True))
        _encoding_options(args, det, X)
        suspects = identifier_like(X)
        if suspects and is_main_process():
            print(
                f"note: column(s) {suspects} look like identifiers and are used as features; "
                "pass --id-column NAME (or --drop-column NAME) if they are not measurements",
                file=sys.stderr,
            )
        fit_args: dict = {}
        if args.validation is not None:  # labelled rows choose the epoch kept
            if args.label_column is None:
                raise CLIError("--validation needs --label-column (the 0/1 label)")
            X_val, _, y_val = columns.split(read_table(args.validation, None, args.key))
            fit_args["validation_data"] = (X_val, y_val)
            fit_args["selection_metric"] = args.selection_metric
        det.fit(
            X,
            checkpoint_dir=args.checkpoint_dir,
            checkpoint_every=args.checkpoint_every,
            **fit_args,
        )
        det.save(args.out)
        if is_main_process():
            procs = f" by {get_world_size()} processes" if get_world_size() > 1 else ""
            shape = det.sample_shape_
            what = f"{shape[0]} features" if len(shape) == 1 else f"samples of shape {shape}"
            if hasattr(det, "encoder_"):
                what = f"{det.n_features_in_} columns ({what} after one-hot encoding)"
            print(
                f"fitted {type(det).__name__} on {len(det.decision_scores_)} rows x "
                f"{what} in {len(det.history_)} epochs{procs}"
                + (f" (epoch {det.best_epoch_} kept by {det.selection_})" if det.selection_ else "")
                + "; "
                f"threshold {det.threshold_:.6g}; saved to {args.out}"
            )


def _encoding_options(args: argparse.Namespace, det, X) -> None:
    """``--categorical``, ``--min-frequency`` and ``--log1p`` as detector parameters."""
    from memae.encoding import is_categorical_dtype

    asked = {"categorical": args.categorical, "min_frequency": args.min_frequency}
    asked["log1p"] = args.log1p
    given = [k for k, v in asked.items() if v is not None]
    if not given:
        return
    missing = [k for k in given if k not in det.get_params()]
    if missing:
        raise CLIError(f"{type(det).__name__} has no parameter {', '.join(missing)}")
    if not hasattr(X, "columns"):
        raise CLIError("--categorical and --log1p need a CSV or Parquet file (named columns)")
    if args.categorical:  # the columns named, plus the file's text columns
        names = [str(c) for c in X.columns]
        unknown = [c for c in args.categorical if c not in names]
        if unknown:
            raise CLIError(f"--categorical: no column {unknown[0]!r} (columns: {names[:10]})")
        text = [str(c) for c, dt in X.dtypes.items() if is_categorical_dtype(dt)]
        det.set_params(categorical=list(dict.fromkeys([*args.categorical, *text])))
    if args.min_frequency is not None:
        m = args.min_frequency
        det.set_params(min_frequency=int(m) if m >= 1 and float(m).is_integer() else m)
    if args.log1p:
        det.set_params(log1p=True if args.log1p == ["all"] else list(args.log1p))


def _read_config(path: str) -> dict:
    """``--config FILE.json``: a JSON object of detector parameters."""
    import json

    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CLIError(f"--config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise CLIError(f"--config {path}: expected a JSON object of parameters")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _columns(args: argparse.Namespace, det) -> Columns:
    """The table options of ``score`` / ``report``: features by the model's stored names."""
    return Columns(
        ids=args.id_column or (),
        drop=args.drop_column or (),
        label=args.label_column,
        features=getattr(det, "feature_names_in_", None),
    )


def _output_format(out: str | None) -> str:
    """``.csv`` (also stdout), ``.parquet`` or ``.npy``, from the --out extension."""
    if out is None:
        return ".csv"
    suffix = Path(out).suffix.lower()
    if suffix not in _OUTPUT_FORMATS:
        raise CLIError(f"--out {out}: choose a .csv, .parquet or .npy file name")
    return suffix


class _Aligned:
    """Identifiers, labels and explanations of the rows read, handed out in the score
    blocks' sizes (``iter_scores`` regroups rows into its own batches)."""

    def __init__(self, columns: Columns, chunks, explain: tuple | None = None) -> None:
        self.columns, self.chunks = columns, chunks
        self.explain = explain  # (detector, K): the top-K features of every row
        self.queues: dict[str, list] = {"ids": [], "labels": [], "explain": []}
        self.noted = False

    def features(self):
        for chunk in self.chunks:
            X, ids, y = self.columns.split(chunk)
            if self.columns.ignored and not self.noted:
                self.noted = True
                print(f"note: ignored columns not in the model: {self.columns.ignored[:10]}",
                      file=sys.stderr)  # fmt: skip
            if ids is not None:
                self.queues["ids"].append(ids.reset_index(drop=True))
            if y is not None:
                self.queues["labels"].append(_binary(y))
            if self.explain is not None:
                with warnings.catch_warnings():  # the scores report them, once
                    warnings.simplefilter("ignore", UnseenCategoryWarning)
                    self.queues["explain"].append(_top_features(X, *self.explain))
            yield X

    def take(self, n: int) -> tuple:
        """``(ids, labels, explanations)`` of the next ``n`` rows (None where absent)."""
        import pandas as pd

        out = []
        for name, queue in self.queues.items():
            if not queue:
                out.append(None)
                continue
            if name == "labels":
                whole = np.concatenate(queue) if len(queue) > 1 else queue[0]
            else:
                whole = pd.concat(queue, ignore_index=True) if len(queue) > 1 else queue[0]
            head, rest = whole[:n], whole[n:]
            if name != "labels":
                head = head.reset_index(drop=True)
            self.queues[name] = [rest] if len(rest) else []
            out.append(head)
        return tuple(out)


def _top_features(X, det, k: int):
    """``top1_feature, top1_contribution, ...``: the ``k`` features adding most to each
    row's score (:meth:`memae.BaseDetector.feature_scores`)."""
    import pandas as pd

    contrib = det.feature_scores(X)
    if contrib.ndim != 2:
        raise CLIError("--explain is for tables; use 'memae plot explain' for images")
    names = np.asarray(getattr(det, "feature_names_in_", None) or range(contrib.shape[1]))
    order = np.argsort(-contrib, axis=1, kind="stable")[:, : min(k, contrib.shape[1])]
    top = pd.DataFrame(index=range(len(contrib)))
    for i in range(order.shape[1]):
        top[f"top{i + 1}_feature"] = names[order[:, i]]
        top[f"top{i + 1}_contribution"] = np.take_along_axis(contrib, order[:, i : i + 1], 1)[:, 0]
    return top


def _note_unseen(caught: list) -> None:
    """One note for the unseen category values of every chunk; other warnings as usual."""
    for w in caught:
        if not isinstance(w.message, UnseenCategoryWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    counts = merge_unseen(caught)
    if counts:
        print(f"note: {describe_unseen(counts)}", file=sys.stderr)


def cmd_score(args: argparse.Namespace) -> None:
    import memae

    _import_plugins(args)
    fmt = _output_format(args.out)
    if args.out is not None:
        _check_output_file(Path(args.out))
    det = memae.load(args.model_dir)
    columns = _columns(args, det)
    if fmt == ".npy" and (columns.ids or args.explain):
        raise CLIError(
            "--id-column and --explain need a .csv or .parquet --out (.npy holds scores only)"
        )
    explain = (det, args.explain) if args.explain else None
    rows = _Aligned(columns, iter_table(args.data, args.chunksize, None, args.key), explain)
    blocks = det.iter_scores(rows.features(), chunksize=args.chunksize)
    label_name = None if args.label_column is None else str(args.label_column)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnseenCategoryWarning)
        if fmt == ".npy":
            n, flagged, seen = _write_npy(blocks, Path(args.out), det.threshold_, rows)
        else:
            writer = _write_parquet if fmt == ".parquet" else _write_csv
            n, flagged, seen = writer(blocks, args.out, det.threshold_, rows, label_name)
    _note_unseen(caught)
    report = sys.stdout if args.out is not None else sys.stderr
    if args.out is not None:
        print(f"scored {n} rows ({flagged} flagged) -> {args.out}", file=report)
    if seen is not None:
        print(_metrics(*seen), file=report)


def _binary(y) -> np.ndarray:
    """The label column as 0/1 integers, checked chunk by chunk (before any output)."""
    message = "--label-column must hold 0 (normal) / 1 (anomaly) labels"
    try:
        arr = np.asarray(y).astype(np.float64)
    except (TypeError, ValueError):
        raise CLIError(message) from None
    if not np.isin(arr, (0, 1)).all():
        raise CLIError(message)
    return arr.astype(np.int64)


def _metrics(scores: np.ndarray, y: np.ndarray) -> str:
    """ROC-AUC and average precision of the scores against the file's 0/1 labels."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if y.min() == y.max():
        return f"labels: all {int(y[0])}; ROC-AUC needs both normal and anomalous rows"
    return (
        f"ROC-AUC {roc_auc_score(y, scores):.4f}, average precision "
        f"{average_precision_score(y, scores):.4f} ({int(y.sum())} of {len(y)} rows labelled 1)"
    )


def _check_model_destination(out: Path) -> None:
    """Fail before any training if ``--out`` cannot become a model directory."""
    if out.is_symlink():
        raise CLIError(f"--out {out} is a symbolic link; memae does not write through links")
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a directory")
    parent = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"--out {out}: {parent} is not writable")


def _check_output_file(out: Path) -> None:
    """Fail before scoring if ``--out`` cannot be written."""
    if out.is_dir():
        raise CLIError(f"--out {out} is a directory")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"--out {out}: {parent} is not a writable directory")


def _temporary(out: Path) -> Path:
    return out.with_name(f".{out.name}.{os.getpid()}.part")


def _frames(blocks, threshold: float, rows: _Aligned, label: str | None):
    """Output rows per score block: identifiers, ``score``, ``is_anomaly``, the label, the
    top features; also collects the scores and labels for the metrics."""
    import pandas as pd

    for scores in blocks:
        ids, y, top = rows.take(len(scores))
        frame = ids.copy() if ids is not None else pd.DataFrame(index=range(len(scores)))
        frame["score"] = scores
        frame["is_anomaly"] = (scores > threshold).astype(np.int64)
        if y is not None:
            frame[label] = y
        if top is not None:
            frame = pd.concat([frame, top], axis=1)
        yield frame, scores, y


class _Seen:
    """Scores and labels kept for the metrics (only when a label column is given)."""

    def __init__(self) -> None:
        self.scores: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []

    def add(self, scores: np.ndarray, y: np.ndarray | None) -> None:
        if y is not None:
            self.scores.append(scores)
            self.labels.append(y)

    def result(self) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.labels:
            return None
        return np.concatenate(self.scores), np.concatenate(self.labels)


def _write_csv(blocks, out: str | None, threshold: float, rows: _Aligned, label: str | None):
    """CSV rows; to a file, under a temporary name renamed when all are written (a
    failure midway leaves no file at all)."""
    n = flagged = 0
    seen = _Seen()
    tmp = None if out is None else _temporary(Path(out))
    try:
        with open(tmp, "w", newline="") if tmp is not None else nullcontext(sys.stdout) as fh:
            for frame, scores, y in _frames(blocks, threshold, rows, label):
                # float32-computed scores round-trip exactly through 9 significant digits
                frame.to_csv(fh, header=n == 0, index=False, float_format="%.9g")
                n, flagged = n + len(scores), flagged + int(frame["is_anomaly"].sum())
                seen.add(scores, y)
        if tmp is not None:
            os.replace(tmp, out)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return n, flagged, seen.result()


def _write_parquet(blocks, out: str, threshold: float, rows: _Aligned, label: str | None):
    """Parquet, one row group per score block, written to a temporary name and renamed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CLIError("writing Parquet needs pyarrow: pip install pyarrow") from None
    n = flagged = 0
    seen = _Seen()
    tmp = _temporary(Path(out))
    writer = None
    try:
        for frame, scores, y in _frames(blocks, threshold, rows, label):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            n, flagged = n + len(scores), flagged + int(frame["is_anomaly"].sum())
            seen.add(scores, y)
        if writer is not None:
            writer.close()
            writer = None
            os.replace(tmp, out)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return n, flagged, seen.result()


def _write_npy(blocks, out: Path, threshold: float, rows: _Aligned):
    """Scores to ``out`` (.npy) without holding them all: raw blocks first, then the file."""
    n = flagged = 0
    seen = _Seen()
    raw = out.with_name(out.name + ".part")
    try:
        with open(raw, "wb") as fh:
            for scores in blocks:
                seen.add(scores, rows.take(len(scores))[1])
                scores.tofile(fh)  # float64 already
                n, flagged = n + len(scores), flagged + int((scores > threshold).sum())
        tmp = _temporary(out)
        result = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float64, shape=(n,))
        step = 1 << 22
        for start in range(0, n, step):
            result[start : start + step] = np.fromfile(
                raw, dtype=np.float64, count=min(step, n - start), offset=start * 8
            )
        result.flush()
        del result
        os.replace(tmp, out)
    finally:
        raw.unlink(missing_ok=True)
        _temporary(out).unlink(missing_ok=True)
    return n, flagged, seen.result()


def _plot_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray | None]:
    """``--data`` (a file, or ``mnist:test`` / ``cifar10:train``) and 0/1 anomaly labels."""
    if args.data is None:
        raise CLIError("this figure needs --data")
    name, _, split = args.data.partition(":")
    from memae.datasets.images import IMAGE_DATASETS, load_image_dataset

    if name in IMAGE_DATASETS and split in ("train", "test"):
        X, y = load_image_dataset(name, split)
    else:
        X = np.asarray(read_table(args.data, None, args.key))
        y = None if args.labels is None else np.asarray(read_table(args.labels)).ravel()
    if args.normal_class is not None:
        if y is None:
            raise CLIError("--normal-class needs class labels (--labels, or mnist:/cifar10: data)")
        y = (y != args.normal_class).astype(np.int64)
    elif y is not None and not np.isin(y, (0, 1)).all():
        raise CLIError("labels must be 0 (normal) / 1 (anomaly); or give --normal-class")
    if y is not None and len(y) != len(X):
        raise CLIError(f"--labels has {len(y)} entries for {len(X)} samples")
    return X, y


def cmd_plot(args: argparse.Namespace) -> None:
    import memae
    from memae import plotting

    _import_plugins(args)
    models = {Path(m).name: memae.load(m) for m in args.models}
    first = next(iter(models.values()))
    tabular = len(first.sample_shape_) == 1
    if tabular and args.figure in ("reconstructions", "memory"):
        raise CLIError(
            f"the {args.figure} figure draws images; {args.models[0]} is a tabular model "
            "(try 'memae plot explain', 'roc' or 'hist')"
        )
    if args.figure == "explain":
        if tabular and args.data is not None and ":" not in args.data:
            # a table: the model's own columns, by name (ids and labels are left out)
            table = read_table(args.data, None, args.key)
            names = getattr(first, "feature_names_in_", None)
            X = Columns(features=names).split(table)[0] if names else table
            X = np.asarray(X, dtype=np.float32)
        else:
            X, _ = _plot_data(args)
        n_rows = min(args.n, 6) if tabular else args.n
        out = plotting.plot_explanation(first, X, args.out, n_rows=n_rows)
    elif args.figure == "memory":
        if not hasattr(first, "decode_memory"):
            raise CLIError(f"{args.models[0]} is not a MemAE model: it has no memory")
        out = plotting.plot_memory(first, args.out, n_items=args.n)
    else:
        X, y = _plot_data(args)
        if args.figure == "reconstructions":
            rng = np.random.default_rng(args.seed)
            if y is None:
                picks = X[rng.choice(len(X), min(args.n, len(X)), replace=False)]
                normal, anomalous = picks, picks[:0]
            else:
                half = args.n // 2
                normal = X[rng.choice(np.flatnonzero(y == 0), half, replace=False)]
                anomalous = X[rng.choice(np.flatnonzero(y == 1), args.n - half, replace=False)]
            out = plotting.plot_reconstructions(models, normal, anomalous, args.out)
        else:
            if y is None:
                raise CLIError(f"the {args.figure} figure needs labels (--labels/--normal-class)")
            scores = {name: det.decision_function(X) for name, det in models.items()}
            if args.figure == "roc":
                out = plotting.plot_roc(scores, y, args.out)
            else:
                name = next(iter(scores))
                out = plotting.plot_histogram(scores[name], y, first.threshold_, args.out, name)
    print(f"wrote {out}")


def cmd_report(args: argparse.Namespace) -> None:
    import memae
    from memae.report import build_report, file_sha256, write_report

    _import_plugins(args)
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise CLIError(f"--out {out}: the report is an .html file")
    _check_output_file(out)
    det = memae.load(args.model_dir)
    columns = _columns(args, det)
    X, ids, y = columns.split(read_table(args.data, None, args.key))
    if columns.ignored:
        print(f"note: ignored columns not in the model: {columns.ignored[:10]}", file=sys.stderr)
    page = build_report(
        det,
        X,
        labels=None if y is None else _binary(y),
        ids=ids,
        data_name=Path(args.data).name,
        data_sha256=file_sha256(args.data),
        model_name=str(args.model_dir),
        top=args.top,
    )
    print(f"wrote {write_report(page, out)}")


def cmd_data(args: argparse.Namespace) -> None:
    from memae.datasets.fetch import fetch

    files = fetch(args.name, args.to, mirror=args.mirror)
    print(f"{args.name}: {len(files)} file(s) in {args.to}; point the loaders at it with "
          f"MEMAE_DATA={args.to} (or their path argument)")  # fmt: skip


#: ``memae benchmark NAME`` -> the module of ``benchmarks/runners/`` that runs it
BENCHMARKS = {
    "kdd": "kdd",
    "mnist": "images",
    "cifar10": "images",
    "ped2": "video",
    "all": "leaderboard",
    "latent": "latent",
    "speed": "speed",
    "precision": "precision",
    "scaling": "scaling",
}


def _runner(module: str):
    """A runner of the source checkout memae is installed from (``pip install -e .``).

    The runners are not part of the library: ``import memae`` never loads them.
    """
    import importlib

    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "runners" / f"{module}.py").is_file():
        raise CLIError(
            "the benchmark runners are not part of the installed package; they live in the "
            "benchmarks/ folder of memae's source repository: clone it, run 'pip install -e .' "
            "there, then 'memae benchmark ...' (or 'python benchmarks/<name>.py') in the clone"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"benchmarks.runners.{module}")


def cmd_benchmark(args: argparse.Namespace) -> None:
    runner = _runner(BENCHMARKS[args.name])
    runner.main([args.name, *args.rest] if args.name in ("mnist", "cifar10") else args.rest)


def cmd_demo(args: argparse.Namespace) -> None:
    from memae.demo import run_demo

    run_demo(epochs=args.epochs, seed=args.seed, files=args.files)


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--label-column",
        default=None,
        help="column (name or index) of the true 0/1 label: never a feature; at score "
        "time it is kept in the output and ROC-AUC / average precision are printed",
    )
    p.add_argument(
        "--id-column",
        action="append",
        metavar="COLUMN",
        help="identifier column (repeatable): never a feature, passed through to the output",
    )
    p.add_argument(
        "--drop-column",
        action="append",
        metavar="COLUMN",
        help="column to ignore (repeatable)",
    )
    p.add_argument("--key", default=None, help="array name inside an .npz file")


def _plugin_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--import",
        dest="plugins",
        action="append",
        metavar="MODULE",
        help="import MODULE first, to load a model of a detector class it defines "
        "(memae never imports code named by a model file)",
    )


def _add_fit(sub: argparse._SubParsersAction) -> None:
    """The ``fit`` command's options."""
    p = sub.add_parser(
        "fit",
        help="train a detector and save it",
        description="Train a detector on DATA (CSV/NPY/NPZ/Parquet rows of "
        "normal data) and save config.json + the weights (safetensors) to --out. "
        "NPY input is memory-mapped (train on files larger than memory). For K "
        "processes (DistributedDataParallel, gloo on CPU / nccl on GPUs) launch it "
        "with: torchrun --standalone --nproc_per_node=K -m memae fit ...",
    )
    p.add_argument("data", help="training data file")
    p.add_argument(
        "--model",
        default="memae",
        help="memae, ae, latentnorm, vae, compactvae (any registered model_key), or "
        "module:Class for a detector of your own (a memae.BaseDetector subclass)",
    )
    p.add_argument("--preset", default=None, help="paper configuration, e.g. 'kdd'")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE.json",
        help="detector parameters as a JSON object (after --preset, before the options below)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        help='at most this many passes over the rows (default: the detector\'s "auto" cap, '
        "500 epochs of at least 10 optimiser steps)",
    )
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument(
        "--lr-schedule",
        choices=("constant", "plateau"),
        default=None,
        help="plateau: the rate x0.1 after patience // 2 epochs without validation "
        "improvement (default constant)",
    )
    p.add_argument("--latent-dim", type=int, help="units of the code layer")
    p.add_argument("--hidden-dims", type=_int_list, metavar="W1,W2,...", help="e.g. 64,32")
    p.add_argument("--memory-size", type=int, help="memory items (MemAE)")
    p.add_argument(
        "--score-method",
        default=None,
        help="the detector's score: squared (default) or location_l2 (the official MemAE "
        "code's per-pixel error norm) for ae / memae; reconstruction or elbo for vae; joint, "
        "hole or reconstruction for compactvae",
    )
    p.add_argument(
        "--categorical",
        action="append",
        metavar="COLUMN",
        help="one-hot encode this column too (repeatable); text columns are encoded "
        "without it. The categories learned here are saved with the model",
    )
    p.add_argument(
        "--min-frequency",
        type=float,
        help="group categories rarer than this count (or share of rows, below 1)",
    )
    p.add_argument(
        "--log1p",
        action="append",
        metavar="COLUMN",
        help="log(1 + x) of this heavy-tailed numeric column first (repeatable; 'all': "
        "every numeric column that has no negative value)",
    )
    p.add_argument("--contamination", type=float)
    p.add_argument("--random-state", type=int)
    p.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default=None,
        help="bf16 autocast of the encoder and decoder; auto (default): bf16 for conv "
        "networks where the GPU or CPU computes it natively, float32 for tabular MLPs",
    )
    p.add_argument("--checkpoint-dir", default=None, help="checkpoint (and resume) here")
    p.add_argument("--checkpoint-every", type=int, default=1, metavar="K")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--validation",
        default=None,
        metavar="FILE",
        help="labelled rows (0 normal, 1 anomaly, in --label-column) that choose the "
        "epoch kept, instead of the unlabelled validation loss (optimistic on FILE)",
    )
    p.add_argument(
        "--selection-metric", choices=("roc_auc", "average_precision"), default="roc_auc"
    )
    _data_options(p)
    p.set_defaults(func=cmd_fit)


def _add_score(sub: argparse._SubParsersAction) -> None:
    """The ``score`` command's options."""
    p = sub.add_parser(
        "score",
        help="score data with a saved model",
        description="Score every row of DATA (CSV/NPY/NPZ/Parquet, streamed in chunks). "
        "Output columns: the --id-column values, score, is_anomaly (1 = above the model's "
        "threshold) and the --label-column; the format follows --out (.csv, default stdout; "
        ".parquet; .npy: the scores only). Features are the columns the model was fitted "
        "on, found by name in any order; other columns are ignored (with a note). Nothing "
        "is written when the command fails.",
    )
    p.add_argument("model_dir")
    p.add_argument("data")
    p.add_argument(
        "--out", default=None, help="output .csv, .parquet or .npy (default: CSV on stdout)"
    )
    p.add_argument(
        "--chunksize",
        type=int,
        default=DEFAULT_CHUNKSIZE,
        metavar="ROWS",
        help="rows read at a time; memory is bounded by this, not by the file "
        f"(default {DEFAULT_CHUNKSIZE})",
    )
    p.add_argument(
        "--explain",
        type=int,
        default=0,
        metavar="K",
        help="add the K features that add most to each row's score, and their contributions",
    )
    _data_options(p)
    _plugin_option(p)
    p.set_defaults(func=cmd_score)


def _add_plot(sub: argparse._SubParsersAction) -> None:
    """The ``plot`` command's options."""
    p = sub.add_parser(
        "plot",
        help="figures of saved models (PNG)",
        description="explain: the highest-scoring rows of DATA with their feature "
        "contributions (bars for tables, heat maps for images); reconstructions: input / "
        "reconstruction / error map per model; memory: "
        "the memory items of a MemAE model decoded; roc: ROC curve per model; hist: score "
        "histograms of normals and anomalies with the first model's threshold. DATA is a "
        ".npy/.npz/.csv file or mnist:test / cifar10:test (then --normal-class gives labels).",
    )
    p.add_argument("figure", choices=["reconstructions", "memory", "roc", "hist", "explain"])
    p.add_argument("models", nargs="+", help="saved model directories")
    p.add_argument("--data", default=None, help="samples to show or score")
    p.add_argument("--labels", default=None, help="0/1 anomaly labels, or classes")
    p.add_argument("--normal-class", type=int, default=None, help="labels = (class != C)")
    p.add_argument("--key", default=None, help="array name inside an .npz --data file")
    p.add_argument("--n", type=int, default=10, help="images (or memory items) to show")
    p.add_argument("--seed", type=int, default=0, help="which images are drawn")
    p.add_argument("--out", required=True, help="PNG file to write")
    _plugin_option(p)
    p.set_defaults(func=cmd_plot)


def _add_report(sub: argparse._SubParsersAction) -> None:
    """The ``report`` command's options."""
    p = sub.add_parser(
        "report",
        help="one self-contained HTML page about a model on a data file",
        description="Score DATA with the saved model and write one HTML file (figures "
        "inlined): the score histogram with the threshold, the ROC curve with "
        "--label-column, the top anomalies with their explanations, and the model card "
        "(detector, parameters, training history, SHA-256 of DATA).",
    )
    p.add_argument("model_dir")
    p.add_argument("data")
    p.add_argument("--out", required=True, help="the .html file to write")
    p.add_argument("--top", type=int, default=5, help="anomalies shown (default 5)")
    _data_options(p)
    _plugin_option(p)
    p.set_defaults(func=cmd_report)


def _add_data(sub: argparse._SubParsersAction) -> None:
    """The ``data`` command: ``memae data fetch NAME --to DIR``."""
    from memae.datasets.fetch import DATASETS

    p = sub.add_parser("data", help="download the benchmark data (checked by SHA-256)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    f = actions.add_parser(
        "fetch",
        help="download one dataset into DIR",
        description="Download a benchmark dataset from its public source (a fixed commit "
        "or release) into DIR, in the layout the loaders read; every file is checked "
        "against a pinned SHA-256 before it is renamed into place.",
    )
    f.add_argument("name", choices=DATASETS)
    f.add_argument("--to", required=True, metavar="DIR", help="data folder to fill")
    f.add_argument("--mirror", default=None, metavar="URL", help="fetch URL/<file> instead")
    f.set_defaults(func=cmd_data)


def _add_benchmark(sub: argparse._SubParsersAction) -> None:
    """The ``benchmark`` command's options."""
    p = sub.add_parser(
        "benchmark",
        help="run a paper benchmark",
        description="Run a benchmark; options after the name go to it "
        "(e.g. 'memae benchmark kdd --runs 5 --quick'; see "
        "'memae benchmark kdd --help').",
    )
    p.add_argument(
        "name",
        choices=list(BENCHMARKS),
    )
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options of the benchmark")
    p.set_defaults(func=cmd_benchmark)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    """The ``demo`` command's options."""
    p = sub.add_parser(
        "demo",
        help="1-minute demo on scikit-learn's bundled digits",
        description="Train AE and MemAE one-class detectors on scikit-learn's "
        "bundled handwritten digits (no download) and print ROC-AUCs.",
    )
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--files",
        default="memae-demo",
        metavar="DIR",
        help="where to write the next step's train.csv / test.csv (default: memae-demo)",
    )
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memae",
        description="Deep autoencoder anomaly detection (MemAE and baselines).",
    )
    parser.add_argument("--version", action="version", version=f"memae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_fit(sub)
    _add_score(sub)
    _add_plot(sub)
    _add_report(sub)
    _add_data(sub)
    _add_benchmark(sub)
    _add_demo(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (
        CLIError,
        ValueError,
        ArithmeticError,
        OSError,
        RuntimeError,
        ImportError,
    ) as exc:
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

"""``memae report``: one self-contained HTML page about a model on a data file.

The page holds the score histogram with the threshold, the ROC curve when labels are
given, the top-N anomalies with their explanations (feature bars for tables, input and
contribution maps for images), and the model card: detector, parameters, fitted
state, training history and a fingerprint of the data (SHA-256, rows, columns).
Figures are PNGs inlined as data URIs and the style is inline, so the file opens
anywhere, offline, and can be attached to a ticket as it is.
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from memae import plotting
from memae.datasets.fetch import file_sha256

__all__ = ["build_report", "file_sha256", "write_report"]

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:24px auto;color:#222}
h1{font-size:22px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left}th{background:#f4f4f4}img{max-width:100%}code,pre{font-size:12px}
.kpi{display:inline-block;margin:0 18px 8px 0}.kpi b{display:block;font-size:19px}
"""


def _png(make, *args: Any, **kwargs: Any) -> str:
    """Run a :mod:`memae.plotting` function into a temporary PNG; return a data URI."""
    with tempfile.TemporaryDirectory() as tmp:
        out = make(*args, Path(tmp) / "fig.png", **kwargs)
        data = Path(out).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _history_figure(history: list[dict], path: Path) -> Path:
    plt = plotting._pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    for key in ("loss", "val_loss"):
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            ax.plot(epochs, [np.nan if v is None else v for v in values], label=key, lw=1.2)
    ax.set_xlabel("epoch")
    ax.set_yscale("symlog")
    ax.legend(fontsize=7)
    return plotting._save(fig, path)


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{cells}</table>"


def build_report(
    detector: Any,
    X: Any,
    *,
    labels: np.ndarray | None = None,
    ids: Any = None,
    data_name: str = "data",
    data_sha256: str | None = None,
    model_name: str = "model",
    top: int = 5,
) -> str:
    """The report page as an HTML string (see the module docs)."""
    X = np.asarray(X) if not hasattr(X, "columns") else X
    detector._check_fitted_scores()  # the threshold below belongs to these scores
    scores = detector.decision_function(X)
    arr = X.to_numpy(dtype=np.float32) if hasattr(X, "columns") else X
    flagged = scores > detector.threshold_
    name = type(detector).__name__
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>memae report: "
        f"{html.escape(model_name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>memae report: {html.escape(name)} on {html.escape(data_name)}</h1>",
        "<div id='summary'>",
        f"<span class='kpi'><b>{len(scores)}</b>rows scored</span>",
        f"<span class='kpi'><b>{int(flagged.sum())}</b>flagged (score &gt; threshold)</span>",
        f"<span class='kpi'><b>{detector.threshold_:.4g}</b>threshold "
        f"({html.escape(getattr(detector, 'threshold_rule_', ''))})</span>",
    ]
    if labels is not None:
        parts.append(
            f"<span class='kpi'><b>{roc_auc_score(labels, scores):.4f}</b>ROC-AUC</span>"
            f"<span class='kpi'><b>{average_precision_score(labels, scores):.4f}</b>"
            "average precision</span>"
        )
    parts.append("</div>")

    # score histogram (the file's labels split it when given) and the ROC curve
    hist_labels = labels if labels is not None else np.zeros(len(scores), dtype=int)
    parts.append("<h2 id='histogram'>Scores and threshold</h2>")
    parts.append(
        f"<img id='histogram-img' alt='score histogram' src='"
        f"{_png(plotting.plot_histogram, scores, hist_labels, detector.threshold_)}'>"
    )
    if labels is not None:
        parts.append("<h2 id='roc'>ROC curve</h2>")
        roc = _png(plotting.plot_roc, {name: scores}, labels)
        parts.append(f"<img id='roc-img' alt='ROC curve' src='{roc}'>")

    # the top anomalies and why
    order = np.argsort(-scores, kind="stable")[:top]
    parts.append(f"<h2 id='top-anomalies'>Top {len(order)} anomalies</h2>")
    rows = []
    for rank, i in enumerate(order, 1):
        ident = {"row": int(i)} if ids is None else ids.iloc[i].to_dict()
        ident = ", ".join(f"{k}={v}" for k, v in ident.items())
        label = "" if labels is None else f"<td>{int(labels[i])}</td>"
        rows.append(
            f"<tr><td>{rank}</td><td>{html.escape(ident)}</td><td>{scores[i]:.6g}</td>{label}</tr>"
        )
    head = "<tr><th>rank</th><th>id</th><th>score</th>" + (
        "<th>label</th></tr>" if labels is not None else "</tr>"
    )
    parts.append(f"<table id='top-table'>{head}{''.join(rows)}</table>")
    try:
        picked = np.sort(order)
        names = picked if ids is None else np.array([
            ", ".join(f"{k}={v}" for k, v in ids.iloc[i].items()) for i in picked
        ])  # fmt: skip
        fig = _png(
            plotting.plot_explanation, detector, arr[picked], n_rows=len(order), top_k=8,
            row_index=names,
        )  # fmt: skip
        parts.append(f"<img id='explanations-img' alt='explanations' src='{fig}'>")
        parts.append(
            "<p>Bars: each feature's contribution to the score "
            "(<code>feature_scores</code>; they add up to the score, plus the remainder "
            "named in a title). Images: the input above its per-pixel contribution.</p>"
        )
    except ValueError as exc:  # a score of the code alone: no per-feature view
        parts.append(
            f"<p id='explanations-note'>No explanation figure: {html.escape(str(exc))}</p>"
        )

    # model card
    parts.append("<h2 id='model-card'>Model card</h2>")
    history = getattr(detector, "history_", []) or []
    card = [
        ("detector", f"{type(detector).__module__}.{name}"),
        ("model", model_name),
        ("features", getattr(detector, "n_features_in_", "")),
        ("sample shape", getattr(detector, "sample_shape_", "")),
        ("epochs run", len(history)),
        ("epoch kept", getattr(detector, "best_epoch_", None)),
        ("kept by", getattr(detector, "selection_", None)),
        ("converged (stopped by patience)", getattr(detector, "stopped_early_", None)),
        ("training rows", len(getattr(detector, "decision_scores_", []))),
        ("data", data_name),
        ("data SHA-256", data_sha256 or "(not a file)"),
        ("data shape", f"{len(scores)} rows x {getattr(detector, 'n_features_in_', '?')} "
         "features"),
    ]  # fmt: skip
    names = getattr(detector, "feature_names_in_", None)
    if names:
        card.append(("feature names", ", ".join(names[:30]) + (" ..." if len(names) > 30 else "")))
    parts.append(_table(card))
    params = json.dumps(detector.get_params(deep=False), indent=1, default=str)
    parts.append(f"<h3>Parameters</h3><pre id='params'>{html.escape(params)}</pre>")
    if history:
        parts.append("<h3 id='history'>Training history</h3>")
        parts.append(f"<img alt='training history' src='{_png(_history_figure, history)}'>")
    parts.append("<p><small>Written by memae; figures are inlined PNGs.</small></p></body></html>")
    return "\n".join(parts)


def write_report(page: str, out: str | os.PathLike) -> Path:
    """Write ``page`` to ``out`` under a temporary name, then rename (never half-written)."""
    target = Path(out)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target

"""``memae report``: a self-contained HTML page, checked as text and in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

import memae
from memae.cli import main
from memae.report import build_report

SECTIONS = ("summary", "histogram", "roc", "top-anomalies", "top-table", "model-card", "params")


@pytest.fixture(scope="module")
def table_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    cols = [f"c{i}" for i in range(6)]
    pd.DataFrame(rng.normal(size=(1500, 6)), columns=cols).to_csv(tmp / "train.csv", index=False)
    test = pd.DataFrame(rng.normal(size=(200, 6)), columns=cols)
    test.iloc[:5, 2] += 9.0  # five planted anomalies, ids 1000..1004
    test.insert(0, "id", np.arange(1000, 1200))
    test["y"] = (np.arange(200) < 5).astype(int)
    test.to_csv(tmp / "test.csv", index=False)
    args = ["fit", str(tmp / "train.csv"), "--model", "ae", "--epochs", "10",
            "--random-state", "0", "--out", str(tmp / "m"), "--quiet"]  # fmt: skip
    assert main(args) == 0
    return tmp


def _check_self_contained(page: str) -> None:
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page)  # nothing fetched
    assert page.count("data:image/png;base64,") >= 3


def test_report_command_writes_every_part(table_model, capsys):
    tmp = table_model
    out = tmp / "report.html"
    args = ["report", str(tmp / "m"), str(tmp / "test.csv"), "--id-column", "id",
            "--label-column", "y", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    page = out.read_text()
    for section in SECTIONS:
        assert f"id='{section}'" in page, section
    _check_self_contained(page)
    top = page[page.index("id='top-table'") :]
    top = top[: top.index("</table>")]
    assert all(f"<td>id={i}</td>" in top for i in range(1000, 1005))  # the planted rows lead
    assert "ROC-AUC" in page and "SHA-256" in page
    assert memae.report.file_sha256(tmp / "test.csv") in page
    assert main(["report", str(tmp / "m"), str(tmp / "test.csv"), "--out", str(tmp / "r.txt")]) == 1


def test_image_and_code_only_reports():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 120, (300, 12, 12), dtype=np.uint8)
    det = memae.MemAE(hidden_dims=(8,), latent_dim=8, memory_size=10, epochs=1, random_state=0)
    page = build_report(det.fit(X), X[:40])
    assert "id='explanations-img'" in page and "id='roc'" not in page
    tab = rng.normal(size=(400, 5)).astype(np.float32)
    page = build_report(memae.DAGMM(epochs=2, random_state=0).fit(tab), tab[:50])
    assert "id='explanations-note'" in page and "no per-feature decomposition" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_renders_in_headless_chromium(table_model, tmp_path):
    from PIL import Image

    tmp = table_model
    out = tmp_path / "report.html"
    args = ["report", str(tmp / "m"), str(tmp / "test.csv"), "--id-column", "id",
            "--label-column", "y", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        ["chromium", *flags, "--window-size=1100,2400", f"--screenshot={shot}", out.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shot.is_file(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert (pixels < 200).mean() > 0.02  # text and figures were drawn, not a blank page
    # the rendered DOM has every section, and every figure decoded (naturalWidth > 0)
    probe = tmp_path / "probe.html"
    script = (
        "<script>window.onload=()=>{document.title=[...document.images]"
        ".map(i=>i.naturalWidth).join(',')}</script>"
    )
    probe.write_text(out.read_text().replace("</head>", script + "</head>"))
    dom = subprocess.run(
        ["chromium", *flags, "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    for section in SECTIONS:
        assert f'id="{section}"' in dom, section
    widths = re.search(r"<title>([\d,]+)</title>", dom)
    assert widths is not None, dom[:500]
    assert all(int(w) > 100 for w in widths.group(1).split(","))

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from memae import load
from memae.cli import main
from memae.demo import run_demo


@pytest.fixture()
def files(kdd_slice, tmp_path):
    X_train, X_test, _ = kdd_slice
    cols = [f"f{i}" for i in range(X_train.shape[1])]
    train_csv = tmp_path / "train.csv"
    frame = pd.DataFrame(X_train[:2000], columns=cols)
    frame.insert(0, "label", 0)
    frame.to_csv(train_csv, index=False)
    np.save(tmp_path / "test.npy", X_test)
    pd.DataFrame(X_test, columns=cols).to_parquet(tmp_path / "test.parquet")
    return tmp_path, train_csv


def test_fit_and_score_round_trip(files, capsys, kdd_slice):
    tmp, train_csv = files
    model = tmp / "model"
    assert (
        main(
            [
                "fit",
                str(train_csv),
                "--model",
                "memae",
                "--preset",
                "kdd",
                "--epochs",
                "2",
                "--random-state",
                "0",
                "--label-column",
                "label",
                "--out",
                str(model),
                "--quiet",
            ]
        )
        == 0
    )
    assert "saved to" in capsys.readouterr().out
    assert main(["score", str(model), str(tmp / "test.npy"), "--out", str(tmp / "s.csv")]) == 0
    scores = np.loadtxt(tmp / "s.csv", delimiter=",", skiprows=1)
    det = load(model)
    np.testing.assert_allclose(scores[:, 0], det.decision_function(kdd_slice[1]), rtol=1e-7)
    np.testing.assert_array_equal(scores[:, 1], det.predict(kdd_slice[1]))
    # Parquet with column names (the model was fitted on CSV columns f0..f117 + dropped label)
    assert main(["score", str(model), str(tmp / "test.parquet"), "--out", str(tmp / "s.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp / "s.npy"), scores[:, 0], rtol=1e-7)
    assert json.loads((model / "config.json").read_text())["params"]["memory_size"] == 50


@pytest.mark.parametrize(
    ("model", "cls"),
    [("latentnorm", "LatentNormAE"), ("vae", "VAE"), ("compactvae", "CompactVAE")],
)
def test_fit_every_detector_from_the_command_line(files, model, cls, kdd_slice):
    tmp, train_csv = files
    out = tmp / model
    args = ["fit", str(train_csv), "--model", model, "--epochs", "2", "--random-state", "0",
            "--label-column", "label", "--out", str(out), "--quiet",
            "--lr-schedule", "plateau"]  # fmt: skip
    assert main(args) == 0
    det = load(out)
    assert type(det).__name__ == cls
    assert det.lr_schedule == "plateau" and "lr" in det.history_[0]  # saved, and it ran
    assert main(["score", str(out), str(tmp / "test.npy"), "--out", str(tmp / "s.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp / "s.npy"), det.decision_function(kdd_slice[1]))


def test_score_method_from_the_command_line(files, kdd_slice, capsys):
    tmp, train_csv = files
    common = ["fit", str(train_csv), "--epochs", "2", "--random-state", "0",
              "--label-column", "label", "--quiet"]  # fmt: skip
    out = tmp / "l2"
    assert main([*common, "--model", "ae", "--score-method", "location_l2", "--out", str(out)]) == 0
    det = load(out)
    assert det.score_method == "location_l2"
    assert main(["score", str(out), str(tmp / "test.npy"), "--out", str(tmp / "s.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp / "s.npy"), det.decision_function(kdd_slice[1]))
    capsys.readouterr()
    assert main([*common, "--model", "ae", "--score-method", "absolute", "--out", str(out)]) == 1
    assert "score_method" in capsys.readouterr().err
    assert main([*common, "--model", "dagmm", "--score-method", "squared", "--out", str(out)]) == 1
    assert "DAGMM has no parameter score_method" in capsys.readouterr().err


def test_leaderboard_quick(tmp_path):
    from .conftest import data_root

    if not (data_root() / "odds" / "glass.mat").is_file():
        pytest.skip("ODDS files not available")
    args = ["benchmark", "all", "--quick", "--methods", "AE", "LatentNormAE", "KNN",
            "--out", str(tmp_path), "--data", str(data_root())]  # fmt: skip
    assert main(args) == 0
    res = json.loads((tmp_path / "leaderboard-quick.json").read_text())
    out = res["results"]
    assert set(out["odds"]) == {"glass", "vertebral", "wbc"}
    assert sum(res["average_rank"].values()) == pytest.approx(6.0)  # ranks 1 + 2 + 3
    toll = out["toll"]["arrhythmia"]
    assert set(toll) == {"AE", "LatentNormAE", "KNN", "LatentNormAE-toll"}
    # the Toll pipeline by hand for the deterministic KNN: split, F1 at the top 14.6%, AUC
    from benchmarks.runners.baselines import KNNDistance
    from sklearn.metrics import roc_auc_score

    from memae.datasets import load_odds
    from memae.evaluation import f1_at_top, toll_split

    X, y = load_odds("arrhythmia", data_root())
    train, _, test = toll_split(y, 0)
    knn = KNNDistance().fit(X[train]).decision_function(X[test])
    assert toll["KNN"]["f1"] == pytest.approx(f1_at_top(y[test], knn, 0.146))
    assert toll["KNN"]["auc"] == pytest.approx(roc_auc_score(y[test], knn))
    # KDDCUP99 and one-class MNIST (classes 0 and 1): every method well above chance
    assert all(out["kdd"]["kddcup99"][m]["auc"] > 0.8 for m in ("AE", "KNN"))
    assert all(0 <= out["kdd"]["kddcup99"][m]["f1"] <= 1 for m in res["methods"])
    assert set(out["images"]) == {"mnist"}
    assert out["images"]["mnist"]["KNN"]["auc"] > 0.9
    # 3 + 1 + 1 + 1 datasets; the ranks of three methods sum to 6 on each
    assert sum(res["average_rank_all"].values()) == pytest.approx(6.0)
    assert (tmp_path / "figures" / "leaderboard-quick-heatmap.png").stat().st_size > 10_000
    assert "| average rank |" in (tmp_path / "leaderboard-quick.md").read_text()
    # --image-seeds 2 reads seed 0 back, trains seed 1 and reports the mean of the two
    args += ["--parts", "images", "--image-seeds", "2"]
    assert main(args) == 0
    res2 = json.loads((tmp_path / "leaderboard-quick.json").read_text())
    assert res2["image_seeds"] == 2 and set(res2["results"]) == {"images"}
    ae1, ae2 = (r["results"]["images"]["mnist"]["AE"]["auc"] for r in (res, res2))
    assert ae2 != ae1 and 0.5 < ae2 <= 1
    tasks = tmp_path / "work" / "mnist-quick" / "AE"
    per_seed = [
        np.mean([json.loads((tasks / f"class{c}-seed{s}.json").read_text())["auc"] for c in (0, 1)])
        for s in (0, 1)
    ]
    assert per_seed[0] == pytest.approx(ae1) and ae2 == pytest.approx(np.mean(per_seed))
    assert "mean over the classes, 2 seeds" in (tmp_path / "leaderboard-quick.md").read_text()


def test_latent_figures_quick(tmp_path):
    from .conftest import data_root

    if not (data_root() / "odds" / "arrhythmia.mat").is_file():
        pytest.skip("ODDS files not available")
    args = ["benchmark", "latent", "--quick", "--out", str(tmp_path), "--data", str(data_root())]
    assert main(args) == 0
    res = json.loads((tmp_path / "latent-quick.json").read_text())
    assert len(res["roc_auc"]) == 5 and all(0 <= v <= 1 for v in res["roc_auc"].values())
    # even after 1 epoch on 1,000 zeros, the hole score separates the other digits
    assert res["roc_auc"]["mnist CompactVAE-sphere hole score"] > 0.9
    for name in ("mnist-latentnorm-norms", "mnist-compactvae-sphere",
                 "mnist-compactvae-lipschitz", "arrhythmia-latentnorm-norms",
                 "arrhythmia-compactvae-s2"):  # fmt: skip
        assert (tmp_path / "figures" / f"latent-{name}.png").stat().st_size > 10_000
        assert f"`latent-{name}.png` |" in (tmp_path / "latent-quick.md").read_text()
    # one part re-run: the MNIST rows are kept, in their order, with the first command
    marked = {**res, "roc_auc": {**res["roc_auc"], "mnist LatentNormAE code norm": 0.123}}
    (tmp_path / "latent-quick.json").write_text(json.dumps(marked))
    assert main([*args, "--parts", "arrhythmia", "--keep-other-parts"]) == 0
    again = json.loads((tmp_path / "latent-quick.json").read_text())
    assert list(again["roc_auc"]) == list(res["roc_auc"])
    assert again["roc_auc"]["mnist LatentNormAE code norm"] == 0.123
    arr = [k for k in res["roc_auc"] if k.startswith("arrhythmia")]
    # seeded: the re-run Arrhythmia rows are the first run's
    assert [again["roc_auc"][k] for k in arr] == [res["roc_auc"][k] for k in arr]
    assert set(again["kept"]) == {k for k in res["roc_auc"] if k.startswith("mnist")}
    assert all(k["command"] == res["environment"]["command"] for k in again["kept"].values())
    assert "Rows kept from an earlier run" in (tmp_path / "latent-quick.md").read_text()


def test_errors_are_one_line(files, capsys):
    tmp, train_csv = files
    assert main(["score", str(tmp / "missing"), str(tmp / "test.npy")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("memae score: error:") and err.count("\n") == 1
    assert main(["fit", str(tmp / "nope.csv"), "--out", str(tmp / "m")]) == 1
    assert "no such file" in capsys.readouterr().err
    np.save(tmp / "bad.npy", np.array([[1.0, np.nan]]))
    assert main(["fit", str(tmp / "bad.npy"), "--out", str(tmp / "m")]) == 1
    assert "NaN" in capsys.readouterr().err
    assert main(["fit", str(train_csv), "--preset", "nope", "--out", str(tmp / "m")]) == 1
    assert "unknown preset" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", [[], ["fit"], ["score"], ["plot"], ["benchmark"], ["demo"]])
def test_help_everywhere(cmd):
    out = subprocess.run(
        [sys.executable, "-m", "memae", *cmd, "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: memae" in out


def test_benchmark_kdd_quick(tmp_path, kdd):
    assert (
        main(["benchmark", "kdd", "--quick", "--methods", "AE", "MemAE", "--out", str(tmp_path)])
        == 0
    )
    results = json.loads((tmp_path / "kdd-quick.json").read_text())
    assert set(results["summary"]) == {"AE", "MemAE"}
    assert results["summary"]["MemAE"]["f1"]["mean"] > 0.5
    assert "| MemAE |" in (tmp_path / "kdd-quick.md").read_text()


def test_demo_runs_and_separates_digits(capsys, tmp_path):
    aucs = run_demo(epochs=15, digits=[0, 1], files=tmp_path / "demo")
    out = capsys.readouterr().out
    assert "mean" in out and "What the table means" in out
    assert min(aucs["MemAE"]) > 0.8 and min(aucs["AE"]) > 0.8
    # the suggested next step runs as printed, on the files the demo wrote
    steps = [line.split()[1:] for line in out.splitlines() if line.startswith("  memae ")]
    assert [s[0] for s in steps] == ["fit", "score"]
    for step in steps:  # the paths printed are tmp_path / "demo"
        assert main([*step, *(["--epochs", "3", "--quiet"] if step[0] == "fit" else [])]) == 0
    res = pd.read_csv(tmp_path / "demo" / "scores.csv")
    assert list(res.columns) == ["id", "score", "is_anomaly", "y"] and len(res) > 1000


def test_quick_scaling_benchmark(tmp_path, kdd):
    from .conftest import data_root

    args = ["benchmark", "scaling", "--quick", "--out", str(tmp_path), "--workdir", str(tmp_path),
            "--data", str(data_root())]  # fmt: skip
    assert main(args) == 0
    res = json.loads((tmp_path / "scaling-quick.json").read_text())
    assert [(r["processes"], r["threads_per_process"]) for r in res["training"]] == [(1, 1), (2, 1)]
    assert all(r["rows_per_s"] > 0 for r in res["training"] + res["dask"] + res["chunked"])
    assert [r["workers"] for r in res["dask"]] == [1, 2]
    # every row of every generated file was scored (the child checks the scores' length)
    assert {r["format"]: r["rows"] for r in res["chunked"]} == {
        "npy": 50_000, "parquet": 50_000, "csv": 10_000}  # fmt: skip
    assert all(0 < r["peak_rss_mb"] < 8000 for r in res["chunked"])


def test_benchmark_mnist_quick_writes_results_and_figures(tmp_path, mnist, capsys):
    from .conftest import data_root

    args = ["benchmark", "mnist", "--quick", "--classes", "1", "--methods", "AE", "MemAE",
            "IsolationForest", "--out", str(tmp_path), "--data", str(data_root())]  # fmt: skip
    assert main(args) == 0
    res = json.loads((tmp_path / "mnist-quick.json").read_text())
    assert set(res["summary"]) == {"AE", "MemAE", "IsolationForest"}
    assert res["summary"]["IsolationForest"]["auc"]["mean"] > 0.9  # 1 vs the rest is easy
    task = res["per_task"]["MemAE"][0]
    assert task["class"] == 1 and 0 <= task["auc_30"] <= 1 and task["fit_seconds"] > 0
    md = (tmp_path / "mnist-quick.md").read_text()
    assert "| MemAE |" in md
    # 1 epoch: no fit can stop by patience; the forest has no epochs
    assert "not at the epoch cap): AE 0 of 1 (1 epochs on average), MemAE 0 of 1 (1 " in md
    figs = tmp_path / "figures"
    for kind in ("roc", "hist", "memory", "reconstructions"):
        png = figs / f"mnist-quick-class1-{kind}.png"
        assert png.stat().st_size > 10_000, kind
    # a second run finds every task done and only re-summarises
    capsys.readouterr()
    assert main(args) == 0
    assert "0 tasks to run" in capsys.readouterr().out
    # on a machine with the task records but not the figures' models and scores (they
    # are not committed), the figure class's tasks re-run and give the same results
    shutil.rmtree(tmp_path / "work" / "mnist-quick" / "figure-class1")
    for png in figs.iterdir():
        png.unlink()
    assert main(args) == 0
    assert "3 tasks to run" in capsys.readouterr().out
    again = json.loads((tmp_path / "mnist-quick.json").read_text())
    for name in res["per_task"]:
        assert again["per_task"][name][0]["auc"] == res["per_task"][name][0]["auc"], name
    assert (figs / "mnist-quick-class1-memory.png").stat().st_size > 10_000
    # with --no-figures nothing is missing
    shutil.rmtree(tmp_path / "work" / "mnist-quick" / "figure-class1")
    assert main([*args, "--no-figures"]) == 0
    assert "0 tasks to run" in capsys.readouterr().out


def test_image_fit_and_plot_commands(tmp_path, mnist, capsys):
    X, y, Xt, yt = mnist
    np.save(tmp_path / "sevens.npy", X[y == 7][:500])  # uint8 images, memory-mapped by fit
    argv = ["fit", str(tmp_path / "sevens.npy"), "--preset", "mnist", "--epochs", "1",
            "--random-state", "0", "--out", str(tmp_path / "m")]  # fmt: skip
    assert main(argv) == 0
    assert "samples of shape (28, 28)" in capsys.readouterr().out
    assert load(tmp_path / "m").network_.memory.weight.shape == (100, 64 * 4 * 4)  # whole code
    test = tmp_path / "test.npy"
    np.save(test, Xt[:400])
    np.save(tmp_path / "classes.npy", yt[:400])
    for fig in ("reconstructions", "memory", "roc", "hist"):
        out = tmp_path / f"{fig}.png"
        labels = str(tmp_path / "classes.npy")
        argv = ["plot", fig, str(tmp_path / "m"), "--data", str(test), "--labels", labels,
                "--normal-class", "7", "--out", str(out)]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        assert out.stat().st_size > 5_000
    assert main(["plot", "roc", str(tmp_path / "m"), "--data", str(test), "--out", "x.png"]) == 1
    assert "needs labels" in capsys.readouterr().err


def test_benchmark_ped2_quick_writes_results_and_figures(tmp_path):
    from .conftest import data_root

    args = ["benchmark", "ped2", "--quick", "--out", str(tmp_path), "--data", str(data_root())]
    assert main(args) == 0
    res = json.loads((tmp_path / "ped2-quick.json").read_text())
    assert set(res["results"]) == {"AE", "MemAE-nonSpar", "MemAE"}
    assert res["test_frames"] == 360 and res["train_videos"] == res["test_videos"] == 2
    for r in res["results"].values():
        assert 0 <= r["auc"] <= 1 and 0 <= r["official"]["auc_raw"] <= 1
        assert r["official"]["frames"] == 360 - 2 * 15 and r["all"]["frames"] == 360
        assert r["score_frames_per_second"] > 0 and r["epochs_run"] == 1
    md = (tmp_path / "ped2-quick.md").read_text()
    assert "| MemAE |" in md and "Training loss at the last epoch: AE " in md
    assert len(res["results"]["MemAE"]["history"]) == res["results"]["MemAE"]["epochs_run"]
    for kind in ("regularity", "frame"):
        assert (tmp_path / "figures" / f"ped2-quick-{kind}.png").stat().st_size > 10_000


def test_fit_checks_the_destination_before_training(tmp_path, capsys, monkeypatch):
    import memae.detectors.base as base

    data = tmp_path / "train.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(50, 3)), delimiter=",")
    monkeypatch.setattr(base.BaseDetector, "fit", lambda *a, **k: pytest.fail("trained"))
    (tmp_path / "file").write_text("x")
    assert main(["fit", str(data), "--out", str(tmp_path / "file")]) == 1
    assert "exists and is not a directory" in capsys.readouterr().err
    (tmp_path / "link").symlink_to(tmp_path)
    assert main(["fit", str(data), "--out", str(tmp_path / "link")]) == 1
    assert "symbolic link" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not os.access(locked, os.W_OK):  # root may write anywhere
        assert main(["fit", str(data), "--out", str(locked / "m")]) == 1
        assert "not writable" in capsys.readouterr().err


def test_score_failing_midway_leaves_no_truncated_output(tmp_path, capsys):
    from memae import AutoEncoder

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)).astype(np.float32)
    AutoEncoder(epochs=2, random_state=0).fit(X).save(tmp_path / "m")
    bad = np.r_[X, np.full((1, 3), np.nan, np.float32)]  # NaN in the last chunk
    np.save(tmp_path / "bad.npy", bad)
    for out in ("s.csv", "s.npy"):
        args = ["score", str(tmp_path / "m"), str(tmp_path / "bad.npy"), "--chunksize", "100"]
        assert main([*args, "--out", str(tmp_path / out)]) == 1
        assert "NaN" in capsys.readouterr().err
        assert not (tmp_path / out).exists()
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_huge_finite_input_is_reported_as_out_of_range(tmp_path, capsys):
    from memae import AutoEncoder

    X = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    det = AutoEncoder(epochs=2, random_state=0).fit(X)
    with pytest.raises(FloatingPointError, match="out of the range") as err:
        det.decision_function(X * np.float32(1e30))
    assert "corrupt" not in str(err.value)
    det.save(tmp_path / "m")
    np.save(tmp_path / "huge.npy", X * np.float32(1e30))
    assert main(["score", str(tmp_path / "m"), str(tmp_path / "huge.npy")]) == 1
    err = capsys.readouterr().err
    assert "out of the range" in err and "Traceback" not in err and err.count("\n") == 1

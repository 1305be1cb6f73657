"""Benchmark pipelines checked by hand with stub detectors whose scores are known.

A quality figure is only as good as the harness around it: these tests replace the
models with stubs and check what each harness does with their scores (issue 23).
"""

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from benchmarks.runners import images, kdd
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

import memae
from memae.datasets import Videos
from memae.evaluation import anomaly_subset, kdd_split, video_aucs
from memae.presets import PRESETS, preset_params


class FirstFeature:
    """Scores a row by its first feature; records what it was fitted on and its seed."""

    fitted: ClassVar[list] = []

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit(self, X):
        FirstFeature.fitted.append((self.seed, X.copy()))
        self.decision_scores_ = self.decision_function(X)
        return self

    def decision_function(self, X):
        X = np.asarray(X, dtype=np.float64)
        return X.reshape(len(X), -1)[:, 0]


class DeepStub(FirstFeature, memae.BaseDetector, register=False):
    """A stub that the harnesses treat as a deep detector (it takes validation_data)."""

    validation: ClassVar[list] = []
    # never called (fit and scoring are FirstFeature's); defined so the class is concrete
    _build_network = _loss = _score_batch = None

    def fit(self, X, validation_data=None):
        DeepStub.validation.append(validation_data)
        return super().fit(X)


# ------------------------------------------------------------------------------ KDD
@pytest.fixture()
def kdd_stub(monkeypatch):
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.2).astype(np.int64)
    X = rng.normal(size=(400, 3)).astype(np.float32)
    X[:, 0] += 1.5 * y  # anomalies score higher, imperfectly
    monkeypatch.setattr(kdd, "load_kdd", lambda data=None: (X, y))
    monkeypatch.setattr(kdd, "methods", lambda quick: {"stub": FirstFeature})
    FirstFeature.fitted = []
    return X, y


def test_kdd_run_by_hand_and_resume(kdd_stub, tmp_path):
    X, y = kdd_stub
    res = kdd.run(runs=3, log=lambda s: None)
    assert [seed for seed, _ in FirstFeature.fitted] == [0, 1, 2]  # seed r in run r
    for r, row in enumerate(res["per_run"]["stub"]):
        train, test = kdd_split(y, seed=r)
        np.testing.assert_array_equal(FirstFeature.fitted[r][1], X[train])  # attacks only
        assert (y[train] == 0).all() and set(np.flatnonzero(y == 1)) <= set(test)
        s_train, s_test = X[train, 0].astype(np.float64), X[test, 0].astype(np.float64)
        # the pooled threshold: 80th percentile of training *and* test scores
        thr = np.percentile(np.r_[s_train, s_test], 80)
        assert row["threshold"] == pytest.approx(thr)
        p, rc, f, _ = precision_recall_fscore_support(
            y[test], (s_test > thr).astype(int), average="binary"
        )
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p, rc, f))
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y[test], s_test))
    assert res["summary"]["stub"]["f1"]["mean"] == pytest.approx(
        np.mean([r["f1"] for r in res["per_run"]["stub"]])
    )
    # resume: a partial file with run 0 done goes on from run 1 and ends the same
    partial = tmp_path / "kdd.partial.json"
    first = kdd.run(runs=1, log=lambda s: None, partial=partial)
    assert json.loads(partial.read_text())["per_run"]["stub"] == first["per_run"]["stub"]
    FirstFeature.fitted = []
    resumed = kdd.run(runs=3, log=lambda s: None, partial=partial)
    assert [seed for seed, _ in FirstFeature.fitted] == [1, 2]
    for a, b in zip(resumed["per_run"]["stub"], res["per_run"]["stub"], strict=True):
        assert {k: v for k, v in a.items() if "seconds" not in k} == pytest.approx(
            {k: v for k, v in b.items() if "seconds" not in k}
        )


def test_kdd_method_added_after_a_finished_run_joins_its_table(kdd_stub, tmp_path, monkeypatch):
    """With no partial file left (a finished benchmark deletes it), `--methods NEW` starts
    from the published results: the new method runs, the old ones are kept, not rerun."""
    kdd.main(["--runs", "2", "--out", str(tmp_path)])
    assert not (tmp_path / "kdd.partial.json").exists()
    before = json.loads((tmp_path / "kdd.json").read_text())["per_run"]["stub"]

    class Other(FirstFeature):
        pass

    monkeypatch.setattr(kdd, "methods", lambda quick: {"stub": FirstFeature, "other": Other})
    FirstFeature.fitted = []
    kdd.main(["--runs", "2", "--methods", "other", "--out", str(tmp_path)])
    after = json.loads((tmp_path / "kdd.json").read_text())
    assert after["per_run"]["stub"] == before  # kept
    assert len(after["per_run"]["other"]) == 2 and len(FirstFeature.fitted) == 2  # only new
    assert "| other |" in (tmp_path / "kdd.md").read_text()


class CappedStub(FirstFeature):
    """A deep detector's training record: run r's fit would stop by patience after
    ``NATURAL[r]`` epochs, so under a lower cap it ends at the cap, not converged."""

    NATURAL = (4, 12, 7)
    epochs = 5  # the cap, set by the test

    def fit(self, X):
        n = min(self.NATURAL[self.seed], self.epochs)
        self.history_, self.stopped_early_ = [{}] * n, n < self.epochs
        return super().fit(X)


def test_kdd_refit_capped_trains_again_only_the_fits_that_ended_at_a_lower_cap(
    kdd_stub, tmp_path, monkeypatch
):
    monkeypatch.setattr(kdd, "methods", lambda quick: {"AE": CappedStub, "stub": FirstFeature})
    monkeypatch.setattr(CappedStub, "epochs", 5)
    kdd.main(["--runs", "3", "--out", str(tmp_path)])

    def records():
        return json.loads((tmp_path / "kdd.json").read_text())["per_run"]

    first = records()
    assert [(r["epochs"], r["converged"]) for r in first["AE"]] == [
        (4, True),
        (5, False),
        (5, False),
    ]

    def refit(cap):
        monkeypatch.setattr(CappedStub, "epochs", cap)
        FirstFeature.fitted = []
        kdd.main(["--runs", "3", "--refit-capped", "--out", str(tmp_path)])
        return sorted(seed for seed, _ in FirstFeature.fitted), records()

    fitted, after = refit(10)  # runs 1 and 2 ended at the old cap of 5; run 0 converged
    assert fitted == [1, 2]
    assert [(r["epochs"], r["converged"]) for r in after["AE"]] == [
        (4, True),
        (10, False),
        (7, True),
    ]
    assert after["AE"][0] == first["AE"][0] and after["stub"] == first["stub"]  # kept as saved
    assert refit(10)[0] == []  # at the cap it ran with: nothing to do
    fitted, after = refit(20)
    assert fitted == [1] and after["AE"][1]["epochs"] == 12 and after["AE"][1]["converged"]
    # without the flag, saved runs are never trained again
    monkeypatch.setattr(CappedStub, "epochs", 50)
    FirstFeature.fitted = []
    kdd.main(["--runs", "3", "--out", str(tmp_path)])
    assert FirstFeature.fitted == []


def test_kdd_refresh_trains_the_named_methods_again_and_resumes(kdd_stub, tmp_path, monkeypatch):
    class Other(FirstFeature):
        pass

    monkeypatch.setattr(kdd, "methods", lambda quick: {"stub": FirstFeature, "other": Other})
    kdd.main(["--runs", "3", "--out", str(tmp_path)])
    before = json.loads((tmp_path / "kdd.json").read_text())["per_run"]
    FirstFeature.fitted = []
    partial = tmp_path / "kdd.partial.json"
    # an interrupted refresh of "other": run 0 done, then resumed from the partial file
    kdd.run(runs=1, only=["other"], partial=partial, published=tmp_path / "kdd.json",
            refresh=True, log=lambda s: None)  # fmt: skip
    saved = json.loads(partial.read_text())["per_run"]
    assert len(saved["other"]) == 1 and saved["stub"] == before["stub"]
    assert list(saved) == ["stub", "other"]  # the table keeps its order
    kdd.main(["--runs", "3", "--methods", "other", "--refresh", "--out", str(tmp_path)])
    assert [s for s, _ in FirstFeature.fitted] == [0, 1, 2]
    after = json.loads((tmp_path / "kdd.json").read_text())["per_run"]
    assert after["stub"] == before["stub"] and len(after["other"]) == 3
    assert not partial.exists()


def test_leaderboard_refit_capped_redoes_only_the_fits_at_a_lower_cap(tmp_path, monkeypatch):
    from benchmarks.runners import leaderboard

    calls = []

    def fake_run_one(part, dataset, method, seed, quick, data, track):
        calls.append(seed)
        n = min(CappedStub.NATURAL[seed], CappedStub.epochs)
        return {"auc": 0.5 + n / 100, "epochs": n, "converged": float(n < CappedStub.epochs)}

    monkeypatch.setattr(leaderboard, "run_one", fake_run_one)
    monkeypatch.setattr(leaderboard, "kdd_methods", lambda quick: {"AE": CappedStub})

    def tabular(cap, refit):
        monkeypatch.setattr(CappedStub, "epochs", cap)
        calls.clear()
        out = leaderboard._tabular(
            "kdd", ("kddcup99",), ["AE"], range(3), False, None, tmp_path, print, refit_capped=refit
        )
        return sorted(calls), out["kddcup99"]["AE"]

    assert tabular(5, False)[0] == [0, 1, 2]
    assert tabular(10, False)[0] == []  # saved records are read back
    fitted, row = tabular(10, True)
    assert fitted == [1, 2]  # run 0 stopped by patience at 4 epochs: kept
    assert row["epochs"] == pytest.approx((4 + 10 + 7) / 3)
    assert row["converged"] == pytest.approx(2 / 3)
    assert tabular(10, True)[0] == []


def test_ended_at_lower_cap():
    from benchmarks.runners.report import ended_at_lower_cap

    assert ended_at_lower_cap({"epochs": 300, "converged": False}, 1000)
    assert ended_at_lower_cap({"epochs": 300, "converged": 0.0}, 1000)  # leaderboard's floats
    assert not ended_at_lower_cap({"epochs": 300, "converged": True}, 1000)  # patience
    assert not ended_at_lower_cap({"epochs": 1000, "converged": False}, 1000)  # this cap
    assert not ended_at_lower_cap({"epochs": 300, "converged": False}, "auto")
    assert not ended_at_lower_cap({"epochs": 300, "converged": False}, None)
    assert not ended_at_lower_cap({"f1": 0.9}, 1000)  # a shallow reference


def test_kdd_labelled_track_by_hand(kdd_stub, monkeypatch):
    from memae.evaluation import labelled_validation

    X, y = kdd_stub
    monkeypatch.setattr(kdd, "methods", lambda quick: {"AE": DeepStub, "stub": FirstFeature})
    FirstFeature.fitted, DeepStub.validation = [], []
    res = kdd.run(runs=2, log=lambda s: None, track="labelled")
    assert len(DeepStub.validation) == 2  # only the deep method got the labelled rows
    assert res["track"] == "labelled"
    for r in range(2):
        train, val, test = labelled_validation(y, *kdd_split(y, seed=r), seed=r)
        X_val, y_val = DeepStub.validation[r]  # the deep method got the labelled rows ...
        np.testing.assert_array_equal(X_val, X[val])
        np.testing.assert_array_equal(y_val, y[val])
        fits = [f for s, f in FirstFeature.fitted if s == r]
        assert len(fits) == 2 and all(np.array_equal(f, X[train]) for f in fits)
        # ... and the test rows exclude them
        s_test = X[test, 0].astype(np.float64)
        assert res["per_run"]["AE"][r]["roc_auc"] == pytest.approx(roc_auc_score(y[test], s_test))
    assert "**labelled validation** track" in kdd.markdown(res)


# ------------------------------------------------------------------------ one-class
def test_one_class_harness_by_hand(monkeypatch):
    rng = np.random.default_rng(0)
    y, yt = np.repeat(np.arange(10), 20), np.repeat(np.arange(10), 30)
    X = rng.integers(0, 256, size=(200, 4, 4), dtype=np.uint8)
    Xt = rng.integers(0, 256, size=(300, 4, 4), dtype=np.uint8)
    monkeypatch.setattr(images, "_data", lambda dataset, data, quick: (X, y, Xt, yt))
    monkeypatch.setattr(images, "methods", lambda dataset, quick: {"stub": FirstFeature})
    FirstFeature.fitted = []
    out = images.run_task("mnist", "stub", 3, 7, False, None, "")
    seed, fitted = FirstFeature.fitted[0]
    assert seed == 7
    np.testing.assert_array_equal(fitted, X[y == 3])  # trained on class 3 only
    scores = Xt.reshape(300, -1)[:, 0].astype(np.float64)  # the full test set is scored
    labels = (yt != 3).astype(int)
    assert out["auc"] == pytest.approx(roc_auc_score(labels, scores))
    # the 30% subset: every normal image and round(0.3 / 0.7 * 30) = 13 anomalies
    subset = anomaly_subset(labels, 7)
    assert (labels[subset] == 0).sum() == 30 and (labels[subset] == 1).sum() == 13
    assert out["auc_30"] == pytest.approx(roc_auc_score(labels[subset], scores[subset]))
    assert not np.array_equal(subset, anomaly_subset(labels, 8))  # seeded per seed


def test_one_class_labelled_track_by_hand(monkeypatch):
    from memae.evaluation import one_class_validation

    rng = np.random.default_rng(0)
    y, yt = np.repeat(np.arange(10), 200), np.repeat(np.arange(10), 30)
    X = rng.integers(0, 256, size=(2000, 4, 4), dtype=np.uint8)
    Xt = rng.integers(0, 256, size=(300, 4, 4), dtype=np.uint8)
    monkeypatch.setattr(images, "_data", lambda dataset, data, quick: (X, y, Xt, yt))
    monkeypatch.setattr(images, "methods", lambda dataset, quick: {"AE": DeepStub})
    FirstFeature.fitted, DeepStub.validation = [], []
    out = images.run_task("mnist", "AE", 3, 7, False, None, "", "labelled")
    rows, val, y_val = one_class_validation(y, 3, 7)
    np.testing.assert_array_equal(FirstFeature.fitted[0][1], X[rows])  # class 3, minus val
    X_val, labels = DeepStub.validation[0]
    np.testing.assert_array_equal(X_val, X[val])
    np.testing.assert_array_equal(labels, y_val)
    assert (y[val][y_val == 1] != 3).all() and (y[val][y_val == 0] == 3).all()
    # the test set and its AUC are the unsupervised track's
    scores = Xt.reshape(300, -1)[:, 0].astype(np.float64)
    assert out["auc"] == pytest.approx(roc_auc_score((yt != 3).astype(int), scores))


# --------------------------------------------------------------------------- video
def test_official_convention_with_16_frame_clips():
    # two videos of 20 and 24 frames: 5 and 9 clips of 16 frames
    lengths = (20, 24)
    offsets = np.r_[0, np.cumsum(lengths)]
    labels = np.zeros(44, np.int64)
    labels[[10, 11, 30, 31, 32]] = 1
    videos = Videos(np.zeros((44, 2, 2), np.uint8), ("a", "b"), offsets, labels)
    clip_scores = np.arange(14, dtype=np.float64)  # clip j of the stacked videos
    res = video_aucs(clip_scores, videos, 16)
    # official: frame j + 8 of every clip j; 8 first and 7 last frames dropped
    frames = [*range(8, 13), *range(20 + 8, 20 + 17)]
    assert res["official"]["frames"] == len(frames) == 14
    errors = res["frame_errors"]
    np.testing.assert_array_equal(errors[frames], clip_scores)
    # regularity per video, then the pooled AUC of 1 - p over the evaluated frames
    p = np.r_[1 - (clip_scores[:5] - 0) / 4, 1 - (clip_scores[5:] - 5) / 8]
    y = labels[frames]
    assert res["official"]["auc"] == pytest.approx(roc_auc_score(y, 1 - p))
    assert res["official"]["auc_raw"] == pytest.approx(roc_auc_score(y, clip_scores))
    assert res["all"]["frames"] == 44  # memae's: every frame, edge frames by the nearest clip
    assert errors[0] == 0 and errors[19] == 4 and errors[20] == 5 and errors[43] == 13


# ------------------------------------------------------------------------- presets
def test_preset_values_against_the_papers():
    """Each value the MemAE paper or the official code states, read from the presets."""
    kdd_p = preset_params("kdd", "memae")
    assert (kdd_p["hidden_dims"], kdd_p["latent_dim"]) == ((60, 30, 10), 3)  # Sec. 4.4
    assert (kdd_p["memory_size"], kdd_p["activation"]) == (50, "tanh")
    mnist = preset_params("mnist", "memae")
    assert mnist["memory_size"] == 100 and preset_params("cifar10", "memae")["memory_size"] == 500
    assert mnist["kernel_sizes"] == (1, 3, 3) and mnist["hidden_dims"] == (16, 32)
    ped2 = preset_params("ped2", "memae")
    assert (ped2["memory_size"], ped2["shrink_threshold"], ped2["lr"]) == (2000, 0.0025, 1e-4)
    assert PRESETS["ped2"].data["clip_length"] == 16
    for name in ("kdd", "mnist", "cifar10", "ped2"):
        p = preset_params(name, "memae")
        assert p["entropy_weight"] == 0.0002  # alpha
        lam = p["shrink_threshold"] or 1 / p["memory_size"]
        assert lam <= 5 / p["memory_size"]  # [1/N, 3/N] (paper) or 5/N (official)
    for name in ("kdd", "mnist", "cifar10"):
        assert preset_params(name, "memae")["temperature"] == 1.0  # the plain cosine
        assert preset_params(name, "ae")["preprocessing"] is not None  # scaled input
        assert preset_params(name, "ae")["patience"] is not None  # converged, not a budget
    # Toll (github.com/Soltanilara/Toll main.py / data.py)
    assert preset_params("toll-mnist", "latentnorm")["beta"] == 1000.0
    assert preset_params("toll-mnist", "latentnorm")["preprocessing"] == "image-standard"
    assert preset_params("toll-cifar10", "latentnorm")["beta"] == 10.0
    assert preset_params("toll-arrhythmia", "latentnorm")["latent_dim"] == 16
    for name in ("toll-mnist", "mnist", "cifar10"):  # the official Adam lr (main.py: 1e-4)
        assert preset_params(name, "latentnorm")["lr"] == 1e-4
    for name, preset in PRESETS.items():
        for model in preset.per_model:
            for key in preset_params(name, model):
                assert any(key in k for k in preset.sources), f"{name}: {key} has no source"


def test_leaderboard_labelled_track_rows(monkeypatch):
    from benchmarks.runners import leaderboard

    from memae.datasets import DataNotFoundError, load_odds
    from memae.evaluation import labelled_validation, normal_split, toll_split

    from .conftest import data_root

    try:
        X, y = load_odds("glass", data_root())
        Xa, ya = load_odds("arrhythmia", data_root())
    except DataNotFoundError:
        pytest.skip("ODDS files not available")
    monkeypatch.setattr(leaderboard, "methods", lambda quick: {"AE": DeepStub})
    monkeypatch.setattr(leaderboard, "toll_methods", lambda quick: {"AE": DeepStub})
    for part, name, data_y, split in (
        ("odds", "glass", y, labelled_validation(y, *normal_split(y, 0), 0)),
        ("toll", "arrhythmia", ya, toll_split(ya, 0)),  # Toll's own validation rows
    ):
        FirstFeature.fitted, DeepStub.validation = [], []
        row = leaderboard.run_one(part, name, "AE", 0, False, data_root(), "labelled")
        train, val, test = split
        X_all = X if part == "odds" else Xa
        np.testing.assert_array_equal(FirstFeature.fitted[0][1], X_all[train])
        np.testing.assert_array_equal(DeepStub.validation[0][0], X_all[val])
        np.testing.assert_array_equal(DeepStub.validation[0][1], data_y[val])
        assert not set(val) & set(test)
        scores = X_all[test, 0].astype(np.float64)
        assert row["auc"] == pytest.approx(roc_auc_score(data_y[test], scores))


def test_tracks_table_by_hand(tmp_path):
    """The side-by-side table reads each track's file, computes the ODDS mean over files
    and says which paper figure only the labelled track reaches."""
    from benchmarks.runners import tracks

    def summary(**figures):
        return {"summary": {m: {"f1": {"mean": v}, "auc": {"mean": v}} for m, v in figures.items()}}

    files = {
        "kdd": summary(AE=0.95, MemAE=0.96, KNN=0.97),
        "kdd-labelled": summary(AE=0.93, MemAE=0.97),  # MemAE: 0.97 >= paper 0.9641
        "mnist-seed0": summary(MemAE=0.98),  # already at the paper's 0.9751 unsupervised
        "mnist-shallow": summary(KNN=0.95),  # MNIST's 5-NN reference is in its own file
        # the video benchmark; its 5-NN reference is kept apart from the deep rows
        "ped2": {
            "results": {"MemAE": {"auc": 0.8, "auc_raw": 0.7}},
            "references": {"KNN": {"auc": 0.85}},
        },
        "leaderboard": {
            "results": {
                "odds": {
                    "a": {"AE": {"auc": 0.8}, "KNN": {"auc": 0.7}},
                    "b": {"AE": {"auc": 0.9}, "KNN": {"auc": 0.8}},
                }
            }
        },
    }
    for name, res in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(res))
    tracks.main(["--results", str(tmp_path)])
    rows = {
        (r["benchmark"].split()[0], r["method"]): r
        for r in json.loads((tmp_path / "tracks.json").read_text())["rows"]
    }
    assert rows[("ODDS", "AE")]["unsupervised"] == pytest.approx(0.85)
    assert rows[("ODDS", "AE")]["labelled"] is None  # no labelled leaderboard file
    assert rows[("KDDCUP99", "MemAE")]["paper"] == 0.9641
    assert rows[("ODDS", "AE")]["knn"] == pytest.approx(0.75)  # mean over the files too
    assert rows[("MNIST", "MemAE")]["knn"] == 0.95
    ped2 = rows[("UCSD", "MemAE")]
    assert (ped2["unsupervised"], ped2["paper"], ped2["knn"]) == (0.8, 0.941, 0.85)
    assert ("UCSD", "KNN") not in rows  # a reference is a column, not a method row
    md = (tmp_path / "tracks.md").read_text()
    assert "| KDDCUP99 F1 (20 runs) | MemAE | 0.9600 | 0.9700 | +0.0100 | 0.9641 |" in md
    assert "| no (-0.0041) | yes | 0.9700 | -0.0100 |" in md
    assert "| MNIST one-class ROC-AUC (seed 0) | MemAE | 0.9800 | not run | – |" in md
    assert "| 0.9500 | +0.0300 |" in md
    # the best detector per benchmark against 5-NN: MemAE on KDD (0.96 < 0.97), AE on ODDS
    assert "KDDCUP99 F1 (20 runs): MemAE 0.9600, below 5-NN's 0.9700 (-0.0100)" in md
    assert "ODDS mean ROC-AUC (17 files, 5 seeds): AE 0.8500, at or above 5-NN's 0.7500" in md
    assert "the unsupervised track does not: MemAE on KDDCUP99 F1 (20 runs)." in md
    assert ("MNIST", "AE") not in rows  # neither track has it


def test_ae_code_width_diagnostic_records_and_resumes(mnist, tmp_path, monkeypatch):
    """``benchmarks/ae_code_width.py --quick``: one record per (model, width, digit) with the
    fitted code width, the table, and a second run that reads the records back."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import ae_code_width

    args = ["--quick", "--out", str(tmp_path), "--classes", "3", "--widths", "8", "2"]
    ae_code_width.main(args)
    res = json.loads((tmp_path / "ae-code-width-quick.json").read_text())
    assert [(f["model"], f["latent_dim"], f["class"], f["code_values"]) for f in res["fits"]] == [
        ("AE", 8, 3, 128),
        ("AE", 2, 3, 32),
        ("MemAE", 64, 3, 1024),  # the reference: MemAE at the preset's width
    ]
    for f in res["fits"]:
        assert 0.0 <= f["auc"] <= 1.0 and f["epochs_run"] == 1
        assert f["error_normal"] > 0 and f["error_anomalous"] > 0
        assert sorted(f["auc_vs_digit"]) == ["0", "1", "2", "4", "5", "6", "7", "8", "9"]
        assert -1.0 <= f["ink_spearman"] <= 1.0
        # Mann-Whitney: the ROC-AUC against all anomalies is the count-weighted mean of
        # the ROC-AUCs against each anomalous digit (the same normal images in each)
        counts = np.bincount(ae_code_width._data("mnist", None, True)[3], minlength=10)
        per = f["auc_vs_digit"]
        weighted = sum(counts[int(d)] * v for d, v in per.items()) / (counts.sum() - counts[3])
        assert weighted == pytest.approx(f["auc"], abs=1e-12)
    md = (tmp_path / "ae-code-width-quick.md").read_text()
    assert "| AE | 3 | 8 | 128 |" in md and "| MemAE | 3 | 64 | 1,024 |" in md

    def refit(*_):
        raise AssertionError("a recorded fit was run again")

    monkeypatch.setattr(ae_code_width, "fit_one", refit)
    ae_code_width.main(args)  # resumes: every fit read back from its record
    assert json.loads((tmp_path / "ae-code-width-quick.json").read_text())["fits"] == res["fits"]


def test_memae_addressing_diagnostic_stats_and_resume(mnist, tmp_path, monkeypatch):
    """``benchmarks/memae_addressing.py``: sparsity figures computed by hand on known
    weights; ``--quick`` writes one record per (addressing, digit) and resumes from them."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import memae_addressing

    w = np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.2, 0.0, 0.8]])
    stats = memae_addressing.addressing_stats(w)
    assert stats["items_per_image"] == pytest.approx(5 / 3)
    assert stats["top_weight"] == pytest.approx((0.5 + 1.0 + 0.8) / 3)
    assert stats["items_ever_top"] == 2  # rows 0 and 1 top item 0, row 2 item 3
    h = -(2 * 0.5 * np.log(0.5)) - (0.2 * np.log(0.2) + 0.8 * np.log(0.8))
    assert stats["entropy"] == pytest.approx(h / 3)

    args = ["--quick", "--out", str(tmp_path), "--classes", "3"]
    memae_addressing.main(args)
    res = json.loads((tmp_path / "memae-addressing-quick.json").read_text())
    assert [(f["addressing"], f["class"]) for f in res["fits"]] == [("cosine", 3), ("dot", 3)]
    for f in res["fits"]:
        assert 1.0 <= f["items_per_image"] <= 100.0 and 0.0 < f["top_weight"] <= 1.0
        assert 0.0 <= f["auc"] <= 1.0 and f["epochs_run"] == 1
    md = (tmp_path / "memae-addressing-quick.md").read_text()
    assert "| cosine | 3 |" in md and "| dot | 3 |" in md
    one = res["fits"][0]["auc_vs_digit"]["1"]
    assert f"| {one:.3f} |" in md  # the 1s column, read from the record's string keys

    def refit(*_):
        raise AssertionError("a recorded fit was run again")

    monkeypatch.setattr(memae_addressing, "fit_one", refit)
    memae_addressing.main(args)
    assert json.loads((tmp_path / "memae-addressing-quick.json").read_text())["fits"] == res["fits"]


def test_memae_addressing_pairs_fits_by_digit_and_seed(monkeypatch):
    """The dot-minus-cosine line pairs fits of the same digit and seed (records from
    before the seed field count as seed 0) and reports the seed-to-seed spread."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import memae_addressing

    fits = [
        {"addressing": "cosine", "class": 2, "auc": 0.90},  # seed 0, no field
        {"addressing": "dot", "class": 2, "seed": 0, "auc": 0.93},
        {"addressing": "cosine", "class": 2, "seed": 1, "auc": 0.92},
        {"addressing": "dot", "class": 2, "seed": 1, "auc": 0.91},
        {"addressing": "dot", "class": 5, "seed": 1, "auc": 0.95},  # no cosine partner
    ]
    line = memae_addressing.paired_line({"fits": fits})
    assert "mean +0.0100 over 2 pair(s), from -0.0100 to +0.0300" in line
    # std of (0.90, 0.92) and of (0.93, 0.91): both 0.01414; dot-5 has one seed only
    assert "standard deviation of one digit's AUC: 0.0141" in line
    assert memae_addressing.paired_line({"fits": fits[:1]}) == ""


def test_kernel_reproducibility_keeps_a_comparison_whose_records_were_replaced(
    tmp_path, monkeypatch
):
    """``benchmarks/kernel_reproducibility.py``: while every leaderboard class has a record,
    the CIFAR-10 comparison is computed from them; once records are missing (a re-run of
    newer code replaced them), the published comparison is kept, dated, not recomputed
    from a partial or newer set."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import kernel_reproducibility as kr

    board = {m: {"auc": 0.6, "per_class_auc": {"0": 0.5, "1": 0.7}} for m in ("AE", "MemAE")}
    (tmp_path / "leaderboard.json").write_text(
        json.dumps({"results": {"images": {"cifar10": board}}})
    )
    for m, aucs in (("AE", (0.5, 0.7)), ("MemAE", (0.5, 0.75))):
        for c, auc in enumerate(aucs):
            f = tmp_path / "work" / "cifar10" / m / f"class{c}-seed0.json"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps({"auc": auc}))
    rec = kr._records(tmp_path)
    assert rec["AE"]["bit_identical"] and not rec["MemAE"]["bit_identical"]
    assert rec["MemAE"]["max_auc_difference"] == pytest.approx(0.05)

    (tmp_path / "work" / "cifar10" / "MemAE" / "class1-seed0.json").unlink()
    assert kr._records(tmp_path) is None
    (tmp_path / "leaderboard.json").write_text(json.dumps({"results": {"odds": {}}}))
    assert kr._records(tmp_path) is None  # the image part not published (being re-run)
    published = {"environment": {"date": "2026-12-02T06:27:26+00:00"}, "cifar10_records": rec}
    (tmp_path / "reproducibility.json").write_text(json.dumps(published))
    assert kr._published_records(tmp_path) == ("2026-12-02T06:27:26+00:00", rec)
    # a later run that re-published it keeps the first date, not its own
    republished = {
        "environment": {"date": "2026-12-09"},
        "cifar10_records": rec,
        "cifar10_records_measured": "2026-12-02T06:27:26+00:00",
    }
    (tmp_path / "reproducibility.json").write_text(json.dumps(republished))
    assert kr._published_records(tmp_path) == ("2026-12-02T06:27:26+00:00", rec)
    # the older layout, with the date inside the records, still reads
    legacy = {
        "environment": {"date": "2026-12-09"},
        "cifar10_records": {"measured": "2026-12-02", **rec},
    }
    (tmp_path / "reproducibility.json").write_text(json.dumps(legacy))
    assert kr._published_records(tmp_path) == ("2026-12-02", rec)
    res = {
        "environment": {"command": "c", "cpu": "x", "torch": "t"},
        "results": {},
        "cifar10_records": rec,
        "cifar10_records_measured": "2026-12-02T06:27:26+00:00",
    }
    md = kr.markdown(res)
    assert "compared on 2026-12-02, before those records were replaced" in md
    assert "| MemAE | 2 | no | 0.0500 |" in md
    assert "compared on" not in kr.markdown({**res, "cifar10_records_measured": None})


def test_image_complexity_diagnostic_auc_and_correlations(tmp_path, monkeypatch):
    """``benchmarks/image_complexity.py``: noisier images take more PNG bits; the statistic's
    one-class AUC follows each class's noise level; a method whose per-class AUCs equal
    the statistic's correlates +1, reversed ones -1; missing sources are skipped."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import image_complexity as ic

    rng = np.random.default_rng(0)
    flat = np.full((1, 16, 16), 128, np.uint8)
    noise = rng.integers(0, 256, (1, 16, 16), dtype=np.uint8)
    # a constant image costs the PNG header and little more (about 2.3 bits a value at
    # 16 x 16); noise cannot be compressed below its 8 bits
    assert ic.png_bits_per_value(flat)[0] < 3 < 8 < ic.png_bits_per_value(noise)[0]

    # class c: grey plus uniform noise of 6c + 2 levels (more levels, more bits), 20 each
    y = np.repeat(np.arange(10), 20)
    X = 100 + rng.integers(0, 2**16, (200, 16, 16)) % (6 * y + 2)[:, None, None]
    X = X.astype(np.uint8)
    monkeypatch.setattr(ic, "load_image_dataset", lambda *a: (X, y))
    bits = ic.png_bits_per_value(X)
    stat0 = ic.run("mnist", None, [], tmp_path)["statistic"]["per_class_auc"]
    assert stat0["0"] > 0.95 and stat0["9"] < 0.05  # simplest class normal: high AUC
    assert stat0["4"] == pytest.approx(roc_auc_score(y != 4, bits), abs=1e-12)

    def source(stem, per_class):
        summary = {"M": {"per_class_auc": {c: {"mean": v} for c, v in per_class.items()}}}
        (tmp_path / f"{stem}.json").write_text(json.dumps({"summary": summary}))

    source("same", stat0)
    source("reversed", {c: 1 - v for c, v in stat0.items()})
    res = ic.run("mnist", None, ["absent", "same", "reversed"], tmp_path)
    assert list(res["methods"]) == ["M"]  # read from the first file that has it
    assert res["methods"]["M"]["source"] == "same.json"
    assert res["methods"]["M"]["pearson"] == pytest.approx(1.0)
    res = ic.run("mnist", None, ["reversed"], tmp_path)
    assert res["methods"]["M"]["spearman"] == pytest.approx(-1.0)
    md = ic.markdown({"environment": {"command": "cmd"}, "datasets": {"mnist": res}})
    assert f"| {ic.STATISTIC} | {stat0['0']:.3f} |" in md and "| -1.00 | -1.00 |" in md

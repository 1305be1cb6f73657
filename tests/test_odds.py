"""ODDS loader on the shared files; the semi-supervised and Toll splits; F1 at the top."""

import numpy as np
import pytest
from scipy.io import savemat

from memae.datasets import ODDS_NAMES, load_odds
from memae.evaluation import f1_at_top, normal_split, toll_split

from .conftest import data_root


@pytest.fixture(scope="module")
def odds_root():
    root = data_root()
    if not (root / "odds" / "arrhythmia.mat").is_file():
        pytest.skip("ODDS files not available")
    return root


def test_every_shared_odds_file_loads(odds_root):
    shapes = {}
    for name in ODDS_NAMES:
        X, y = load_odds(name, odds_root)
        assert X.dtype == np.float32 and y.dtype == np.int64 and len(X) == len(y)
        assert 0 < y.mean() < 0.5  # outliers are the minority everywhere
        shapes[name] = (X.shape, int(y.sum()))
    assert len(shapes) == 17
    assert shapes["arrhythmia"] == ((452, 274), 66)
    assert shapes["shuttle"] == ((49097, 9), 3511)


def test_own_mat_file_and_bad_files(tmp_path):
    rng = np.random.default_rng(0)
    savemat(tmp_path / "mine.mat", {"X": rng.normal(size=(20, 3)), "y": np.r_[np.zeros(18), 1, 1]})
    X, y = load_odds("mine", tmp_path / "mine.mat")
    assert X.shape == (20, 3) and y.sum() == 2
    with pytest.raises(ValueError, match="unknown ODDS dataset"):
        load_odds("nope")
    savemat(tmp_path / "bad.mat", {"X": np.zeros((3, 2)), "y": np.array([0, 2, 1])})
    with pytest.raises(ValueError, match="0/1"):
        load_odds("bad", tmp_path / "bad.mat")
    savemat(tmp_path / "nan.mat", {"X": np.full((2, 2), np.nan), "y": np.array([0, 1])})
    with pytest.raises(ValueError, match="NaN"):
        load_odds("nan", tmp_path / "nan.mat")
    savemat(tmp_path / "short.mat", {"X": np.zeros((3, 2)), "y": np.array([0, 1])})
    with pytest.raises(ValueError, match="same rows"):
        load_odds("short", tmp_path / "short.mat")


def test_normal_split_trains_on_60_percent_of_normals_only():
    y = np.r_[np.zeros(100, int), np.ones(15, int)]
    train, test = normal_split(y, seed=3)
    assert len(train) == 60 and (y[train] == 0).all()
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(y)
    assert y[test].sum() == 15
    again, _ = normal_split(y, seed=3)
    other, _ = normal_split(y, seed=4)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)


def test_toll_split_on_arrhythmia_counts():
    y = np.r_[np.zeros(386, int), np.ones(66, int)]
    train, val, test = toll_split(y, seed=0)
    assert (y[train] == 0).all() and len(train) == 386 - 2 * 77
    assert (len(val), y[val].sum()) == (77 + 13, 13) == (len(test), y[test].sum())
    assert len(np.intersect1d(val, test)) == len(np.intersect1d(train, test)) == 0


def test_f1_at_top_by_hand():
    y = np.array([0, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.1, 0.9, 0.8, 0.2, 0, 0, 0, 0, 0, 0.3])
    # top 20% = rows 1 and 2: one true positive, one false positive, one miss
    assert f1_at_top(y, scores, 0.2) == pytest.approx(0.5)
    assert f1_at_top(y, scores, 0.146) == pytest.approx(0.5)  # ceil(1.46) = 2: the same rows
    # top 40% = rows 1, 2, 9, 3: both outliers found, two false positives -> P 1/2, R 1
    assert f1_at_top(y, scores, 0.4) == pytest.approx(2 / 3)


def test_shallow_references_separate_planted_outliers():
    from benchmarks.runners.baselines import (
        KNNDistance,
        PCAReconstruction,
        isolation_forest,
        one_class_svm,
    )
    from sklearn.metrics import roc_auc_score

    from .conftest import make_off_manifold, trivial_auc

    X, Xt, y = make_off_manifold(2, 6, 500, 100, seed=0)  # off the plane, normal norms
    trivial = trivial_auc(X, Xt, y)
    assert trivial < 0.6
    for det in (KNNDistance(), PCAReconstruction(), one_class_svm()):
        auc = roc_auc_score(y, det.fit(X).decision_function(Xt))
        assert auc > 0.9 and auc > trivial + 0.3, det
    # axis-parallel splits see an oblique plane poorly: measured 0.68, above the control
    auc = roc_auc_score(y, isolation_forest(0).fit(X).decision_function(Xt))
    assert auc > trivial + 0.1


def test_average_rank_by_hand():
    from benchmarks.runners.leaderboard import average_rank

    per = {
        "a": {"m1": {"auc": 0.9}, "m2": {"auc": 0.8}, "m3": {"auc": 0.8}},
        "b": {"m1": {"auc": 0.5}, "m2": {"auc": 0.7}, "m3": {"auc": 0.6}},
    }
    # dataset a: m1 1st, m2 and m3 share 2nd-3rd (2.5); dataset b: m2, m3, m1
    assert average_rank(per, ["m1", "m2", "m3"]) == {"m1": 2.0, "m2": 1.75, "m3": 2.25}


def test_leaderboard_method_without_image_network(tmp_path, monkeypatch):
    """DAGMM (tabular only) is kept out of the image part: the image runner never gets it,
    its image cells read "–", the ranks cover the datasets every method ran on, the heat
    map draws the gap, and the part reports the share of the deep fits that converged."""
    from benchmarks.runners import images, leaderboard

    seen = []

    def fake_run(dataset, only, **kw):
        seen.append(list(only))
        auc = {"mean": 0.9}
        summary = {m: {"auc": auc, "per_class_auc": {}, "fit_seconds_per_class": auc} for m in only}
        # the AE's records say whether each fit stopped by patience; the reference's do not
        tasks = {"AE": [{"converged": c} for c in (True, True, False, True)], "KNN": [{}]}
        return {"summary": summary, "per_task": {m: tasks[m] for m in only}}

    monkeypatch.setattr(images, "run", fake_run)
    out = leaderboard._image_part(False, None, ["AE", "DAGMM", "KNN"], ("mnist",), 1, tmp_path, 1)
    assert seen == [["AE", "KNN"]] and set(out["mnist"]) == {"AE", "KNN"}
    assert out["mnist"]["AE"]["converged"] == 0.75 and "converged" not in out["mnist"]["KNN"]

    names = ["AE", "DAGMM", "KNN"]
    results = {
        "methods": names,
        "seeds": 1,
        "environment": {"command": "c", "cpu": "cpu", "cpu_count": 2, "cuda": None},
        "results": {
            "kdd": {
                "kddcup99": {
                    m: {"auc": a, "f1": a} for m, a in zip(names, (0.9, 0.8, 0.7), strict=True)
                }
            },
            "images": {"mnist": {"AE": {"auc": 0.6, "converged": 0.75}, "KNN": {"auc": 0.95}}},
        },
    }
    # only KDD has all three methods: AE 1st, DAGMM 2nd, KNN 3rd
    rank = leaderboard.average_rank(leaderboard._columns(results["results"]), names)
    assert rank == {"AE": 1.0, "DAGMM": 2.0, "KNN": 3.0}
    results["average_rank_all"] = rank
    md = leaderboard.markdown(results)
    assert "| mnist | 0.600 | – | **0.950** |" in md
    assert "not at the epoch cap): AE 75%." in md
    assert "over the 1 dataset(s) all ran on" in md
    assert leaderboard.heatmap(results, tmp_path / "h.png").stat().st_size > 1000


def test_leaderboard_keeps_compact_scores_to_compactvae(tmp_path):
    """Old VAE records hold its ELBO score under CompactVAE's score names; the leaderboard
    reads them back without those keys, and keeps them for CompactVAE."""
    import json

    from benchmarks.runners import leaderboard

    row = {"auc": 0.8, "auc_hole": 0.7, "ap_hole": 0.6, "auc_joint": 0.7, "converged": 1.0}
    for name in ("VAE", "CompactVAE-sphere"):
        path = tmp_path / "odds" / "wbc" / f"{name}-seed0.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row))
    out = leaderboard._tabular(
        "odds", ("wbc",), ["VAE", "CompactVAE-sphere"], range(1), False, None, tmp_path, print
    )["wbc"]
    assert out["VAE"] == {"auc": 0.8, "converged": 1.0}
    assert out["CompactVAE-sphere"] == row

    # the image benchmark's summary (which the leaderboard's image part reads) does the same
    from benchmarks.runners import images

    task = {**row, "class": 0, "seed": 0, "auc_30": 0.8, "fit_seconds": 1.0}
    task.update(n_train=10, score_images_per_second=5.0)
    for name in ("VAE", "CompactVAE-sphere"):
        path = tmp_path / "mnist" / name / "class0-seed0.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(task))
    names = ["VAE", "CompactVAE-sphere"]
    res = images.summarise("mnist", names, [0], 1, False, tmp_path / "mnist", ("c", None))
    assert "auc_hole" not in res["per_task"]["VAE"][0]
    assert res["per_task"]["CompactVAE-sphere"][0]["auc_hole"] == 0.7


def test_leaderboard_targets_by_hand():
    from benchmarks.runners.leaderboard import targets

    names = ["AE", "LatentNormAE", "CompactVAE-sphere", "KNN"]
    auc = {"AE": 0.8, "LatentNormAE": 0.7, "CompactVAE-sphere": 0.9, "KNN": 0.75}
    res = {
        "methods": names,
        "results": {
            "images": {"mnist": {m: {"auc": v} for m, v in auc.items()}},
            # means: AE 0.8, LatentNormAE 0.7, CompactVAE 0.5, KNN 0.75
            "odds": {
                "a": {m: {"auc": v} for m, v in auc.items()},
                "b": {
                    "AE": {"auc": 0.8},
                    "LatentNormAE": {"auc": 0.7},
                    "CompactVAE-sphere": {"auc": 0.1},
                    "KNN": {"auc": 0.75},
                },
            },
        },
    }
    lines = targets(res)
    assert "- mnist: LatentNormAE (0.700) does **not** beat the AE (0.800)." in lines
    assert "- mnist: CompactVAE-sphere (0.900) beats the AE (0.800)." in lines
    assert (
        "- ODDS mean ROC-AUC: CompactVAE-sphere (0.500) does **not** beat the AE (0.800)." in lines
    )
    assert lines[-2] == (
        "- ODDS mean ROC-AUC: the best memae detector, AE (0.800), is at or above KNN (0.750)."
    )
    res["results"]["odds"]["b"]["AE"]["auc"] = 0.6  # AE mean 0.7: below KNN
    assert targets(res)[-2].endswith("is **below** (by 0.050) KNN (0.750).")
    assert targets({"methods": names, "results": {}}) == []


def test_baseline_options_by_hand():
    from benchmarks.runners.baselines import KNNDistance, PCAReconstruction, Subsampled

    X = np.array([[0.0, 0.0], [0.0, 10.0], [0.0, 20.0]])
    # raw features: the 1st-nearest training row of (3, 0) is (0, 0), 3 away
    raw = KNNDistance(k=1, standardise=False).fit(X)
    assert raw.decision_function(np.array([[3.0, 0.0]]))[0] == pytest.approx(3.0)
    # standardised: column 0 has no spread (scale 1), column 1 std 8.165
    std = KNNDistance(k=1).fit(X)
    assert std.decision_function(np.array([[0.0, 5.0]]))[0] == pytest.approx(
        5 / np.std([0, 10, 20])
    )
    # PCA keeping everything reconstructs exactly: zero error
    pca = PCAReconstruction(variance=0.999999, standardise=False).fit(
        np.random.default_rng(0).normal(size=(50, 3))
    )
    assert pca.decision_function(np.ones((2, 3))).max() < 1e-12
    sub = Subsampled(KNNDistance(k=1, standardise=False), rows=10, seed=0).fit(
        np.arange(200.0).reshape(100, 2)
    )
    assert sub.detector.nn_.n_samples_fit_ == 10
    again = Subsampled(KNNDistance(k=1, standardise=False), rows=10, seed=0).fit(
        np.arange(200.0).reshape(100, 2)
    )
    probe = np.array([[7.0, 3.0]])
    assert sub.decision_function(probe) == again.decision_function(probe)  # seeded


def test_leaderboard_keeps_the_parts_it_did_not_run(tmp_path, monkeypatch):
    """``--keep-other-parts``: the re-run ODDS part replaces the published one, the KDD
    part is kept with the command and date that produced it, the ranks are recomputed
    over both, and a run that cannot share the published table stops before any fit."""
    import json

    from benchmarks.runners import leaderboard

    names = ["AE", "KNN"]
    env = {"command": "old", "date": "2026-12-03T21:15:17", "cpu": "c", "cpu_count": 2}
    published = {
        "track": "labelled",
        "quick": False,
        "seeds": 5,
        "methods": names,
        "environment": {**env, "cuda": None},
        "results": {
            "odds": {"wbc": {"AE": {"auc": 0.1, "ap": 0.1}, "KNN": {"auc": 0.9, "ap": 0.9}}},
            "kdd": {"kddcup99": {"AE": {"auc": 0.8, "f1": 0.7}, "KNN": {"auc": 0.6, "f1": 0.5}}},
        },
    }
    (tmp_path / "leaderboard-labelled.json").write_text(json.dumps(published))
    calls = []

    def fake_run(quick, data, workdir, only, **kw):
        calls.append(kw["parts"])
        odds = {"wbc": {"AE": {"auc": 0.95, "ap": 0.9}, "KNN": {"auc": 0.9, "ap": 0.9}}}
        env_now = {**env, "command": "new", "date": "2026-12-07T12:00:00", "cuda": None}
        return {"benchmark": "leaderboard", "track": kw["track"], "quick": quick, "seeds": 5,
                "methods": only, "environment": env_now, "results": {"odds": odds},
                "average_rank": {"AE": 1.0, "KNN": 2.0}, "average_rank_all": {}}  # fmt: skip

    monkeypatch.setattr(leaderboard, "run", fake_run)
    base = ["--track", "labelled", "--parts", "odds", "--out", str(tmp_path)]
    argv = [*base, "--methods", *names]
    leaderboard.main([*argv, "--keep-other-parts"])
    out = json.loads((tmp_path / "leaderboard-labelled.json").read_text())
    assert calls == [("odds",)] and list(out["results"]) == ["odds", "kdd"]
    assert out["results"]["odds"]["wbc"]["AE"]["auc"] == 0.95
    assert out["results"]["kdd"] == published["results"]["kdd"]
    assert out["kept"] == {"kdd": {"command": "old", "date": "2026-12-03T21:15:17"}}
    # AE first on both datasets
    assert out["average_rank_all"] == {"AE": 1.0, "KNN": 2.0}
    md = (tmp_path / "leaderboard-labelled.md").read_text()
    assert "not re-run by the command below: kdd: `old` (2026-12-03)." in md

    # kept again on a later run: the provenance stays that of the run that made it
    leaderboard.main([*argv, "--keep-other-parts"])
    out = json.loads((tmp_path / "leaderboard-labelled.json").read_text())
    assert out["kept"] == {"kdd": {"command": "old", "date": "2026-12-03T21:15:17"}}

    # another method list cannot share the table: refused before run is called
    with pytest.raises(SystemExit):
        leaderboard.main([*base, "--methods", "AE", "--keep-other-parts"])
    assert len(calls) == 2
    # without the flag nothing is kept
    leaderboard.main(argv)
    assert "kept" not in json.loads((tmp_path / "leaderboard-labelled.json").read_text())

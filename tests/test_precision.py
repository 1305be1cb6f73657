"""precision="fp32" | "bf16" | "auto": bf16 autocast of the backbones, float32 everywhere else."""

from itertools import pairwise

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import memae
from memae.nn import Memory
from memae.nn.precision import (
    Stack,
    autocast_dtype,
    channels_last,
    native_bf16_cpu,
    set_precision,
)

CPU = torch.device("cpu")


def _planted(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, 12)).astype(np.float32)
    T = np.vstack([rng.normal(size=(200, 12)), rng.normal(2.5, 1, size=(200, 12))])
    return X, T.astype(np.float32), np.r_[np.zeros(200), np.ones(200)]


def test_autocast_dtype_resolution(monkeypatch):
    assert autocast_dtype("fp32", CPU) is None
    assert autocast_dtype("bf16", CPU) is torch.bfloat16
    assert autocast_dtype("auto", CPU) is (torch.bfloat16 if native_bf16_cpu() else None)
    monkeypatch.setattr("memae.nn.precision.native_bf16_cpu", lambda: False)
    assert autocast_dtype("auto", CPU) is None  # emulated bf16 would be slower: fp32
    monkeypatch.setattr("memae.nn.precision.native_bf16_cpu", lambda: True)
    assert autocast_dtype("auto", CPU) is torch.bfloat16
    assert autocast_dtype("auto", CPU, conv=False) is None  # tabular MLPs stay float32
    assert autocast_dtype("bf16", CPU, conv=False) is torch.bfloat16
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast_dtype("fp16", CPU)
    with pytest.raises(ValueError, match="precision"):
        memae.AutoEncoder(precision="half", epochs=1).fit(np.ones((10, 2)))


BUILTIN = [memae.AutoEncoder, memae.MemAE, memae.LatentNormAE, memae.VAE, memae.CompactVAE]


@pytest.mark.parametrize("cls", [*BUILTIN, memae.DAGMM], ids=lambda c: c.__name__)
def test_bf16_matches_fp32_and_reruns_bit_identically(cls):
    X, T, y = _planted()
    params = {"epochs": 4, "random_state": 0}
    fp32 = cls(**params, precision="fp32").fit(X)
    bf16 = cls(**params, precision="bf16").fit(X)
    again = cls(**params, precision="bf16").fit(X)
    s32, s16 = fp32.decision_function(T), bf16.decision_function(T)
    np.testing.assert_array_equal(again.decision_function(T), s16)  # seeded: bit-identical
    assert abs(roc_auc_score(y, s32) - roc_auc_score(y, s16)) <= 0.01
    assert not np.array_equal(s32, s16)  # bf16 did run
    for tensor in bf16.network_.state_dict().values():  # weights stay float32
        assert not tensor.is_floating_point() or tensor.dtype == torch.float32
    assert s16.dtype == np.float64 and np.isfinite(s16).all()
    # auto keeps these MLP networks float32 on every CPU, bit for bit
    auto = cls(**params).fit(X)
    np.testing.assert_array_equal(auto.decision_function(T), s32)


def test_only_the_backbones_run_in_bf16():
    X, T, _ = _planted()
    det = memae.MemAE(epochs=2, random_state=0, precision="bf16").fit(X)
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            out = output.attention if isinstance(module, Memory) else output
            seen[name] = (inputs[0].dtype, out.dtype)

        return hook

    for name, module in det.network_.named_modules():
        if isinstance(module, (Memory, Stack)):
            module.register_forward_hook(record(name))
    inner = {}
    first_linear = det.network_.encoder[0]

    def linear_hook(module, inputs, output):
        inner["linear"] = output.dtype  # (a hook that returns something replaces the output)

    first_linear.register_forward_hook(linear_hook)
    det.decision_function(T)
    assert inner["linear"] == torch.bfloat16  # inside the encoder: bf16
    assert seen["encoder"][1] == torch.float32  # handed back as float32
    assert seen["memory"] == (torch.float32, torch.float32)  # addressing in float32


def test_bf16_conv_backbone_on_mnist(mnist):
    X_train, y_train, X_test, y_test = mnist
    from scipy.stats import spearmanr

    X = X_train[y_train == 7][:1500]
    T = np.concatenate([X_test[y_test == 7][:200], X_test[y_test != 7][:200]])
    y = np.r_[np.zeros(200), np.ones(200)]
    aucs, scores = {}, {}
    for prec in ("fp32", "bf16"):
        det = memae.MemAE.from_preset("mnist", epochs=3, random_state=0, precision=prec).fit(X)
        scores[prec] = det.decision_function(T)
        aucs[prec] = roc_auc_score(y, scores[prec])
    # the same training in two precisions: the same ranking of the test images
    assert abs(aucs["fp32"] - aucs["bf16"]) <= 0.01, aucs
    assert spearmanr(scores["fp32"], scores["bf16"]).statistic > 0.99


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("channels", [3, 1])
def test_conv_layers_get_channels_last_inputs_on_cpu(precision, channels):
    """On CPU the conv layers get channels_last inputs in bf16 and in float32 (faster in
    both); an exported graph, float32 for any device, keeps the contiguous layout. Gray
    images too: a 1-channel batch is contiguous in both layouts, and the convolution
    that gets it would hand every later layer the default layout."""
    shape = (64, 16, 16, 3) if channels == 3 else (64, 16, 16)
    X = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    det = memae.AutoEncoder(backbone="conv2d", preprocessing="image", hidden_dims=(8, 8),
                            latent_dim=16, epochs=1, random_state=0,
                            precision=precision).fit(X)  # fmt: skip
    layouts = []

    def hook(module, inputs, output):
        x = inputs[0]
        if x.shape[1] == 1:  # one channel: both layouts at once
            return
        layouts.append(
            "channels_last"
            if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
            else "contiguous"
            if x.is_contiguous()
            else "other"
        )

    for m in det.network_.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            m.register_forward_hook(hook)
    scores = det.decision_function(X[:8])
    assert len(layouts) >= 3 and set(layouts) == {"channels_last"}
    assert np.isfinite(scores).all()
    layouts.clear()
    set_precision(det.network_, None)  # what export does: float32, default layout
    det.network_(torch.zeros(2, channels, 16, 16))
    assert len(layouts) >= 3 and set(layouts) == {"contiguous"}


@pytest.mark.parametrize(
    ("dtype", "device", "want"),
    [(None, "cpu", True), (torch.bfloat16, "cpu", True), (torch.bfloat16, "cuda", True),
     (None, "cuda", False)],
)  # fmt: skip
def test_channels_last_resolution(dtype, device, want):
    """channels_last where it was measured faster: bf16 anywhere, float32 on CPU; float32
    on CUDA was not measured and keeps the contiguous layout."""
    assert channels_last(dtype, torch.device(device)) is want


def test_precision_benchmark_pipeline():
    """benchmarks/precision.py on a slice: the step table has every layout, and a whole
    fit's speed-up and AUC difference are the ratio and the difference of its figures
    (and zero difference where "auto" is float32)."""
    from benchmarks.runners import precision as bench

    from .conftest import data_root

    steps = bench.step_timing("mnist", (28, 28), 1)
    for name in ("AE", "MemAE"):
        assert set(steps[name]) == set(bench.LAYOUTS)
        assert all(t["train"] > 0 and t["score"] > 0 for t in steps[name].values())
    fits = bench.whole_fits("mnist", (1,), 1, str(data_root()), quick=True)
    assert fits["classes"] == [1] and [r["model"] for r in fits["rows"]] == ["AE", "MemAE"]
    for row in fits["rows"]:
        assert row["speedup"] == row["fp32_fit_seconds"] / row["auto_fit_seconds"]
        assert row["auc_diff"] == row["auto_auc"] - row["fp32_auc"]
        assert row["seed_diff"] == row["fp32_seed1_auc"] - row["fp32_auc"] != 0  # seed 1 ran
        if not native_bf16_cpu():
            assert row["auc_diff"] == 0  # auto is float32 here, bit for bit
        else:
            assert abs(row["auc_diff"]) <= 0.02


def test_layout_table_from_known_times():
    """``--layout``'s table: speed-up = contiguous / channels_last, per ISA, with dashes
    where bf16 was not timed (the AVX2 child times float32 only)."""
    from benchmarks.runners import precision as bench

    def times(layouts, train, score):
        return {lay: {"train": train[i], "score": score[i]} for i, lay in enumerate(layouts)}

    native = times(bench.LAYOUTS, [40.0, 30.0, 20.0, 10.0], [8.0, 6.0, 4.0, 3.0])
    avx2 = times(bench.FP32_LAYOUTS, [30.0, 20.0], [9.0, 10.0])
    res = {
        "environment": {"cpu": "CPU", "torch_threads": 2, "command": "cmd"},
        "layout": {
            "native": {"mnist": {"AE": native, "MemAE": native}},
            "AVX2": {"mnist": {"AE": avx2, "MemAE": avx2}},
        },
    }
    md = bench.layout_markdown(res)
    assert (
        "| native | mnist | AE | 40.0 | 20.0 | 2.00x | 8.0 | 4.0 | 2.00x | 30.0 | 10.0 | 3.00x |"
        in md
    )
    assert "| AVX2 | mnist | MemAE | 30.0 | 20.0 | 1.50x | 9.0 | 10.0 | 0.90x | – | – | – |" in md
    assert bench.AVX2_ENV == {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def test_speed_benchmark_records_the_cpu_and_the_flop_limit(kdd, tmp_path):
    import json

    from benchmarks.runners import speed

    from .conftest import data_root

    speed.main(["--quick", "--out", str(tmp_path), "--data", str(data_root())])
    res = json.loads((tmp_path / "speed-quick.json").read_text())
    assert set(res["cpu_features"]) >= {"avx512", "avx512_bf16", "amx_tile", "native_bf16"}
    assert res["precision_auto"] == ("bf16" if native_bf16_cpu() else "fp32")
    # the KDD MLP: 118-60-30-10-3 and back, 2 FLOPs per multiply-add
    widths = [118, 60, 30, 10, 3]
    assert res["mlp_forward_flops_per_row"] == 4 * sum(a * b for a, b in pairwise(widths))
    for name in ("memae AE", "memae MemAE"):
        row = res["results"][name]
        for key in ("train_samples_per_s", "score_rows_per_s"):
            share = row[f"{key}_share_of_flop_limit"]
            assert 0 < share < 1  # below what the measured matmul rate allows
    assert "FLOP limit: measured float32 matmul" in (tmp_path / "speed-quick.md").read_text()
    # the conv presets: both models in both precisions, below their FLOP limits
    assert set(res["conv"]) == {"mnist", "cifar10", "ped2-cpu"}
    for rows in res["conv"].values():
        for name in ("AE", "MemAE"):
            for precision in ("fp32", "auto"):
                row = rows[f"{name} {precision}"]
                assert row["precision_resolved"] == (
                    "fp32" if precision == "fp32" else res["precision_auto"]
                )
                assert row["forward_flops_per_sample"] > 1e5  # conv layers were counted
                # a roofline from a separate matmul timing on a shared machine: a slow
                # spell there once put a cifar10 score at 113% of it in CI, so the bound
                # allows 1.5x; a per-batch FLOP count would be 64x off
                assert 0 < row["train_share_of_flop_limit"] < 1.5
                assert 0 < row["score_share_of_flop_limit"] < 1.5
        profile = rows["MemAE training profile"]
        assert len(profile) == 3 and 0 < sum(profile.values()) <= 1
    assert (
        "| ped2-cpu | MemAE train time vs AE (fp32) |" in (tmp_path / "speed-quick.md").read_text()
    )


def test_cli_fit_takes_the_precision(tmp_path):
    from memae.cli import main

    X, _, _ = _planted()
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "m"
    args = ["fit", str(tmp_path / "x.npy"), "--model", "ae", "--out", str(out)]
    assert main([*args, "--epochs", "2", "--quiet", "--precision", "bf16"]) == 0
    det = memae.load(out)
    assert det.precision == "bf16" and det._amp_dtype() is torch.bfloat16
    with pytest.raises(SystemExit):
        main([*args, "--precision", "fp16"])


def test_scoring_batches_grow_with_free_gpu_memory(monkeypatch):
    """On CPU a scoring batch holds about 512k input floats; on a GPU it is sized from the
    free memory (mem_get_info, stubbed here: no GPU in CI), never below the CPU size."""
    import memae.detectors.base as base

    X, _, _ = _planted()
    det = memae.AutoEncoder(epochs=1, random_state=0).fit(X)
    d = X.shape[1]
    assert det._default_batch_size() == base._INFERENCE_ELEMENTS // d
    det.device_ = torch.device("cuda")  # only the sizing rule is exercised
    free = 64 * 2**30  # 64 GiB free: a 1/64 share is 1 GiB of float32 input
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 2 * free))
    assert det._default_batch_size() == (2**30 // 4) // d
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2**20, 2**30))
    assert det._default_batch_size() == base._INFERENCE_ELEMENTS // d


def test_host_batches_copy_a_memory_map_once(tmp_path):
    """Scoring batches reach the device with at most one host copy: a writable block is
    shared with numpy, a read-only memory map is copied once (no non-writable warning)
    and, for a CUDA transfer, that one copy is straight into pinned memory."""
    import warnings

    from memae.detectors.base import host_tensor

    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    shared = host_tensor(x[1:3], pinned=False)
    assert np.shares_memory(shared.numpy(), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on a non-writable array
        copied = host_tensor(mm[1:3], pinned=False)
    assert not np.shares_memory(copied.numpy(), mm)
    np.testing.assert_array_equal(copied.numpy(), x[1:3])
    if torch.cuda.is_available():
        pinned = host_tensor(mm[1:3], pinned=True)
        assert pinned.is_pinned() and pinned.dtype == torch.float32
        np.testing.assert_array_equal(pinned.numpy(), x[1:3])


def test_paired_overhead_benchmark(kdd, tmp_path):
    """--paired: every preset, both models, positive medians, overhead = ratio - 1."""
    import json

    from benchmarks.runners import speed

    from .conftest import data_root

    speed.main(["--paired", "--quick", "--out", str(tmp_path), "--data", str(data_root())])
    res = json.loads((tmp_path / "speed-paired-quick.json").read_text())
    assert set(res["paired"]) == {"kdd", "mnist", "cifar10", "ped2-cpu"}
    md = (tmp_path / "speed-paired-quick.md").read_text()
    for preset, main in res["paired"].items():
        # "auto" everywhere; where it is bf16, a float32 row of the same preset as well
        bf16 = preset != "kdd" and native_bf16_cpu()
        assert main["precision_resolved"] == ("bf16" if bf16 else "fp32")
        assert ("fp32" in main) == bf16 and (f"| {preset}, fp32 |" in md) == bf16
        if bf16:
            assert main["fp32"]["precision_resolved"] == "fp32"
        for row in (main, main.get("fp32", main)):
            med = row["median_seconds"]
            assert all(med[m][k] > 0 for m in ("AE", "MemAE") for k in ("train", "score"))
            ratio = med["MemAE"]["train"] / med["AE"]["train"] - 1
            assert row["memae_extra_train"] == pytest.approx(ratio)
    assert "| kdd | 1024 |" in md


def test_scoring_batches_benchmark(kdd, tmp_path, monkeypatch):
    """--scoring-batches on KDD rows: each budget's batch is 2^b input floats in whole
    rows, the default is the library's, and the markdown's last column is the default's
    throughput over the former 2^22's."""
    import json

    from benchmarks.runners import speed

    import memae.detectors.base as base

    from .conftest import data_root

    monkeypatch.setattr(speed, "SCORING", {"kdd": (None, 3000, 3000)})
    speed.main(["--scoring-batches", "--quick", "--out", str(tmp_path), "--data", str(data_root())])
    res = json.loads((tmp_path / "speed-scoring-batches-quick.json").read_text())
    assert set(res["scoring_batches"]) == {"kdd AE", "kdd MemAE"}
    d = 118  # KDD's one-hot encoded features
    for row in res["scoring_batches"].values():
        assert row["batch"] == {str(b): 2**b // d for b in speed.SCORING_BUDGETS}
        assert row["default_batch"] == base._INFERENCE_ELEMENTS // d
        assert all(v > 0 for v in row["per_s"].values())
    ae = res["scoring_batches"]["kdd AE"]["per_s"]
    b = base._INFERENCE_ELEMENTS.bit_length() - 1  # the default budget's exponent
    md = (tmp_path / "speed-scoring-batches-quick.md").read_text()
    assert f"| {ae[str(b)] / ae['22']:.2f}x |" in md
    assert f"**{ae[str(b)]:,.0f}** ({2**b // d})" in md


def test_compiled_benchmark(kdd, tmp_path, monkeypatch):
    """--compiled on KDD: eager and compiled runs of both models, speed-ups and the
    compiled overhead are the ratios of the medians, and the markdown carries them."""
    import json

    from benchmarks.runners import speed

    from .conftest import data_root

    monkeypatch.setattr(speed, "COMPILED", {"kdd": (None, 40)})
    speed.main(["--compiled", "--quick", "--out", str(tmp_path), "--data", str(data_root())])
    res = json.loads((tmp_path / "speed-compiled-quick.json").read_text())
    row = res["compiled"]["kdd"]
    med = row["median_seconds"]
    assert set(med) == {"AE", "MemAE", "AE compiled", "MemAE compiled"}
    assert all(v > 0 for m in med.values() for v in m.values())
    # the first compiled step pays the compilation: far slower than a compiled step
    assert all(row["first_compiled_step_seconds"][m] > 10 * med[f"{m} compiled"]["train"]
               for m in ("AE", "MemAE"))  # fmt: skip
    assert row["MemAE_compiled_speedup_train"] == pytest.approx(
        med["MemAE"]["train"] / med["MemAE compiled"]["train"]
    )
    extra = med["MemAE compiled"]["score"] / med["AE compiled"]["score"] - 1
    assert row["memae_extra_score_compiled"] == pytest.approx(extra)
    assert f"{extra:+.1%} score" in (tmp_path / "speed-compiled-quick.md").read_text()


def test_nan_check_benchmark(kdd, tmp_path):
    """--nan-check: both paths give the same scores, the speed-up is their time ratio."""
    import json

    from benchmarks.runners import speed

    from .conftest import data_root

    speed.main(["--nan-check", "--quick", "--out", str(tmp_path), "--data", str(data_root())])
    res = json.loads((tmp_path / "speed-nan-check-quick.json").read_text())["nan_check"]
    assert set(res) == {"AE", "MemAE"}
    for row in res.values():
        t = row["seconds"]
        assert row["identical_scores"] is True and row["rows"] == 20_000
        assert row["speed_up"] == pytest.approx(t["checked first"] / t["lazy"])
        assert 0 < row["check_seconds"] < t["checked first"]
    assert "| MemAE |" in (tmp_path / "speed-nan-check-quick.md").read_text()

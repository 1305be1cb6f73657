"""ONNX and torch.export graphs give decision_function's scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import memae

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

T = {"epochs": 2, "random_state": 0, "hidden_dims": (16,), "latent_dim": 3}
EXPORTABLE = {
    "AE": lambda: memae.AutoEncoder(**T),
    "MemAE": lambda: memae.MemAE(memory_size=20, **T),
    # more values per item than items: the divide-afterwards cosine (memae.nn.memory._cosine)
    "MemAE-long-items": lambda: memae.MemAE(memory_size=4, **{**T, "latent_dim": 8}),
    "LatentNormAE": lambda: memae.LatentNormAE(**T),
    "VAE": lambda: memae.VAE(**T),
    "CompactVAE": lambda: memae.CompactVAE(n_reference=200, **T),
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    Xt = rng.normal(size=(97, 6)).astype(np.float32) * 2  # a batch size never seen
    return X, Xt


def _onnx_scores(path, X: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path)).run(None, {"x": X.astype(np.float32)})[0]


@pytest.mark.parametrize("name", list(EXPORTABLE))
def test_onnx_and_pt2_match_decision_function(name, data, tmp_path):
    X, Xt = data
    det = EXPORTABLE[name]().fit(X)
    want = det.decision_function(Xt)
    det.export(tmp_path / "m.onnx")
    got = _onnx_scores(tmp_path / "m.onnx", Xt)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    det.export(tmp_path / "m.pt2")
    program = torch.export.load(tmp_path / "m.pt2")
    with torch.inference_mode():
        got = program.module()(torch.from_numpy(Xt)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.pt2"]  # no temp files


def test_image_model_exports(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (200, 12, 12), dtype=np.uint8)
    det = memae.MemAE(hidden_dims=(8,), latent_dim=8, memory_size=10, epochs=1, random_state=0)
    det.fit(X)
    det.export(tmp_path / "m.onnx")
    Xt = rng.integers(0, 256, (5, 12, 12), dtype=np.uint8)
    got = _onnx_scores(tmp_path / "m.onnx", Xt.astype(np.float32))
    # graphs are float32; precision="auto" scores a conv model in bf16 on a native-bf16 CPU
    want = det.set_params(precision="fp32").decision_function(Xt)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize(
    ("make", "suffix", "message"),
    [
        (lambda: memae.DAGMM(epochs=2, random_state=0), ".onnx", "DAGMM cannot be exported"),
        (lambda: memae.VAE(score_method="elbo", **T), ".pt2", "draws random codes"),
        (
            lambda: memae.CompactVAE(compactification="lipschitz", n_reference=200, **T),
            ".onnx",
            "cannot be exported to ONNX: .*eigh",
        ),
        (lambda: memae.AutoEncoder(**T), ".tflite", "writes .onnx or .pt2"),
    ],
)
def test_what_cannot_be_exported_says_so(make, suffix, message, data, tmp_path):
    det = make().fit(data[0])
    with pytest.raises(ValueError, match=message):
        det.export(tmp_path / f"m{suffix}")
    assert list(tmp_path.iterdir()) == []
    det.decision_function(data[1])  # the detector still works afterwards

"""Export a fitted detector as one graph: preprocessing, network and score.

``det.export("model.onnx")`` writes an ONNX graph (``torch.onnx.export`` with the
``torch.export`` front end; ``pip install 'memae[export]'``), ``det.export("model.pt2")``
a ``torch.export`` program. Either maps raw input, in the layout and units ``fit``
saw, as float32 (cast uint8 images with ``.astype("float32")``; the values stay
0-255), to the anomaly scores of ``decision_function``. The batch size is free.

What cannot be exported says so: scores drawn at random (VAE ``score_method="elbo"``)
scores with data-dependent control flow (DAGMM's Cholesky retries), and models that
one-hot encode categorical columns (their input is text, not a float tensor). memae never
loads these files; they are for serving with onnxruntime or torch.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

FORMATS = (".onnx", ".pt2")


class ScoringModule(nn.Module):
    """``raw float32 input -> decision_function scores``: the fitted scaler, the
    network and the detector's score in one torch module (eval mode)."""

    def __init__(self, detector: Any) -> None:
        super().__init__()
        self.network = detector.network_
        self._detector = detector

    def forward(self, x: Tensor) -> Tensor:
        det = self._detector
        return det._score_batch(self.network, det.scaler_(x)).float()


def export(detector: Any, path: str | os.PathLike) -> Path:
    """Write ``detector`` (fitted) to ``path`` (.onnx or .pt2), atomically."""
    detector._check_fitted()
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"export writes .onnx or .pt2 files, got {out.name!r}")
    name = type(detector).__name__
    if getattr(detector, "score_method", None) == "elbo":
        raise ValueError(
            f"{name}(score_method='elbo') draws random codes at scoring time and cannot be "
            "exported; export score_method='reconstruction' instead"
        )
    if getattr(detector, "encoder_", None) is not None:
        raise ValueError(
            f"this {name} one-hot encodes categorical columns (encoder_), which a float "
            "tensor graph cannot take as input; score it with memae (decision_function, "
            "`memae score`, memae.dask.score), where the same encoding is applied"
        )
    if suffix == ".onnx":
        try:
            import onnxscript  # noqa: F401 - torch.onnx's exporter needs it
        except ImportError:
            raise ImportError(
                "ONNX export needs onnx and onnxscript: pip install 'memae[export]'"
            ) from None
    from memae.nn.precision import set_precision

    set_precision(detector.network_, None)  # graphs are float32 (the scoring batches reset it)
    module = ScoringModule(detector).eval().to("cpu")
    device = detector.device_
    detector.device_ = torch.device("cpu")  # the scaler's statistics follow the input
    example = (torch.zeros((2, *detector.sample_shape_), dtype=torch.float32),)
    dynamic = {"x": {0: torch.export.Dim.DYNAMIC}}
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.part{suffix}")  # torch wants the suffix
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                program = torch.export.export(module, example, dynamic_shapes=dynamic)
            except Exception as exc:  # torch raises many kinds; the user gets one line
                raise ValueError(f"{name} cannot be exported: {_first_line(exc)}") from None
            if suffix == ".pt2":
                torch.export.save(program, tmp)
            else:
                try:
                    onnx = torch.onnx.export(
                        program, input_names=["x"], output_names=["score"], verbose=False
                    )
                except Exception as exc:  # an operator ONNX lacks (eigh, ...)
                    raise ValueError(
                        f"{name} cannot be exported to ONNX: {_first_line(_root(exc))} "
                        "(a .pt2 file may work)"
                    ) from None
                onnx.save(str(tmp))
        os.replace(tmp, out)
    finally:
        detector.device_ = device
        module.network.to(device)
        tmp.unlink(missing_ok=True)
    return out


def _root(exc: BaseException) -> BaseException:
    """The innermost cause of a chain of exceptions."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

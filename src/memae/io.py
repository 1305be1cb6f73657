"""Model files: ``config.json`` + ``weights.safetensors``; loading never unpickles.

``config.json`` names the detector class, its parameters, the feature count and
names, the preprocessing statistics, the threshold, the memae version, a format
version and the SHA-256 of the weights file, so a truncated or altered weights
file is caught before it is parsed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from memae._version import __version__
from memae.detectors.base import resolve_device
from memae.preprocessing import Scaler, network_shape

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT = "memae-model"
FORMAT_VERSION = 1
_SCORES_KEY = "fitted.decision_scores"
_MAX_CONFIG_BYTES = 64 << 20


class ModelFileError(ValueError):
    """A model directory is missing, damaged, altered or of an unknown version."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save(detector, path: str | os.PathLike) -> Path:
    """Write a fitted detector to directory ``path`` (created if needed)."""
    detector._check_fitted()
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"network.{k}": v.detach().cpu().contiguous()
        for k, v in detector.network_.state_dict().items()
    }
    tensors[_SCORES_KEY] = torch.from_numpy(np.ascontiguousarray(detector.decision_scores_))
    blob = save_safetensors_bytes(tensors)
    params = {k: _jsonable(v) for k, v in detector.get_params(deep=False).items()}
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "memae_version": __version__,
        "detector": type(detector).__name__,
        "params": params,
        "fitted": {
            "n_features_in": detector.n_features_in_,
            "sample_shape": list(detector.sample_shape_),
            "feature_names_in": getattr(detector, "feature_names_in_", None),
            "preprocessing": detector.scaler_.to_config(),
            "threshold": detector.threshold_,
            "seed": detector.seed_,
            "best_epoch": detector.best_epoch_,
            "stopped_early": detector.stopped_early_,
            "selection": detector.selection_,
            "history": detector.history_,
        },
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
    }
    # Weights first, config last: a directory with a config.json is complete.
    (out / WEIGHTS_FILE).write_bytes(blob)
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return out


def _read_config(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise ModelFileError(f"no model directory at {directory}")
    if not path.is_file():
        raise ModelFileError(f"{path} is missing: not a memae model directory")
    if path.stat().st_size > _MAX_CONFIG_BYTES:
        raise ModelFileError(f"{path} is implausibly large")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON (truncated or edited?): {exc}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a memae model config")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {version!r}; this memae ({__version__}) reads "
            f"version {FORMAT_VERSION} only (saved by memae {config.get('memae_version')})"
        )
    for key in ("detector", "params", "fitted", "weights_sha256"):
        if key not in config:
            raise ModelFileError(f"{path} lacks the field {key!r}")
    return config


def load(path: str | os.PathLike):
    """Rebuild a fitted detector from a directory written by ``det.save(path)``.

    Raises
    ------
    ModelFileError
        If a file is missing, truncated, altered (weights checksum), of an unknown
        format version, or does not match the network described by the config.
    """
    from memae.detectors import DETECTORS

    directory = Path(path)
    config = _read_config(directory)
    name = config["detector"]
    if name not in DETECTORS:
        raise ModelFileError(f"unknown detector class {name!r} in {directory / CONFIG_FILE}")
    cls = DETECTORS[name]
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()}
    try:
        detector = cls(**params)
    except TypeError as exc:
        raise ModelFileError(f"{directory / CONFIG_FILE} has invalid parameters: {exc}") from None

    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelFileError(f"{weights_path} is missing")
    blob = weights_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != config["weights_sha256"]:
        raise ModelFileError(
            f"{weights_path} does not match the checksum in {CONFIG_FILE}: the file is "
            "truncated, damaged or was altered"
        )
    try:
        tensors = load_safetensors_bytes(blob)
    except Exception as exc:
        raise ModelFileError(f"{weights_path} is not a valid safetensors file: {exc}") from None

    fitted = config["fitted"]
    try:
        sample_shape = tuple(int(s) for s in fitted["sample_shape"])
        n_features = int(fitted["n_features_in"])
        detector.scaler_ = Scaler.from_config(fitted["preprocessing"], sample_shape)
        threshold = float(fitted["threshold"])
        seed = int(fitted["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{directory / CONFIG_FILE} has invalid fitted state: {exc}") from None
    try:
        network = detector._build_network(network_shape(sample_shape))
    except ValueError as exc:
        raise ModelFileError(
            f"{directory / CONFIG_FILE} describes no valid network: {exc}"
        ) from None
    state = {k[len("network.") :]: v for k, v in tensors.items() if k.startswith("network.")}
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(
            f"{weights_path} does not fit the {name} network described by {CONFIG_FILE}: {exc}"
        ) from None
    scores = tensors.get(_SCORES_KEY)
    if scores is None or scores.dim() != 1:
        raise ModelFileError(f"{weights_path} lacks the training scores")

    detector.device_ = resolve_device(detector.device)
    detector.network_ = network.to(detector.device_).eval()
    detector.n_features_in_ = n_features
    detector.sample_shape_ = sample_shape
    if fitted.get("feature_names_in") is not None:
        detector.feature_names_in_ = list(fitted["feature_names_in"])
    detector.seed_ = seed
    detector.best_epoch_ = fitted.get("best_epoch")
    detector.stopped_early_ = bool(fitted.get("stopped_early", False))
    detector.selection_ = fitted.get("selection")
    detector.history_ = fitted.get("history", [])
    detector.decision_scores_ = scores.numpy().astype(np.float64)
    detector.threshold_ = threshold
    detector.labels_ = (detector.decision_scores_ > threshold).astype(np.int64)
    return detector

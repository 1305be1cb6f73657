"""Model files: ``config.json`` + ``weights.safetensors``; loading never unpickles.

``config.json`` names the detector class (and the module that defined it), its
parameters, its fitted state (from the detector's ``_get_state``: the feature
count and names, the preprocessing statistics, the threshold, ...), the memae
version, a format version and the SHA-256 of the weights file, so a truncated or
altered weights file is caught before it is parsed. This module only reads and
writes files; what the state means is the detector's business (``_set_state``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from memae import registry
from memae._version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT = "memae-model"
FORMAT_VERSION = 1
_MAX_CONFIG_BYTES = 64 << 20


class ModelFileError(ValueError):
    """A model directory is missing, damaged, altered or of an unknown version."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save(detector: Any, path: str | os.PathLike) -> Path:
    """Write a fitted detector to directory ``path`` (created if needed)."""
    fitted, tensors = detector._get_state()
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    blob = save_safetensors_bytes(tensors)
    params = {k: _jsonable(v) for k, v in detector.get_params(deep=False).items()}
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "memae_version": __version__,
        "detector": type(detector).__name__,
        "detector_module": type(detector).__module__,
        "params": params,
        "fitted": fitted,
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


def load(path: str | os.PathLike) -> Any:
    """Rebuild a fitted detector from a directory written by ``det.save(path)``.

    The class must be registered (:mod:`memae.registry`): memae's own, or a user's
    whose module has been imported.

    Raises
    ------
    ModelFileError
        If a file is missing, truncated, altered (weights checksum), of an unknown
        format version, names an unregistered detector, or does not match the
        network described by the config.
    """
    directory = Path(path)
    config = _read_config(directory)
    where = directory / CONFIG_FILE
    try:
        cls = registry.get(config["detector"], config.get("detector_module"))
    except KeyError as exc:
        raise ModelFileError(f"{exc.args[0]}, in {where}") from None
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()}
    try:
        detector = cls(**params)
    except TypeError as exc:
        raise ModelFileError(f"{where} has invalid parameters: {exc}") from None
    tensors = _read_weights(directory / WEIGHTS_FILE, config["weights_sha256"])
    try:
        detector._set_state(config["fitted"], tensors)
    except ValueError as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    return detector


def _read_weights(path: Path, sha256: str) -> dict[str, Any]:
    """The tensors of a weights file, after checking it against the config's checksum."""
    if not path.is_file():
        raise ModelFileError(f"{path} is missing")
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise ModelFileError(
            f"{path} does not match the checksum in {CONFIG_FILE}: the file is "
            "truncated, damaged or was altered"
        )
    try:
        return load_safetensors_bytes(blob)
    except Exception as exc:
        raise ModelFileError(f"{path} is not a valid safetensors file: {exc}") from None

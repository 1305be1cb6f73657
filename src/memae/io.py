"""Model files: ``config.json`` + ``weights-<sha>.safetensors``; loading never unpickles.

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
import re
import secrets
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
FORMAT_VERSION = 2  # 2: the weights file is named by its checksum ("weights_file")
READABLE_VERSIONS = (1, 2)
_FIELDS = {"detector": str, "params": dict, "fitted": dict, "weights_sha256": str}
_WEIGHTS_NAME = re.compile(r"weights(-[0-9a-f]{16})?\.safetensors")
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
    """Write a fitted detector to directory ``path`` (created if needed), atomically.

    The weights go to a new file named by their checksum, then ``config.json`` (which
    names that file) replaces the old one by a rename, and only then is the previous
    weights file removed. A crash at any point leaves the previous model loadable, and
    a concurrent :func:`load` sees the old model or the new one, never a mix. Files are
    written to temporary names, flushed to disk and renamed; a symbolic link as the
    directory or as one of the model's files is refused, and no other file in the
    directory is touched (other than older ``weights-*.safetensors`` files, memae's own).
    """
    fitted, tensors = detector._get_state()
    out = Path(path)
    if out.is_symlink():
        raise ModelFileError(f"{out} is a symbolic link; memae does not write through links")
    if out.exists() and not out.is_dir():
        raise ModelFileError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    params = {k: _jsonable(v) for k, v in detector.get_params(deep=False).items()}
    # The weights carry a digest of the model's description, so that an edit of
    # config.json that stays valid (another activation, another threshold) is caught.
    described = _describe(type(detector).__name__, params, fitted)
    blob = save_safetensors_bytes(tensors, metadata={"config_sha256": described})
    sha = hashlib.sha256(blob).hexdigest()
    weights_name = f"weights-{sha[:16]}.safetensors"
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "memae_version": __version__,
        "detector": type(detector).__name__,
        "detector_module": type(detector).__module__,
        "params": params,
        "fitted": fitted,
        "weights_file": weights_name,
        "weights_sha256": sha,
    }
    _write_atomic(out / weights_name, blob, "weights")
    _write_atomic(out / CONFIG_FILE, json.dumps(config, indent=2).encode(), "config")
    # The config no longer names older weights files (the previous save's, or one a
    # crash left behind): remove them; a reader still holding the old config re-reads.
    for old in out.iterdir():
        if old.name != weights_name and _WEIGHTS_NAME.fullmatch(old.name) and old.is_file():
            old.unlink(missing_ok=True)
    _step("previous weights removed")
    return out


def _step(name: str) -> None:
    """A point between two writes of :func:`save` (the crash-injection tests hook it)."""


def write_atomic(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file, fsync and a rename: the
    file holds the new bytes or its old content, never part of either."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, data, target.name)


def _write_atomic(target: Path, data: bytes, what: str) -> None:
    """``target`` holds ``data`` or its old content, never part of either."""
    if target.is_symlink():
        raise ModelFileError(f"{target} is a symbolic link; memae does not write through links")
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            _step(f"{what} written")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    _step(f"{what} renamed")


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _weights_name(config: dict[str, Any]) -> str:
    """The weights file a config names (format 1: ``weights.safetensors``), checked to be
    a plain file name of memae's pattern (never a path)."""
    name = config.get("weights_file", WEIGHTS_FILE)
    if not isinstance(name, str) or not _WEIGHTS_NAME.fullmatch(name):
        raise ModelFileError(f"{CONFIG_FILE} names an invalid weights file {name!r}")
    return name


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
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{path} is not valid JSON (truncated or edited?): {exc!r}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a memae model config")
    version = config.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{path} has model format version {version!r}; this memae ({__version__}) reads "
            f"versions {READABLE_VERSIONS} (saved by memae {config.get('memae_version')})"
        )
    for key, kind in _FIELDS.items():
        if key not in config:
            raise ModelFileError(f"{path} lacks the field {key!r}")
        if not isinstance(config[key], kind):
            raise ModelFileError(f"{path}: the field {key!r} must be a {kind.__name__}")
    if not re.fullmatch(r"[0-9a-f]{64}", config["weights_sha256"]):
        raise ModelFileError(f"{path}: 'weights_sha256' is not a SHA-256 hex digest")
    return config


def load(path: str | os.PathLike) -> Any:
    """Rebuild a fitted detector from a directory written by ``det.save(path)``.

    The class must be registered (:mod:`memae.registry`): memae's own, or a user's
    whose module has been imported. While another process saves into the same
    directory, this returns the old model or the new one.

    Raises
    ------
    ModelFileError
        If a file is missing, truncated, altered (weights checksum), of an unknown
        format version, names an unregistered detector, or does not match the
        network described by the config.
    """
    directory = Path(path)
    config, blob = _read_model(directory)
    where = directory / CONFIG_FILE
    try:
        cls = registry.get(config["detector"], config.get("detector_module"))
    except KeyError as exc:
        raise ModelFileError(f"{exc.args[0]}, in {where}") from None
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()}
    for old, new in getattr(cls, "_renamed_params", {}).items():  # files of older versions
        if old in params and new not in params:
            params[new] = params.pop(old)
    try:
        detector = cls(**params)
        detector._check_params()  # the declared constraints, before anything is built
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{where} has invalid parameters: {exc}") from None
    tensors = _parse_weights(directory / _weights_name(config), blob, config["weights_sha256"])
    try:
        detector._set_state(config["fitted"], tensors)
    except ValueError as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    except (TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise ModelFileError(f"{where}: invalid fitted state: {exc!r}") from None
    recorded = _metadata(blob).get("config_sha256")  # absent in format 1 files
    described = _describe(config["detector"], config["params"], config["fitted"])
    if recorded is not None and recorded != described:
        raise ModelFileError(
            f"{where} was edited after saving: the detector, parameters or fitted state no "
            "longer match the digest stored with the weights"
        )
    return detector


def _read_model(directory: Path) -> tuple[dict[str, Any], bytes]:
    """``config.json`` and the bytes of the weights file it names.

    If that file is gone, a concurrent save replaced the config after it was read and
    removed the old weights: the config is read again, once, to get the new model.
    """
    for attempt in (1, 2):
        config = _read_config(directory)
        weights = directory / _weights_name(config)
        try:
            return config, weights.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            if attempt == 2 or _weights_name(_read_config(directory)) == weights.name:
                raise ModelFileError(f"{weights} is missing") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _parse_weights(path: Path, blob: bytes, sha256: str) -> dict[str, Any]:
    """The tensors of a weights file, after checking it against the config's checksum."""
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise ModelFileError(
            f"{path} does not match the checksum in {CONFIG_FILE}: the file is "
            "truncated, damaged or was altered"
        )
    try:
        return load_safetensors_bytes(blob)
    except Exception as exc:
        raise ModelFileError(f"{path} is not a valid safetensors file: {exc}") from None


def _describe(detector: str, params: dict[str, Any], fitted: dict[str, Any]) -> str:
    """SHA-256 of the model's description, as JSON with sorted keys."""
    text = json.dumps([detector, params, fitted], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _metadata(blob: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors blob (its JSON header; checked already)."""
    n = int.from_bytes(blob[:8], "little")
    meta = json.loads(blob[8 : 8 + n]).get("__metadata__") or {}
    return meta if isinstance(meta, dict) else {}

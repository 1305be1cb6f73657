"""Where the benchmark data lives: an explicit path, ``$MEMAE_DATA``, or ``shared/data`` nearby."""

from __future__ import annotations

import os
from pathlib import Path


class DataNotFoundError(FileNotFoundError):
    """A data file was not found; the message lists every place that was searched."""


def candidate_roots() -> list[Path]:
    """Data roots searched in order: ``$MEMAE_DATA``, then ``shared/data`` in or above the CWD."""
    roots = []
    if os.environ.get("MEMAE_DATA"):
        roots.append(Path(os.environ["MEMAE_DATA"]).expanduser())
    cwd = Path.cwd()
    roots += [p / "shared" / "data" for p in (cwd, *cwd.parents)][:4]
    return roots


def find_file(relative: str, path: str | os.PathLike | None = None) -> Path:
    """Resolve a data file.

    ``path`` may be the file itself or a data root holding ``relative``; without it,
    ``relative`` is looked up under :func:`candidate_roots`.
    """
    tried: list[Path] = []
    if path is not None:
        p = Path(path).expanduser()
        for cand in (p, p / relative, p / Path(relative).name):
            if cand.is_file():
                return cand
            tried.append(cand)
    else:
        for root in candidate_roots():
            cand = root / relative
            if cand.is_file():
                return cand
            tried.append(cand)
    looked = "\n  ".join(str(t) for t in dict.fromkeys(tried))
    raise DataNotFoundError(
        f"could not find {relative}; looked in:\n  {looked}\n"
        "Pass the file or data folder explicitly, or set MEMAE_DATA to the folder that holds "
        f"{relative.split('/')[0]}/."
    )

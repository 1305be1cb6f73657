"""The prepared GPU session: the full ``ped2`` preset and the speed benchmark on a lent GPU.

Issue 20 (item 5) and the guide ask that, when a session is lent a GPU (the ``device``
tool), it first runs the official Ped2 network (``ped2`` preset, 256x256) and the speed
benchmark there. Device time is short (15 minutes a session, the machine's start
included), the working tree that travels is at most 64 MiB, and ``../shared/data``
does not travel. So the data go in parts, one ``run`` call each, and the last call
runs everything in one command:

1. Here: ``python benchmarks/device_session.py pack`` copies what the GPU run reads
   (the Ped2 frames and labels, the KDD npz and a PyOD wheel for the speed comparison)
   into ``.device/p1``, ``.device/p2``, ... (git-ignored), each small enough to travel
   with the working tree, and prints the ``run`` calls to make, in order, with no
   pause between them (the machine stays warm 30 s after a call, and keeps ignored
   files between calls while it is warm).
2. There (the last call): ``python3 benchmarks/device_session.py run`` merges the parts,
   times the ``ped2`` networks on a few clips (``video.py --speed-only``), trains MemAE
   with the ``ped2`` preset for as many of its 100 epochs as fit in ``--budget``
   seconds (all of them if they fit; the epoch count is in the result's name and
   table; it is chosen from the measured time per epoch, never from a test label),
   scores the test videos, then runs ``speed.py --device cuda``. Results land in
   ``$OUT`` (flat: the device tool brings back 8 files).
3. Here: copy the returned ``*.json`` / ``*.md`` into ``benchmarks/results/`` and
   update the README blocks (the tables print the commands that made them).

``python benchmarks/device_session.py run --dry-run`` (after ``pack``) rehearses step 2
on this machine, from the packed parts, with tiny settings (CPU, ``--quick`` runs), so
that the script is known to work before device time is spent on it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ROOT / ".device"
#: what travels per call: the device tool's limit, less a margin for files written meanwhile
LIMIT_BYTES = 64 * 2**20
MARGIN_BYTES = 2 * 2**20
#: the Ped2 archive's members the loader reads (frames and frame labels)
PED2_KEEP = ("ped2/training/frames/", "ped2/testing/frames/", "ped2/testing/frame_labels.json")
PED2_EPOCHS = 100  # the preset's (the official code's) epochs


def tree_bytes() -> int:
    """Bytes of the working tree that travels with every call (tracked files and untracked
    files git does not ignore)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    files = (ROOT / f.decode() for f in out.split(b"\0") if f)
    return sum(f.stat().st_size for f in files if f.is_file())


def _groups(data: Path, pyod: bool) -> list[tuple[str, list[tuple[str, bytes]]]]:
    """The files the GPU run reads, grouped so that a group never spans two parts (one
    Ped2 video folder, the labels, the KDD npz, the PyOD wheel), as ``(name, [(path in
    the part, content)])``."""
    groups: dict[str, list[tuple[str, bytes]]] = {}
    with tarfile.open(data / "ped2" / "ped2.tar.gz") as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.startswith(PED2_KEEP):
                key = str(Path(m.name).parent)
                content = tar.extractfile(m).read()  # type: ignore[union-attr]
                groups.setdefault(key, []).append((f"data/{m.name}", content))
    groups["kdd"] = [("data/kdd/kdd_cup.npz", (data / "kdd" / "kdd_cup.npz").read_bytes())]
    if pyod:  # the speed benchmark's reference; the GPU image has no PyOD
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp]
            subprocess.run([*cmd, f"pyod=={_version('pyod')}"], check=True)
            groups["whl"] = [(f"whl/{w.name}", w.read_bytes()) for w in Path(tmp).glob("*.whl")]
    return sorted(groups.items())


def pack(data: Path, pyod: bool = True) -> list[Path]:
    """Write the parts under ``.device/`` (removing old ones); return their folders."""
    budget = LIMIT_BYTES - MARGIN_BYTES - tree_bytes()
    if budget <= 0:
        sys.exit("the working tree alone is over the device tool's 64 MiB")
    shutil.rmtree(PARTS, ignore_errors=True)
    parts: list[list[tuple[str, bytes]]] = [[]]
    used = 0
    for name, files in _groups(data, pyod):
        size = sum(len(c) for _, c in files)
        if size > budget:
            sys.exit(f"{name} ({size / 2**20:.1f} MiB) does not fit one call")
        if used + size > budget:
            parts.append([])
            used = 0
        parts[-1].extend(files)
        used += size
    folders = []
    for i, files in enumerate(parts, 1):
        folder = PARTS / f"p{i}"
        for rel, content in files:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        folders.append(folder)
    return folders


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def plan(folders: list[Path], budget: int) -> list[dict[str, object]]:
    """The ``run`` calls, in order: every part but the last with a trivial command (it only
    has to arrive), the last with the session itself."""
    calls: list[dict[str, object]] = []
    for folder in folders[:-1]:
        rel = str(folder.relative_to(ROOT))
        calls.append({"command": f"du -sh {rel}", "carry": [rel], "timeout_s": 60})
    last = str(folders[-1].relative_to(ROOT))
    calls.append({
        "command": f"python3 benchmarks/device_session.py run --budget {budget} 2>&1",
        "carry": [last],
        "timeout_s": min(600, budget + 240),
    })  # fmt: skip
    return calls


def _sh(cmd: list[str], timeout: float, log: Path) -> int:
    """Run ``cmd`` from the repository root, its output appended to ``log`` and echoed."""
    print("$", " ".join(cmd), flush=True)
    with log.open("a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        begin = f.tell()
        try:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                timeout=timeout).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            f.write(f"(stopped after {timeout:.0f} s)\n")
            rc = 124
    with log.open() as f:  # the step's last lines, for the device tool's output tail
        f.seek(begin)
        print("".join(f.readlines()[-15:]), f"(exit {rc})", flush=True)
    return rc


def epochs_for(speed: dict, budget: float, share: float = 0.8) -> int:
    """Epochs of the ``ped2`` MemAE that fit ``share`` of ``budget`` seconds, from the
    measured (extrapolated) seconds per epoch; validation and scoring take the rest."""
    per_epoch = speed["ped2"]["MemAE"]["epoch_seconds_extrapolated"]
    return max(1, min(PED2_EPOCHS, math.floor(share * budget / per_epoch)))


def run(budget: float, out: Path, dry_run: bool = False) -> int:
    """The GPU session (see the module docstring); returns 0 when every step ran."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "session.log"
    data = Path("/tmp/memae-device-data")
    for part in sorted(PARTS.glob("p*")):  # merge the parts that arrived
        if (part / "data").is_dir():
            shutil.copytree(part / "data", data, dirs_exist_ok=True)
    wheels = sorted(PARTS.glob("p*/whl/*.whl"))
    if wheels:
        site = "/tmp/memae-site"
        _sh([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
             "--target", site, *map(str, wheels)], 120, log)  # fmt: skip
        os.environ["PYTHONPATH"] = os.pathsep.join([site, os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    )
    os.environ["PYTHONUNBUFFERED"] = "1"
    missing = [
        p for p in ("ped2/training/frames", "ped2/testing/frames") if not (data / p).is_dir()
    ]
    if missing:  # a part did not arrive (the machine went cold between the calls)
        print(f"missing {missing} under {data}: make the calls again, without a pause")
        return 2
    py, quick = sys.executable, ["--quick"] if dry_run else []
    device = "cpu" if dry_run else "cuda"
    steps = []
    rc = _sh([py, "benchmarks/video.py", "--speed-only", "--speed-presets", "ped2",
              "--speed-clips", "2" if dry_run else "14", "--data", str(data / "ped2"),
              "--out", str(out), *(["--frame-size", "32", "32"] if dry_run else [])],
             120 if dry_run else 240, log)  # fmt: skip
    steps.append(("ped2 timing", rc))
    speed_file = out / ("ped2-speed-32x32.json" if dry_run else "ped2-speed.json")
    if rc == 0:
        speed = json.loads(speed_file.read_text())["speed"]
        left = budget - (time.perf_counter() - start)
        epochs = 1 if dry_run else epochs_for(speed, left)
        print(f"ped2 MemAE: {epochs} of {PED2_EPOCHS} epochs fit the budget", flush=True)
        video = [py, "benchmarks/video.py", "--preset", "ped2", "--methods", "MemAE",
                 "--data", str(data / "ped2"), "--out", str(out), "--workdir",
                 "/tmp/memae-device-work", "--no-figures", *quick]  # fmt: skip
        if epochs < PED2_EPOCHS and not dry_run:
            video += ["--epochs", str(epochs)]
        steps.append(("ped2 MemAE", _sh(video, max(60.0, left + 60), log)))
    speed_cmd = [py, "benchmarks/speed.py", "--device", device, "--repeats", "1",
                 "--data", str(data / "kdd"), "--out", str(out), *quick]  # fmt: skip
    steps.append(("speed", _sh(speed_cmd, 300, log)))
    print(json.dumps({"steps": steps, "seconds": time.perf_counter() - start}), flush=True)
    print("\n".join(sorted(p.name for p in out.iterdir())), flush=True)
    return 0 if all(rc == 0 for _, rc in steps) else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pack", help="here: split the data into parts; print the run calls")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--budget", type=int, default=300, help="seconds of ped2 training")
    p.add_argument("--no-pyod", action="store_true", help="leave PyOD out of the speed run")
    r = sub.add_parser("run", help="there: the GPU session itself")
    r.add_argument("--budget", type=float, default=300, help="seconds for timing and ped2")
    r.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/memae-out")))
    r.add_argument("--dry-run", action="store_true", help="rehearse here on CPU, tiny runs")
    args = parser.parse_args(argv)
    if args.what == "pack":
        folders = pack(args.data, pyod=not args.no_pyod)
        print(f"{len(folders)} parts under {PARTS}; make these device run calls in order:")
        for call in plan(folders, args.budget):
            print(json.dumps(call))
    else:
        sys.exit(run(args.budget, args.out, args.dry_run))


if __name__ == "__main__":
    main()

"""Benchmark: what a hostile upload costs the web process before and after the guards.

Each case runs in a fresh child process (so its peak memory is its own) and prints its wall
time and peak RSS; the peers are the calls the registration used to make on the same bytes:

- a ~100 KB skops file whose schema points 40 arrays at one 8 MB zipped member: our
  ``inspect_model_file`` (refuses it) against ``skops.io.get_untrusted_types`` (reads the
  member once per reference), and against inspecting an honest model of the same size;
- a CSV whose header repeats one name 12,000 times (pandas renames repeats, in time that
  grows faster than the square of their number): our ``read_frame`` (refuses it on the
  header) against ``pandas.read_csv`` on the same bytes; and our ``read_frame`` on a
  2,000-column file (the widest we accept) against plain pandas, the cost of the check.

Run: .venv/bin/python benchmarks/upload_guards.py
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = os.environ.get("GATEHOUSE_DATA_DIR") or tempfile.mkdtemp(prefix="gatehouse-bench-")
sys.path.insert(0, str(ROOT))


def _data():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    return X, (X[:, 0] > 0).astype(int)


def _bomb() -> bytes:
    from tests.skops_files import skops_bomb

    return skops_bomb(_data(), references=40, member_mb=8)


def _honest() -> bytes:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data()
    model = RandomForestClassifier(n_estimators=12, random_state=0).fit(X, y)
    return sio.dumps(model)


def _csv(columns: int, repeated: bool = False) -> bytes:
    header = ",".join("x" if repeated else f"feature_{i:05d}" for i in range(columns))
    row = ",".join("1" for _ in range(columns))
    return f"{header}\n{row}\n".encode()


def case(name: str) -> tuple[str, object]:
    """The bytes and the call of one case; the call is what is timed."""
    import io

    if name.startswith("skops"):
        blob = _bomb() if name != "skops-honest-ours" else _honest()
        if name == "skops-bomb-skops":
            import skops.io as sio

            return f"{len(blob) / 1024:.0f} KB", lambda: sio.get_untrusted_types(data=blob)
        from registry.model_files import UnsafeModelFile, inspect_model_file

        def ours():
            try:
                inspect_model_file(blob)
            except UnsafeModelFile as exc:
                return str(exc)[:60]
            return "accepted"

        return f"{len(blob) / 1024:.0f} KB", ours
    blob = _csv(2000) if name.startswith("csv-2000") else _csv(12_000, repeated=True)
    if name.endswith("pandas"):
        import pandas as pd

        return f"{len(blob) / 1024:.0f} KB", lambda: pd.read_csv(io.BytesIO(blob)).shape
    from registry.errors import InvalidInput
    from registry.evaluation import read_frame

    def ours():
        try:
            return read_frame(io.BytesIO(blob), "csv").shape
        except InvalidInput as exc:
            return str(exc.errors)[:60]

    return f"{len(blob) / 1024:.0f} KB", ours


def child(name: str) -> None:
    """Run one case here and print its figures as JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings")
    import django

    django.setup()
    size, call = case(name)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    outcome = call()
    seconds = time.perf_counter() - start
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"size": size, "seconds": seconds, "grew_mb": grew, "outcome": str(outcome)}))


def run(name: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "GATEHOUSE_DATA_DIR": DATA_DIR},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    pairs = [
        ("skops bomb, 40 x 8 MB", "skops-bomb-ours", "skops-bomb-skops", "skops audit (old path)"),
        ("honest forest, our inspection", "skops-honest-ours", None, ""),
        (
            "CSV, 12,000 repeated names",
            "csv-dup-ours",
            "csv-dup-pandas",
            "pandas.read_csv (old path)",
        ),
        ("CSV, 2,000 columns (accepted)", "csv-2000-ours", "csv-2000-pandas", "plain pandas"),
    ]
    print(
        f"{'case':34} {'size':>7} {'ours s':>8} {'+MB':>7} {'peer s':>8} {'+MB':>7}  peer s / ours s"
    )
    for title, ours, peer, peer_name in pairs:
        mine = run(ours)
        line = f"{title:34} {mine['size']:>7} {mine['seconds']:8.3f} {mine['grew_mb']:7.1f}"
        if peer:
            theirs = run(peer)
            ratio = theirs["seconds"] / max(mine["seconds"], 1e-6)
            line += f" {theirs['seconds']:8.3f} {theirs['grew_mb']:7.1f}  {ratio:,.1f}x  peer: {peer_name}"
        print(line)
        print(f"{'':34} ours: {mine['outcome']}")
    if "GATEHOUSE_DATA_DIR" not in os.environ:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()

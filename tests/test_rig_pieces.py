"""The model's pieces for the GPU rig (bench/accuracy/rig/pieces.sh) join back, as
run_all.sh joins them on the machine, into the very bytes prepare.sh's parts held."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

RIG = Path(__file__).resolve().parents[1] / "bench" / "accuracy" / "rig"


def _join_snippet() -> str:
    script = (RIG / "run_all.sh").read_text()
    start = script.index("# the model's pieces")
    return script[start : script.index("\nfi\n", start) + 4]


def test_pieces_fit_a_call_and_join_into_the_model(tmp_path: Path) -> None:
    gpu, machine = tmp_path / ".gpu", tmp_path / "g"
    (gpu / "parts").mkdir(parents=True)
    model = os.urandom(10_000)
    for number, start in enumerate(range(0, len(model), 3_000)):  # 4 uneven parts
        (gpu / "parts" / f"p{number:02d}").write_bytes(model[start : start + 3_000])
    done = subprocess.run(
        ["bash", str(RIG / "pieces.sh"), str(gpu)],
        env={**os.environ, "PIECE": "2048"},
        capture_output=True,
        text=True,
        check=True,
    )
    pieces = sorted((gpu / "chunks").iterdir())
    assert [p.name for p in pieces] == [f"c{n:02d}" for n in range(5)]
    assert all(p.stat().st_size <= 2048 for p in pieces)
    assert not list((gpu / "parts").iterdir())  # the parts are gone, only pieces travel
    assert "c04" in done.stdout  # the small last piece rides with start.sh's call
    # on the machine: each call copied its piece to /tmp/g/chunks; run_all.sh joins them
    (machine / "parts").mkdir(parents=True)
    shutil.copytree(gpu / "chunks", machine / "chunks")
    subprocess.run(["bash", "-c", f"G={machine}\n{_join_snippet()}"], check=True)
    assert (machine / "parts" / "p00").read_bytes() == model
    assert not (machine / "chunks").exists()

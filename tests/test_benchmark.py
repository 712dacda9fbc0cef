"""tools/benchmark.py end to end, as a user runs it: a --quick smoke run on two families."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_a_markdown_table(tmp_path):
    out = tmp_path / "bench.md"
    run = subprocess.run([sys.executable, "tools/benchmark.py", "--quick", "--families", "dcgan,cyclegan",
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    text = out.read_text()
    assert "CPU: " in text and "torch threads: 1" in text
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "(sample)" in rows["dcgan"] and "(translate)" in rows["cyclegan"]
    assert "trainer overhead" in text  # dcgan chosen: its ratio is measured
    assert "error" not in text


def test_unknown_family_is_refused():
    run = subprocess.run([sys.executable, "tools/benchmark.py", "--quick", "--families", "nope"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "unknown family nope" in run.stderr

"""genlab.training.memory: a training process keeps freed memory instead of faulting it in anew."""
from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import resource, sys
import torch
from genlab.training.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
t = torch.ones(13_000_000)  # 52 MB: above glibc's largest mmap threshold
del t
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):  # what a training step does with its largest activation
    t = torch.ones(13_000_000)
    del t
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str, env=None) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env=env).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc (Linux)")
def test_kept_memory_is_reused_instead_of_faulted_in_every_time():
    kept, faults_kept = page_faults("keep")
    if kept != "True":
        pytest.skip("not glibc: mallopt is not there")
    _, faults_default = page_faults("default")
    # glibc's default: each 52 MB tensor is a fresh mmap, about 12,700 page faults apiece
    assert faults_default > 40 * 10_000
    # kept: one to six tensors' worth in all (the heap settling), measured, against 40
    assert faults_kept < faults_default / 4


def test_the_user_can_keep_the_system_defaults(monkeypatch):
    from genlab.training.memory import keep_freed_memory

    monkeypatch.setenv("GENLAB_MALLOC", "system")
    assert keep_freed_memory() is False

"""Where the shipped checkpoints live: one constant, below every other genlab module.

It sits apart from the registry and the manifest so that both can read it
without importing each other (or the families).
"""
from __future__ import annotations

from pathlib import Path

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"

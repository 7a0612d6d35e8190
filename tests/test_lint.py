"""Ruff, with the rules of pyproject.toml's [tool.ruff], finds nothing in python/, tests/ and bench/."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                          "python", "tests", "bench"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"ruff check found problems:\n{run.stdout}{run.stderr}"

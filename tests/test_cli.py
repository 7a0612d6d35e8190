"""The genmix command line: bad arguments give a usage error, never a traceback."""

import subprocess
import sys

import pytest

from genmix import cli


@pytest.mark.parametrize("value", ["0", "-3", "300", "two"])
def test_demo_rejects_a_bad_max_k(capsys, value):
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--max-k", value])
    assert info.value.code == 2  # argparse's usage error
    err = capsys.readouterr().err
    assert "--max-k" in err and "Traceback" not in err


def test_demo_rejects_a_bad_max_k_as_a_function():
    with pytest.raises(ValueError, match="max_k must be >= 1"):
        cli.demo(max_k=0)
    with pytest.raises(ValueError, match=f"max_k must be <= {cli.MAX_DEMO_K}"):
        cli.demo(max_k=300)


def test_demo_runs_from_the_command_line():
    out = subprocess.run([sys.executable, "-m", "genmix", "demo", "--max-k", "2"], capture_output=True, text=True,
                         check=True).stdout
    assert "Best by BIC" in out


def test_demo_bad_max_k_from_the_command_line():
    run = subprocess.run([sys.executable, "-m", "genmix", "demo", "--max-k", "0"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "must be >= 1" in run.stderr and "Traceback" not in run.stderr

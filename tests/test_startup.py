"""`expedition --help` must stay fast: none of the heavy libraries may load for it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["polars", "pandera", "sklearn", "scipy", "matplotlib", "statsmodels", "pandas", "numpy",
         "cookiecutter", "jinja2", "cryptography"]

PROBE = """
import json, sys
from expedition.cli import app
from typer.testing import CliRunner
result = CliRunner().invoke(app, {args})
print(json.dumps({{"code": result.exit_code, "modules": sorted(sys.modules)}}))
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["new", "--help"], ["data", "--help"], ["run", "--help"], ["pack", "--help"],
     ["pack", "verify", "--help"], ["pack", "key", "--help"], ["--version"]],
)
def test_help_imports_no_heavy_library(args):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    loaded = [name for name in HEAVY if name in report["modules"]]
    assert loaded == []


def test_console_script_and_module_both_work():
    out = subprocess.run([sys.executable, "-m", "expedition", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "demo" in out.stdout

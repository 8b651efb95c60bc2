"""Shared fixtures for the CLI tests: small game files written into tmp_path, and a runner."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import sgn
import sgn.cli

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# The header every game file starts with.
HEADER = "import jax.numpy as jnp\nimport sgn\n\n"

# The scalar reference toy (docs/method.md), written by the tests themselves (not examples/).
MINI_TOY = HEADER + textwrap.dedent(
    """
    def f1(x1, x2):
        return 0.5 * x1 @ x1 + 10.0 * x1 @ x2

    def f2(x1, x2):
        return 0.5 * x2 @ x2 + 0.05 * x1 @ x2

    game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="mini-toy")
    """
)


@pytest.fixture
def game_file(tmp_path):
    """write(body, name="game.py", header=True) -> Path of a game file in tmp_path."""

    def write(body: str, name: str = "game.py", header: bool = True) -> Path:
        path = tmp_path / name
        text = textwrap.dedent(body)
        path.write_text((HEADER if header else "") + text)
        return path

    return write


@pytest.fixture
def mini_toy(tmp_path) -> Path:
    path = tmp_path / "mini_toy.py"
    path.write_text(MINI_TOY)
    return path


@pytest.fixture
def scalar_toy() -> Path:
    path = EXAMPLES / "scalar_toy.py"
    assert path.is_file(), f"missing example {path}"
    return path


@pytest.fixture
def run_cli():
    """run_cli(*args) -> click Result of `sgn <args>` run in-process (stdout/stderr separate)."""
    runner = CliRunner()

    def run(*args):
        return runner.invoke(sgn.cli.main, [str(a) for a in args], catch_exceptions=True)

    return run


@pytest.fixture(scope="session")
def sgn_exe() -> str:
    """The `sgn` console script of the environment the tests run in."""
    beside = Path(sys.executable).parent / ("sgn.exe" if os.name == "nt" else "sgn")
    if beside.is_file():
        return str(beside)
    found = shutil.which("sgn")
    if found is None:
        pytest.skip("the `sgn` console script is not installed")
    return found


@pytest.fixture(scope="session")
def mini_toy_json(tmp_path_factory) -> str:
    """`sgn certify mini_toy.py --format json` stdout, computed once per session."""
    path = tmp_path_factory.mktemp("mini_toy") / "mini_toy.py"
    path.write_text(MINI_TOY)
    result = CliRunner().invoke(
        sgn.cli.main, ["certify", str(path), "--samples", "64", "--format", "json"]
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def assert_bad_input(result, *words):
    """Exit 2, nothing on stdout, one 'error:' line on stderr naming the problem, no traceback."""
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything
    assert result.exit_code == 2, (result.exit_code, everything, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stdout == "", result.stdout
    err = result.stderr.strip()
    assert err.startswith("error:"), err
    assert "\n" not in err, f"expected one line on stderr, got:\n{err}"
    lowered = err.lower()
    for word in words:
        assert word.lower() in lowered, f"{word!r} not in {err!r}"


def assert_usage_error(result, *words):
    """A click usage error: exit 2, no traceback, the offending option named."""
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything
    assert result.exit_code == 2, (result.exit_code, everything, result.exception)
    for word in words:
        assert word.lower() in everything.lower(), f"{word!r} not in {everything!r}"


@pytest.fixture(scope="module")
def toy():
    """The reference toy (examples/scalar_toy.py) and its certificate, once per test module."""
    game = sgn.load_game(EXAMPLES / "scalar_toy.py")
    cert = sgn.certify(game, samples=64)
    assert cert.certified, cert.reasons
    return game, cert

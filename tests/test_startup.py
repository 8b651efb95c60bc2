"""Start-up: `import sgn` and `--help` load no JAX (it alone takes most of a second); every
public name still resolves, on first use. Times are measured in benchmarks/bench_startup.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sgn


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True)
    return set(out.stdout.split())


def test_import_sgn_loads_no_jax():
    loaded = _modules_after("import sgn")
    assert "jax" not in loaded and "numpy" not in loaded


@pytest.mark.parametrize("argv", [["--help"], ["certify", "--help"], ["verify", "--help"],
                                  ["--version"]])
def test_help_loads_no_jax(argv):
    loaded = _modules_after(
        "import sys\nfrom sgn.cli import main\nsys.argv = ['sgn'] + " + repr(argv)
        + "\ntry:\n    main()\nexcept SystemExit:\n    pass")
    assert "sgn.cli" in loaded and "jax" not in loaded


def test_every_public_name_resolves_and_float64_is_on():
    for name in sgn.__all__:
        assert getattr(sgn, name) is not None, name
    import jax
    assert jax.config.jax_enable_x64
    assert set(sgn.__all__) <= set(dir(sgn))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Gmae'"):
        sgn.Gmae  # noqa: B018

"""Start-up: `import sgn` and `--help` load no JAX (it alone takes most of a second); every
public name still resolves, on first use; the README example imports neither cvxpy nor pyplot.
Times are measured in benchmarks/bench_startup.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sgn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _modules_after(code: str, env: dict | None = None) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=300, check=True, env={**os.environ, **(env or {})})
    return set(out.stdout.split())


def _cli(argv: list[str]) -> str:
    """Code that runs `sgn <argv>` and prints its exit code on the way out."""
    return ("import sys\nfrom sgn.cli import main\nsys.argv = ['sgn'] + " + repr(argv)
            + "\ntry:\n    main()\nexcept SystemExit as exc:\n    print('exit', exc.code)")


def test_import_sgn_loads_no_jax():
    loaded = _modules_after("import sgn")
    assert "jax" not in loaded and "numpy" not in loaded


@pytest.mark.parametrize("argv", [["--help"], ["certify", "--help"], ["verify", "--help"],
                                  ["--version"]])
def test_help_loads_no_jax(argv):
    loaded = _modules_after(_cli(argv))
    assert "sgn.cli" in loaded and "jax" not in loaded


@pytest.mark.slow
def test_readme_example_loads_no_cvxpy_and_no_pyplot(tmp_path):
    """`sgn certify examples/scalar_toy.py --out cert.json --report cert.pdf`: the M-matrix LP
    goes to HiGHS through highspy, not cvxpy (a tenth of a second to import), and the report's
    figures are drawn without pyplot. cvxpy stays for SDPBisection() only."""
    out, report = tmp_path / "cert.json", tmp_path / "cert.pdf"
    loaded = _modules_after(_cli(["certify", str(EXAMPLES / "scalar_toy.py"), "--out", str(out),
                                  "--report", str(report), "--quiet"]),
                            env={"SGN_CACHE_DIR": str(tmp_path / "cache")})
    assert "exit" in loaded and "0" in loaded and out.is_file() and report.is_file()
    assert "highspy" in loaded and "matplotlib.figure" in loaded    # the LP ran, figures drawn
    assert not {m for m in loaded if m == "cvxpy" or m.startswith("cvxpy.")}
    assert "matplotlib.pyplot" not in loaded


def _cvxpy_lp(K):
    """The M-matrix LP as sgn solved it through cvxpy before issue 15 (t*, v)."""
    import cvxpy as cp

    v, t = cp.Variable(K.shape[0]), cp.Variable()
    problem = cp.Problem(cp.Maximize(t), [K @ v >= t, v >= 0, v <= 1])
    problem.solve(solver=cp.HIGHS)
    assert problem.status == cp.OPTIMAL
    return float(t.value), np.asarray(v.value, dtype=np.float64)


def test_m_matrix_lp_is_bit_for_bit_the_cvxpy_formulation():
    """highspy fed cvxpy's model gives cvxpy's numbers to the last bit (the full comparison,
    examples, the test suite's matrices and 600 random ones: benchmarks/check_lp_identity.py)."""
    from sgn._weights._lp import m_matrix_lp

    toy = m_matrix_lp(np.array([[1.0, -10.0], [-0.05, 1.0]]))   # the scalar toy, unwidened
    assert toy.solved and toy.value.hex() == "0x1.745d1745d1746p-5"
    assert [x.hex() for x in toy.vector] == ["0x1.0000000000000p+0", "0x1.86fb586fb5870p-4"]
    rng = np.random.default_rng(15)
    for n in (1, 2, 3, 5, 8, 13, 21, 34):
        mu = rng.uniform(0.2, 3.0, n)
        L = rng.uniform(0.0, 1.0, (n, n)) * (rng.random((n, n)) < 0.6)
        np.fill_diagonal(L, 0.0)
        for scale in (0.3, 1.0, 3.0):       # certifiable and not
            K = np.diag(mu) - scale * L
            new, (t, v) = m_matrix_lp(K), _cvxpy_lp(K)
            assert new.solved and new.value.hex() == t.hex(), (n, scale)
            assert new.vector.tobytes() == v.tobytes(), (n, scale)


def test_every_public_name_resolves_and_float64_is_on():
    for name in sgn.__all__:
        assert getattr(sgn, name) is not None, name
    import jax
    assert jax.config.jax_enable_x64
    assert set(sgn.__all__) <= set(dir(sgn))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Gmae'"):
        sgn.Gmae  # noqa: B018

"""Test games and the soundness harness, shared by tests/ and benchmarks/.

Kept inside the package so that both import them the ordinary way (`from sgn._testing import
...`) from an installed `sgn`, without reaching into each other's folders. Nothing here is
part of the public API, and importing `sgn` does not import it.

    games.coupled_game(n, dims, seed)   a nonlinear N-player game whose every Jacobian block
                                        depends on x (the estimator benchmark's games)
    soundness                           random games certified by sgn and held to their
                                        certificates by an independent oracle
"""

"""The `sgn` command line. Thin: it parses, calls the API, and formats what the API returns.

Exit codes: 0 certified, 1 not certified or inconclusive, 2 bad usage or bad input,
3 an internal error (a bug: please report it; SGN_DEBUG=1 shows the traceback), 130 interrupted
(Ctrl-C). `simulate` has its own 0, 1 and 4: every promise kept, a promise broken, something
ran outside the certificate (docs/simulate.md).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

import click

from ._errors import SGNError

EXIT_CERTIFIED = 0
EXIT_NOT_CERTIFIED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130      # 128 + SIGINT, what shells report for a process stopped by Ctrl-C


def _guarded(command):
    """Turn every error into one line on stderr and a distinct exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            # Here, not in the group: `--help` never reaches a command, and should not pay
            # for importing JAX.
            _use_compilation_cache()
            return command(*args, **kwargs)
        except SGNError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except (KeyboardInterrupt, click.exceptions.Abort):
            # Not "Aborted!" with exit 1, which scripts would read as "not certified". Files
            # are written atomically, after the work: an interrupted run leaves none behind.
            click.echo("interrupted (Ctrl-C); no file was left half-written", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except Exception as exc:
            if os.environ.get("SGN_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (please report this; "
                       "SGN_DEBUG=1 shows the traceback)", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="small-gain-nash", prog_name="sgn")
def main():
    """Certify that gradient learning in an N-player game converges to its Nash equilibrium.

    Exit codes: 0 certified (or the check holds), 1 not certified, inconclusive, or a check
    broke, 2 bad usage or bad input, 3 internal error (SGN_DEBUG=1 shows the traceback), 130
    interrupted (Ctrl-C). simulate: 0 every run inside the certificate kept its promise, 1 a
    promise was broken, 4 some run was outside the certificate (nothing promised for it).
    """


def _use_compilation_cache() -> None:
    """Keep XLA's compiled programs on disk between runs (sgn._config.use_compilation_cache:
    SGN_CACHE_DIR moves the cache; SGN_CACHE_DIR="" turns it off)."""
    from ._config import use_compilation_cache

    use_compilation_cache()


def _game_options(command):
    """GAME_FILE[:NAME] and --param, shared by every command that loads a game."""
    command = click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                           help="Argument for the file's make_game(); numbers are parsed as "
                                "numbers.")(command)
    return click.argument("game_file", metavar="GAME_FILE[:NAME]")(command)


def _output_options(command):
    command = click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")(command)
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help="What to print on stdout.")(command)


_samples_option = click.option("--samples", type=click.IntRange(min=1), default=None,
                               help="Sample points in the region (default 4096).")


def _emit(fmt: str, data: dict, text: str) -> None:
    import json

    click.echo(json.dumps(data, indent=2, allow_nan=False) if fmt == "json" else text)


@main.command()
@_game_options
@_samples_option
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Sampling seed (default 0).")
@click.option("--out", "out", metavar="PATH", default=None,
              help="Write the certificate JSON here (atomically).")
@click.option("--report", "report", metavar="PDF", default=None,
              help="Write the PDF certificate report here.")
@click.option("--verify", "prove", is_flag=True,
              help="Prove the bounds by interval arithmetic and branch and bound (a verified "
                   "certificate) instead of sampling them.")
@click.option("--max-boxes", type=click.IntRange(min=1), default=None,
              help="With --verify: the box budget, most boxes the bounds pass encloses. It "
                   "decides the result: the same command gives the same certificate on a "
                   "quiet or a loaded machine. Default 20000, fewer for a game whose interval "
                   "program is large (about 2e8 interval values in all: 12091 boxes for "
                   "examples/cascade.py, 115 for examples/tanh_gan.py); the certificate "
                   "records it (estimator.budget.max_boxes). The metric pass has a box budget "
                   "of its own, a fifth of the default (at most 2000). Spent before the bounds "
                   "certify: inconclusive, saying what was proved.")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --verify: a safety limit on the wall time of the whole verified run "
                   "(default 600), compiling the interval program and both branch-and-bound "
                   "passes included. A run it stops got as far as the machine's speed and load "
                   "allowed, so its numbers are not reproducible: the certificate says so "
                   "(estimator.budget.reproducible false, and a note). It is read between "
                   "batches of boxes, so these cannot be interrupted and may run past it: "
                   "compiling the interval program (tracing, no XLA compile), the first "
                   "enclosure of the whole region, and the batch in progress. Not counted: "
                   "loading the game, and the equilibrium search after a certified result.")
@click.option("--target-ratio", type=click.FloatRange(min=0, max=1, min_open=True,
                                                      max_open=True), default=None,
              help="With --verify: tighter proved bounds. Branch and bound goes on splitting "
                   "after the bounds certify, until SGN's margin with them is at least this "
                   "share of the margin the values proved at points show (0.5: within a "
                   "factor of 2), or the box budget ends. The certificate records the target "
                   "and the ratio reached (estimator.target_ratio, estimator.margin_ratio). "
                   "Default: stop at the first bounds that certify.")
@click.option("--jacobian", type=click.Choice(["auto", "dense", "matrix-free"]), default="auto",
              show_default=True,
              help="How sampled bounds read the Jacobian: dense d x d matrices at thousands of "
                   "points, or matrix-free (Lanczos on Jacobian-vector products at a screen of "
                   "points plus local search; for large players, docs/matrix-free.md). auto: "
                   "matrix-free above 1024 coordinates.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Where --verify's boxes are bounded (or a sparse game's "
                                      "sample points evaluated, or matrix-free bounds "
                                      "screened and searched): in-process, or on Dask "
                                      "(pip install 'small-gain-nash[dask]').")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Dask scheduler address (default: a local cluster).")
@_output_options
@_guarded
def certify(game_file, params, samples, seed, out, report, prove, max_boxes, max_seconds,
            target_ratio, jacobian, executor, scheduler, fmt, quiet):
    """Certify GAME_FILE (a Python file defining `game` or `make_game`).

    Exit 0 when certified, 1 when not certified or inconclusive, 2 for bad usage or bad input,
    3 for an internal error, 130 when interrupted (Ctrl-C).
    """
    from ._certify import certify as run
    from ._io import check_writable, write_atomic
    from ._load import load_game, parse_params
    from ._progress import progress_bar
    from ._summary import summarize

    for path in (out, report):
        if path is not None:
            check_writable(path)
    if scheduler is not None and executor != "dask":
        raise click.BadParameter("--scheduler needs --executor dask", param_hint="--scheduler")
    if target_ratio is not None and not prove:
        raise click.BadParameter("--target-ratio tightens --verify's proved bounds; add "
                                 "--verify", param_hint="--target-ratio")
    if prove and jacobian == "matrix-free":
        raise click.BadParameter("--verify proves bounds by intervals; matrix-free bounds are "
                                 "sampled estimates: drop one", param_hint="--jacobian")
    game = load_game(game_file, parse_params(params))
    if executor == "dask" and not prove and not hasattr(game, "entry_pattern") and not (
            jacobian == "matrix-free" or (jacobian == "auto" and _auto_matrix_free(game))):
        # (without --verify, a sparse game's sample points go to Dask (sgn.SparseSampled), and
        # so do a matrix-free run's screen batches and searches (sgn.MatrixFree))
        raise click.BadParameter("--executor dask spreads --verify's work, a sparse game's "
                                 "samples or matrix-free bounds; add --verify or "
                                 "--jacobian matrix-free", param_hint="--executor")
    options = {"method": "interval", "max_boxes": max_boxes, "max_seconds": max_seconds,
               "target_ratio": target_ratio} if prove else {}
    if not prove and jacobian != "auto":
        from ._bounds import Sampled
        from ._matrix_free import MatrixFree

        options["estimator"] = MatrixFree() if jacobian == "matrix-free" else Sampled()
    with contextlib.ExitStack() as stack:
        if executor == "dask":
            from ._interval import dask_executor

            options["executor"] = stack.enter_context(dask_executor(scheduler))
        with progress_bar(quiet) as progress:
            cert = run(game, samples=samples, seed=seed, progress=progress, **options)
    if out is not None:
        write_atomic(out, cert.to_json() + "\n")
    if report is not None:
        from ._report import render_report

        render_report(cert, report, game=game)
    _emit(fmt, cert.to_dict(), summarize(cert))
    sys.exit(EXIT_CERTIFIED if cert.certified else EXIT_NOT_CERTIFIED)


def _auto_matrix_free(game) -> bool:
    """`--jacobian auto` reads this game matrix-free (sgn._certify.auto_estimator)."""
    from ._certify import auto_estimator

    return auto_estimator(game) is not None


#: `sgn simulate` only: some run was outside the certificate, so nothing was promised for it
#: (and nothing promised was broken). Not 0, which a script would read as "certified".
EXIT_NO_PROMISE = 4


def _simulate_exit(outcome) -> int:
    from ._verdict import Outcome

    return {Outcome.KEPT: EXIT_CERTIFIED, Outcome.BROKEN: EXIT_NOT_CERTIFIED,
            Outcome.NO_PROMISE: EXIT_NO_PROMISE}[outcome]


@main.command()
@_game_options
@click.option("--method", "methods", multiple=True, type=click.Choice(["euler", "rk4", "flow"]),
              help="Dynamics to run (repeat for several; default all three, without RK4 on a "
                   "constrained game at the auto step).")
@click.option("--step", default="auto", show_default=True, metavar="auto|H",
              help="Step size: auto takes the certified recommended step of each method (on a "
                   "game that is not certified: 1/beta, which promises nothing).")
@click.option("--starts", type=click.IntRange(min=2), default=16, show_default=True,
              help="Starts in the certified basin (spread over the region when the game is not "
                   "certified).")
@click.option("--steps", type=click.IntRange(min=1), default=200, show_default=True,
              help="Steps per start.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for the starts.")
@_samples_option
@_output_options
@_guarded
def simulate(game_file, params, methods, step, starts, steps, seed, samples, fmt, quiet):
    """Certify GAME_FILE, run its dynamics, and hold them to the certificate where it promises.

    A run inside the certificate (the game is certified and the step is within the method's
    certified bound) is checked step by step against the promised contraction: kept or BROKEN.
    A run outside it (a larger step, RK4 on a constrained game, plain policy gradient, or a
    game that is not certified, which is simulated too) has no promise: its verdict only says
    what was observed, converged, diverged or undecided, never kept. docs/simulate.md says how
    each is judged.

    \b
    Exit codes:
      0    every run was inside the certificate and kept its promise
      1    a promise was broken: a bug in sgn, or an extreme the sampled bounds
           missed (please report it with the starts listed)
      4    some run was outside the certificate: nothing was promised for it,
           and nothing promised was broken; read its verdict (not "certified")
      2    bad usage or bad input;  3 internal error;  130 interrupted (Ctrl-C)
    """
    from ._certify import certify as run
    from ._load import load_game, parse_params
    from ._progress import progress_bar
    from ._simulate import simulate as run_simulation
    from ._summary import summarize, summarize_simulation
    from ._verdict import certifies

    h = _parse_step(step)
    game = load_game(game_file, parse_params(params))
    markov = getattr(game, "geometry", "euclidean") == "fisher"
    if markov and methods:
        raise click.BadParameter("a Markov game runs natural policy gradient (and plain policy "
                                 "gradient for comparison); drop --method", param_hint="--method")
    with progress_bar(quiet) as progress:
        cert = run(game, samples=samples, progress=progress)
    certified = certifies(cert)
    # A game that is not certified is simulated all the same; its certificate comes first,
    # saying why nothing is promised.
    head = [] if certified else [summarize(cert)]
    if markov:
        from ._npg import simulate_policies, step_size_sweep
        from ._summary import summarize_policy_simulation

        sim = simulate_policies(game, cert, step=h, starts=starts, steps=steps, seed=seed)
        sizes = step_size_sweep(game, cert, steps=steps, seed=seed) if certified else None
        text = summarize_policy_simulation(sim, sizes)
        extra = {"step_sweep": None if sizes is None else sizes.to_dict()}
    else:
        sim = run_simulation(game, cert, methods=methods or None, step=h,
                             starts=starts, steps=steps, seed=seed)
        text = summarize_simulation(sim)
        extra = {}
    code = _simulate_exit(sim.outcome)
    data = {"status": cert.status.value, "ok": sim.ok,
            "outcome": {**sim.outcome.to_dict(), "exit_code": code},
            "simulation": sim.to_dict(), **extra, "certificate": cert.to_dict()}
    _emit(fmt, data, "\n".join(head + [text]))
    sys.exit(code)


def _parse_step(step: str) -> float | None:
    if step == "auto":
        return None
    try:
        h = float(step)
    except ValueError:
        raise click.BadParameter("give 'auto' or a positive number", param_hint="--step") from None
    if not h > 0 or h == float("inf"):
        raise click.BadParameter("the step must be a positive number", param_hint="--step")
    return h


@main.command()
@click.argument("cert_file", metavar="CERT.json")
@_game_options
@_samples_option
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed for the fresh samples (default: the certificate's seed + 1).")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Interval certificates: their bounds are proved again with the box "
                   "budget the certificate records (the boxes it enclosed); this is a safety "
                   "limit on the time that takes (default: twice the certificate's "
                   "--max-seconds, at least 600 s).")
@_output_options
@_guarded
def verify(cert_file, game_file, params, samples, seed, max_seconds, fmt, quiet):
    """Re-check every claim of CERT.json against GAME_FILE.

    Derived numbers are recomputed from the certificate's own (margin, status, steps, rates,
    band, basin, sgn_gap); the residual at x* is measured again; a constant Jacobian is
    decided from the traced program; bounds and metric margins are tested with fresh samples
    (which can refute them, not prove them), and an interval certificate's bounds are proved
    again by branch and bound. One line per failed check, then the checks that held, grouped
    (--format json lists every check).

    Exit 0 when everything holds, 1 when something breaks (each failure listed), 2 for a
    corrupt certificate or one about another game.
    """
    from ._load import load_game, parse_params
    from ._summary import summarize_verification
    from ._verify import read_certificate
    from ._verify import verify as run

    cert = read_certificate(cert_file)
    game = load_game(game_file, parse_params(params))
    result = run(cert, game, samples=samples, seed=seed, max_seconds=max_seconds)
    data = {"ok": result.ok, **result.to_dict()}
    _emit(fmt, data, summarize_verification(result))
    sys.exit(EXIT_CERTIFIED if result.ok else EXIT_NOT_CERTIFIED)


@main.command()
@click.argument("cert_file", metavar="CERT.json")
@click.argument("game_file", metavar="[GAME_FILE[:NAME]]", required=False)
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Argument for the game file's make_game().")
@click.option("-o", "--out", "out", metavar="PDF", required=True, help="The PDF to write.")
@_guarded
def report(cert_file, game_file, params, out):
    """Render CERT.json as a PDF report; with GAME_FILE, simulated trajectories are added."""
    from ._io import check_writable
    from ._load import load_game, parse_params
    from ._report import render_report
    from ._verify import check_same_game, read_certificate

    check_writable(out)
    cert = read_certificate(cert_file)
    game = None
    if game_file is not None:
        game = load_game(game_file, parse_params(params))
        check_same_game(cert, game)
    render_report(cert, out, game=game)
    click.echo(f"wrote {out}")


@main.command()
@click.argument("game_file", metavar="GAME_FILE[:NAME]")
@click.option("--param", "params", multiple=True, metavar="KEY=START:STOP:COUNT|KEY=VALUE",
              help="A parameter of make_game to sweep (START:STOP:COUNT) or to fix (VALUE).")
@_samples_option
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Sampling seed (default 0).")
@click.option("--out", "out", metavar="PATH", default=None, help="Write the sweep JSON here.")
@click.option("--report", "report", metavar="PDF", default=None,
              help="Write the PDF sweep report here.")
@_output_options
@_guarded
def sweep(game_file, params, samples, seed, out, report, fmt, quiet):
    """Certify GAME_FILE's make_game over a grid of parameters.

    Prints one row per grid point: Euclidean margin, SGN margin, metric margin, beta, step
    sizes and status.
    """
    import json

    from ._io import check_writable, write_atomic
    from ._load import load_factory
    from ._progress import progress_bar
    from ._summary import summarize_sweep
    from ._sweep import parse_grid
    from ._sweep import sweep as run

    grid, fixed = parse_grid(params)
    for path in (out, report):
        if path is not None:
            check_writable(path)
    factory = load_factory(game_file)
    with progress_bar(quiet) as progress:
        result = run(factory, grid, fixed=fixed, samples=samples, seed=seed, progress=progress)
    if out is not None:
        write_atomic(out, json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    if report is not None:
        from ._report import render_sweep_report

        render_sweep_report(result, report)
    _emit(fmt, result.to_dict(), summarize_sweep(result))


if __name__ == "__main__":  # pragma: no cover
    main()

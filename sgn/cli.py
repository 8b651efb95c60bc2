"""The `sgn` command line. Thin: it parses, calls the API, and formats what the API returns.

Exit codes: 0 certified, 1 not certified or inconclusive, 2 bad usage or bad input,
3 an internal error (a bug: please report it; SGN_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import functools
import os
import sys

import click

from ._errors import SGNError

EXIT_CERTIFIED = 0
EXIT_NOT_CERTIFIED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


def _guarded(command):
    """Turn every error into one line on stderr and a distinct exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SGNError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
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
    """Certify that gradient learning in an N-player game converges to its Nash equilibrium."""
    _use_compilation_cache()


def _use_compilation_cache() -> None:
    """Keep XLA's compiled programs on disk between runs: certifying the same game again skips
    most of the compile time, which dominates small games. SGN_CACHE_DIR moves the cache;
    SGN_CACHE_DIR="" turns it off."""
    folder = os.environ.get("SGN_CACHE_DIR")
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "sgn", "jax")
    if not folder:
        return
    import jax

    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return  # an unwritable home is no reason to fail: run without the cache
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


@main.command()
@click.argument("game_file", metavar="GAME_FILE[:NAME]")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Argument for the file's make_game(); numbers are parsed as numbers.")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Sample points in the region (default 4096).")
@click.option("--seed", type=int, default=None, help="Sampling seed (default 0).")
@click.option("--out", "out", metavar="PATH", default=None,
              help="Write the certificate JSON here (atomically).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="What to print on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@_guarded
def certify(game_file, params, samples, seed, out, fmt, quiet):
    """Certify GAME_FILE (a Python file defining `game` or `make_game`)."""
    from ._certify import certify as run
    from ._io import check_writable, write_atomic
    from ._load import load_game, parse_params
    from ._progress import progress_bar
    from ._summary import summarize

    if out is not None:
        check_writable(out)
    game = load_game(game_file, parse_params(params))
    with progress_bar(quiet) as progress:
        cert = run(game, samples=samples, seed=seed, progress=progress)
    if out is not None:
        write_atomic(out, cert.to_json() + "\n")
    click.echo(cert.to_json() if fmt == "json" else summarize(cert))
    sys.exit(EXIT_CERTIFIED if cert.certified else EXIT_NOT_CERTIFIED)


if __name__ == "__main__":  # pragma: no cover
    main()

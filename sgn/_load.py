"""Loading a user's game file: GAME_FILE[:NAME] plus --param KEY=VALUE."""

from __future__ import annotations

import importlib.util
import inspect
import sys
import uuid
from pathlib import Path

from ._errors import GameLoadError, SGNError
from ._game import Game, _one_line

FACTORY = "make_game"


def split_target(target: str) -> tuple[Path, str | None]:
    """'games/toy.py:NAME' -> (Path('games/toy.py'), 'NAME'); no NAME -> None."""
    head, sep, tail = target.rpartition(":")
    if sep and head and tail.isidentifier():
        return Path(head), tail
    return Path(target), None


def parse_params(items) -> dict:
    """['lam=1.5', 'n=3', 'mode=fast'] -> {'lam': 1.5, 'n': 3, 'mode': 'fast'}."""
    params = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise GameLoadError(f"--param expects KEY=VALUE, got {item!r}")
        params[key] = _parse_value(raw.strip())
    return params


def _parse_value(raw: str):
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return raw


def load_game(target: str | Path, params: dict | None = None) -> Game:
    """The game a file defines: its `game`, its `make_game(**params)`, or the one NAME picks.

    Every failure is a `GameLoadError` (or `GameDefinitionError` from building the game) with a
    message the user can act on.
    """
    path, name = split_target(str(target))
    params = dict(params or {})
    module = _import_file(path)
    if name is not None:
        if not hasattr(module, name):
            raise GameLoadError(f"{path} defines no '{name}'")
        return _realise(getattr(module, name), name, path, params)
    games = [k for k, v in vars(module).items() if isinstance(v, Game) and not k.startswith("_")]
    factory = [FACTORY] if callable(getattr(module, FACTORY, None)) else []
    if params and factory:
        return _realise(module.make_game, FACTORY, path, params)
    candidates = games + factory
    if not candidates:
        raise GameLoadError(
            f"{path} defines no game: give it a module-level `game = sgn.Game(...)` or a "
            f"`{FACTORY}(**params)` function"
        )
    if len(candidates) > 1:
        raise GameLoadError(
            f"{path} defines several games ({', '.join(candidates)}); pick one with "
            f"{path}:NAME"
        )
    return _realise(getattr(module, candidates[0]), candidates[0], path, params)


def load_factory(target: str | Path):
    """params -> Game for a file's `make_game` (or the factory NAME picks), for sweeps: the file
    is imported once and each grid point calls the factory."""
    path, name = split_target(str(target))
    module = _import_file(path)
    name = name or FACTORY
    factory = getattr(module, name, None)
    if factory is None or isinstance(factory, Game) or not callable(factory):
        raise GameLoadError(f"{path} has no factory {name}(**params) to sweep over; a sweep "
                            f"needs a function returning the game for given parameters")
    return lambda params: _realise(factory, name, path, params)


def _import_file(path: Path):
    if not path.is_file():
        raise GameLoadError(f"game file {path} does not exist")
    module_name = f"_sgn_game_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise GameLoadError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
    except SGNError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except BaseException as exc:  # user code: report it, never a traceback
        if isinstance(exc, KeyboardInterrupt):
            raise
        sys.modules.pop(module_name, None)
        raise GameLoadError(f"{path} does not import: {_one_line(exc)}") from None
    return module


def _realise(obj, name: str, path: Path, params: dict) -> Game:
    if isinstance(obj, Game):
        if params:
            raise GameLoadError(
                f"{path}:{name} is a game, not a factory: --param needs a {FACTORY}(**params)"
            )
        return obj
    if not callable(obj):
        raise GameLoadError(f"{path}:{name} is neither an sgn.Game nor a function returning one")
    try:
        inspect.signature(obj).bind(**params)
    except TypeError:
        accepted = ", ".join(inspect.signature(obj).parameters) or "none"
        given = ", ".join(params) or "none"
        raise GameLoadError(
            f"{path}:{name} does not accept the parameters given ({given}); it accepts: "
            f"{accepted}"
        ) from None
    try:
        game = obj(**params)
    except SGNError as exc:
        raise type(exc)(f"{path}:{name}: {exc}") from None
    except Exception as exc:
        raise GameLoadError(f"{path}:{name}({_kwargs(params)}) failed: {_one_line(exc)}") from None
    if not isinstance(game, Game):
        raise GameLoadError(f"{path}:{name} returned {type(game).__name__}, not an sgn.Game")
    return game


def _kwargs(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())

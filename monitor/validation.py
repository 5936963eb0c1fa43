"""Turning pydantic's validation errors into the messages the configuration gives.

The settings, the watchlist and the ``[alerts]`` table are checked by pydantic
models (``extra="forbid"``). Their problems reach the user the same way they
always have: every problem at once, each under its dotted key
(``groups.journalists.targets[0].account``, indexes from 0), unknown keys with a
did-you-mean, and a message that says what to write. This module holds that
translation, shared by :mod:`monitor.settings`, :mod:`monitor.watchlist_model`
and :mod:`alerts.config`.

A validator says what is wrong by raising :class:`ValueError` (or
:func:`problem`, a pydantic error whose message is used as it is).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from .errors import WatchlistError

#: (dotted key, what is wrong and what to do)
Problem = tuple[str, str]
Problems = list[Problem]

_PROBLEM = "takedown_problem"


def problem(message: str) -> PydanticCustomError:
    """A pydantic error carrying ``message`` verbatim (raise it from a validator)."""
    return PydanticCustomError(_PROBLEM, "{message}", {"message": message})


def line_error(loc: tuple[str | int, ...], message: str, value: Any = None) -> InitErrorDetails:
    """One entry for :meth:`ValidationError.from_exception_data` with our own message."""
    return {"type": problem(message), "loc": loc, "input": value}


def fields_checked(handler: Callable[[Any], Any], data: Any,
                   reword: Callable[[ValidationError], list[InitErrorDetails]]
                   ) -> tuple[Any, list[InitErrorDetails]]:
    """A wrap validator's field checks, their errors collected in our words instead of
    raised, so the whole-table checks that follow report together with them."""
    try:
        return handler(data), []
    except ValidationError as exc:
        return None, reword(exc)


def raise_line_errors(title: str, errors: Sequence[InitErrorDetails]) -> None:
    """Raise ``errors`` (if any) as one ValidationError; pydantic prefixes outer keys."""
    if errors:
        raise ValidationError.from_exception_data(title, list(errors))


def message(error: ErrorDetails) -> str:
    """What a pydantic error says, in our words where we wrote them."""
    ctx = error.get("ctx") or {}
    if error["type"] == _PROBLEM:
        return str(ctx.get("message", error["msg"]))
    if isinstance(ctx.get("error"), Exception):  # a ValueError raised by a validator
        return str(ctx["error"])
    if error["type"] == "missing":
        return "missing; add it"
    if error["type"] in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a table"
    if error["type"] == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if error["type"] == "greater_than":
        return f"must be more than {ctx.get('gt')}"
    if error["type"] == "list_type":
        return "must be a list"
    return str(error["msg"])


def dotted(loc: Iterable[str | int]) -> str:
    """``("groups", "hk press", "targets", 0)`` → ``groups."hk press".targets[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + key_name(part)
    return out


def key_name(name: str) -> str:
    """A TOML key as written in a dotted key: bare if it can be, else quoted."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def unknown_key(key: str, allowed: Iterable[str], what: str = "key") -> str:
    """``unknown key 'acount'; did you mean 'account'? allowed keys: …``."""
    allowed = list(allowed)
    close = (difflib.get_close_matches(str(key), allowed, n=1)
             or difflib.get_close_matches(str(key).lower(), allowed, n=1))
    hint = f"did you mean {close[0]!r}? " if close else ""
    listed = "known settings" if what == "setting" else "allowed keys"
    return f"unknown {what} {key!r}; {hint}{listed}: " + ", ".join(allowed)


def position(data: Any, loc: Iterable[str | int]) -> tuple[float, ...]:
    """Where ``loc`` is in ``data`` (a parsed TOML file keeps the file's order), for
    sorting problems into file order; a table's own problem after those of its keys."""
    out: list[float] = []
    for part in loc:
        if isinstance(data, dict):
            keys = list(data)
            out.append(keys.index(part) if part in data else len(keys))
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int):
            out.append(part)
            data = data[part] if 0 <= part < len(data) else None
        else:
            out.append(0)
            data = None
    return (*out, math.inf)


def in_file_order(exc: ValidationError, data: Any) -> list[ErrorDetails]:
    """``exc``'s errors sorted by where they are in ``data``."""
    return sorted(exc.errors(), key=lambda error: position(data, error["loc"]))


def problems_of(exc: ValidationError, prefix: tuple[str | int, ...] = (),
                rewrite: Callable[[ErrorDetails], Problem | None] | None = None,
                data: Any = None) -> Problems:
    """Every error of ``exc`` as (dotted key, message), in the order of ``data`` if given;
    ``rewrite`` may word one itself."""
    out: Problems = []
    for error in (in_file_order(exc, data) if data is not None else exc.errors()):
        if rewrite is not None and (mine := rewrite(error)) is not None:
            out.append(mine)
        else:
            out.append((dotted((*prefix, *error["loc"])), message(error)))
    return out


def raise_problems(source: str, problems: Problems) -> None:
    """Raise one WatchlistError for ``problems`` (if any), each under its key."""
    if len(problems) == 1:
        key, text = problems[0]
        raise WatchlistError(source, key or None, text)
    if problems:
        lines = "".join(f"\n  {key}: {text}" if key else f"\n  {text}" for key, text in problems)
        raise WatchlistError(source, None, f"{len(problems)} problems:{lines}")


__all__ = ["Problem", "Problems", "dotted", "in_file_order", "key_name", "line_error",
           "message", "position", "problem", "problems_of", "raise_line_errors",
           "raise_problems", "unknown_key"]

"""The one registry of look operations and look-file formats, at the bottom of :mod:`lumastyle.actions`.

A recipe step names an operation (``curves``, ``clarity``, ...) and a look file is read by the reader
registered for its suffix (``.cube``, ``.xmp``, ...). Both are looked up here and nowhere else, so a
new operation or format is a module that registers itself, not an edit to a dispatch chain:

- :func:`operation` (a decorator beside the function) or :func:`register_operation` adds an operation:
  a function ``(image, **parameters) -> image`` on sRGB (*, 3, H, W) tensors whose defaults change
  nothing, with what it needs (``whole_photo``: its result depends on the neighbourhood or the
  position, so a look containing it is rendered on the whole photo before a training crop is cut;
  ``learnable``: whether a per-pixel colour map can learn it, which noise such as film grain cannot).
- :func:`register_look_format` adds a reader ``(path) -> Action`` for one or more file suffixes.
- :func:`get_operation`, :func:`operations`, :func:`get_look_format` and :func:`look_formats` look
  them up; :func:`snapshot` and :func:`restore` put the registry back as it was (a plugin that failed
  half-way, a test).

The first registration of a name or suffix keeps it: another function for it is refused with one
line naming the taken name and its owner, and the owner keeps working. This module imports nothing
of :mod:`lumastyle.actions`: the package itself imports the built-in modules (each of which
registers what it defines), which Python does before it runs any of the package's modules, so the
built-ins are registered whichever module a user imports first, and before any plugin can take one
of their names. A built-in module that fails to import is recorded with :func:`builtin_failed` and
named in the error of any lookup that misses; the other built-ins are registered regardless.

Recipe parameters are validated against each operation's signature by jsonargparse (unknown keys,
wrong types), then by the operation itself on a tiny probe image (ranges); either way the error is one
line naming the step and the key.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import torch
from torch import Tensor

from lumastyle.errors import LumastyleError


class Look(Protocol):
    """What a look-file reader returns: a look rendered onto sRGB images (*, 3, H, W) in [0, 1]
    (in practice an :class:`lumastyle.actions.action.Action`, which the caller checks)."""

    def __call__(self, image: Tensor) -> Tensor: ...


#: A look-file reader: the file's path in, the look out (raising a one-line LumastyleError).
LookReader = Callable[[Path], Look]
OperationFunction = TypeVar("OperationFunction", bound=Callable[..., Tensor])
Reader = TypeVar("Reader", bound=LookReader)


@dataclass(frozen=True)
class Operation:
    """A registered look operation (see the module docstring)."""

    name: str
    function: Callable[..., Tensor]
    whole_photo: bool = False
    learnable: bool = True
    _parser: Any = field(default=None, compare=False, repr=False)

    @property
    def parameters(self) -> list[str]:
        """The parameter names the operation takes (after the image)."""
        return list(inspect.signature(self.function).parameters)[1:]

    @cached_property
    def _tensor_parameters(self) -> set[str]:
        """Parameters annotated as tensors: lists given for them become tensors before validation."""
        hints = typing.get_type_hints(self.function)
        return {p for p in self.parameters if Tensor in _flatten_union(hints.get(p))}

    def check(self, params: dict[str, Any], where: str) -> None:
        """Check the keys and types of ``params`` against the signature (tables given as lists are
        checked as tensors); a problem raises a one-line :class:`LumastyleError` starting with ``where``."""
        from jsonargparse import ArgumentError as _ArgumentError
        from jsonargparse import ArgumentParser

        unknown = sorted(str(k) for k in set(params) - set(self.parameters))
        if unknown:  # jsonargparse would say this too; naming every accepted key is friendlier
            raise LumastyleError(
                f"{where} ({self.name}) has unknown parameter(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(self.parameters)}"
            )
        params = dict(params)
        for key in self._tensor_parameters & set(params):
            if not isinstance(params[key], Tensor):
                try:
                    params[key] = torch.as_tensor(params[key], dtype=torch.float32)
                except (TypeError, ValueError, RuntimeError):
                    raise LumastyleError(
                        f"{where} ({self.name}): {key} must be a table of numbers, got {str(params[key])[:40]}"
                    ) from None
        parser = self._parser
        if parser is None:
            parser = ArgumentParser(exit_on_error=False)
            first = next(iter(inspect.signature(self.function).parameters))
            parser.add_function_arguments(self.function, skip={first}, fail_untyped=False)
            object.__setattr__(self, "_parser", parser)
        try:
            parser.parse_object(params)
        except _ArgumentError as err:
            raise LumastyleError(f"{where} ({self.name}): {_one_line(err)}") from None


def _one_line(err: Exception) -> str:
    """jsonargparse's message on one line, in lumastyle's words where they are plainer."""
    reason = " ".join(str(err).split())
    reason = re.sub(r"<class '([\w.]+)'>", r"\1", reason)
    reason = re.sub(r'Parser key "([\w.]+)": ', r"\1: ", reason)
    reason = reason.replace("the following arguments are required:", "needs")
    return reason if len(reason) <= 240 else reason[:237] + "..."


def _flatten_union(hint: Any) -> tuple[Any, ...]:
    args = typing.get_args(hint)
    return tuple(a for arg in args for a in _flatten_union(arg)) if args else (hint,)


_OPERATIONS: dict[str, Operation] = {}  # name -> operation; read through operations()
_LOOK_FORMATS: dict[str, LookReader] = {}  # suffix (lower case, with the dot) -> reader; look_formats()
_BROKEN: dict[str, str] = {}  # built-in module -> why it failed to import


def _owner(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def register_operation(
    name: str, function: Callable[..., Tensor], *, whole_photo: bool = False, learnable: bool = True
) -> Operation:
    """Add an operation recipes can name; a name another function has already taken is refused
    with one line naming its owner."""
    taken = _OPERATIONS.get(name)
    if taken is not None and taken.function is not function:
        raise LumastyleError(
            f"a look operation named {name!r} is already registered ({_owner(taken.function)}); "
            "register yours under another name"
        )
    op = Operation(name, function, whole_photo, learnable)
    _OPERATIONS[name] = op
    return op


def operation(
    name: str, *, whole_photo: bool = False, learnable: bool = True
) -> Callable[[OperationFunction], OperationFunction]:
    """Decorator registering the function below it as the operation ``name`` (see
    :func:`register_operation`); the function itself is returned unchanged."""

    def add(function: OperationFunction) -> OperationFunction:
        register_operation(name, function, whole_photo=whole_photo, learnable=learnable)
        return function

    return add


def register_look_format(*suffixes: str) -> Callable[[Reader], Reader]:
    """Decorator registering a reader ``(path) -> Action`` for look files with these suffixes.

    A suffix another reader owns (a built-in's ``.xmp``, or ``.png``, which Hald CLUT images use) is
    refused with one line naming it and its owner, and none of ``suffixes`` is registered."""
    keys = [s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes]

    def add(reader: Reader) -> Reader:
        for key in keys:
            taken = _LOOK_FORMATS.get(key)
            if taken is not None and taken is not reader:
                raise LumastyleError(
                    f"a look format for {key!r} files is already registered ({_owner(taken)}); "
                    "register your reader for another suffix"
                )
        for key in keys:
            _LOOK_FORMATS[key] = reader
        return reader

    return add


def builtin_failed(module: str, err: BaseException) -> None:
    """Record that the built-in ``module`` failed to import (named by lookups that miss)."""
    _BROKEN[module] = f"{type(err).__name__}: {' '.join(str(err).split())}"[:160]


def _broken_note() -> str:
    if not _BROKEN:
        return ""
    return " (not loaded: " + "; ".join(f"{m}, {why}" for m, why in sorted(_BROKEN.items())) + ")"


def operations() -> Mapping[str, Operation]:
    """Every registered operation by name (a read-only view)."""
    return MappingProxyType(_OPERATIONS)


def get_operation(name: str, where: str = "recipe") -> Operation:
    """The operation ``name``; an unknown one raises a one-line error starting with ``where`` that
    lists the valid names (and any built-in module that failed to load)."""
    try:
        return _OPERATIONS[name]
    except KeyError:
        raise LumastyleError(
            f"{where} uses unknown operation {name!r}; choose one of: {', '.join(_OPERATIONS)}{_broken_note()}"
        ) from None


def look_formats() -> Mapping[str, LookReader]:
    """Every registered look-file reader by suffix (a read-only view)."""
    return MappingProxyType(_LOOK_FORMATS)


def suffix_list() -> str:
    """The registered suffixes for a message: ``.3dl, .acv, ... or .yml``."""
    names = sorted(_LOOK_FORMATS)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def get_look_format(suffix: str, where: str) -> LookReader:
    """The reader for ``suffix`` (with the dot, any case); an unknown one raises a one-line error
    starting with ``where`` that lists the known suffixes (and any built-in that failed to load)."""
    try:
        return _LOOK_FORMATS[suffix.lower()]
    except KeyError:
        raise LumastyleError(
            f"{where}: unknown action format '{suffix}'; use a {suffix_list()} file{_broken_note()}"
        ) from None


@dataclass(frozen=True)
class Snapshot:
    """What the registry held at one moment (see :func:`snapshot`)."""

    operations: dict[str, Operation]
    look_formats: dict[str, LookReader]


def snapshot() -> Snapshot:
    """The registry as it is now, to :func:`restore` later."""
    return Snapshot(dict(_OPERATIONS), dict(_LOOK_FORMATS))


def restore(saved: Snapshot) -> None:
    """Put the registry back as it was when ``saved`` was taken (later registrations are dropped)."""
    _OPERATIONS.clear()
    _OPERATIONS.update(saved.operations)
    _LOOK_FORMATS.clear()
    _LOOK_FORMATS.update(saved.look_formats)

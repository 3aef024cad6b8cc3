"""Action: an ordered list of colour operations (a saved look), and how any look becomes one.

:class:`Action` checks its steps against :mod:`lumastyle.actions.registry` when it is built.
:meth:`Action.from_spec` (``load_action``) takes a list of ``{operation: {parameters}}`` steps, a preset
name or a look file; a file is read by the reader the registry holds for its suffix (the YAML recipe
reader is :mod:`lumastyle.actions.recipe`, the others have their own modules). Readers share
:func:`read_look_file` and :func:`read_look_text`, which refuse an unreadable or oversized file in one
line naming it, and :func:`parse_steps`. This module sits above the registry and below every format:
it imports no reader.
"""

from __future__ import annotations

import copy
import hashlib
import os
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lumastyle.actions.registry import get_look_format, get_operation, suffix_list
from lumastyle.errors import LumastyleError

#: What :meth:`Action.from_spec` accepts: a list of ``{operation: {parameters}}`` dicts, or a preset
#: name or file path.
Spec = str | os.PathLike | Sequence[dict[str, Any]]
_PROBE = torch.linspace(0.0, 1.0, 12).view(3, 2, 2)  # a tiny image that checks the parameters at load time


def preset_names() -> list[str]:
    """Names of the recipes bundled with lumastyle (``spring``, ``cold``, ...)."""
    folder = resources.files("lumastyle.actions") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def parameters(name: str) -> list[str]:
    """The parameter names operation ``name`` takes (after the image)."""
    return get_operation(name).parameters


class Action:
    """A look: operations applied in order to sRGB images (*, 3, H, W) in [0, 1].

    Parameters are checked when the action is built (an unknown operation or parameter, or a bad
    value, raises a one-line :class:`LumastyleError` naming the source, step and key).

    Args:
        steps: (operation name, parameters) pairs; names are operations of
            :mod:`lumastyle.actions.registry`.
        source: where the action came from (a file or preset name), for messages.
    """

    def __init__(self, steps: Sequence[tuple[str, dict[str, Any]]], source: str = "recipe") -> None:
        self.source = source
        self.steps: list[tuple[str, dict[str, Any]]] = []
        for i, (name, params) in enumerate(steps):
            where = f"{source}: step {i + 1}"
            params = dict(params or {})
            get_operation(name, where).check(params, where)
            self.steps.append((name, params))
        self._run(_PROBE, check=True)

    def _run(self, image: Tensor, check: bool = False) -> Tensor:
        for i, (name, params) in enumerate(self.steps):
            try:
                image = get_operation(name).function(image, **params)
            except LumastyleError as err:
                raise LumastyleError(f"{self.source}: step {i + 1} ({name}): {err}") from None
            except (TypeError, ValueError) as err:
                if not check:
                    raise
                raise LumastyleError(
                    f"{self.source}: step {i + 1} ({name}): bad parameter ({err}); it takes: {', '.join(parameters(name))}"
                ) from None
        return image

    def __call__(self, image: Tensor) -> Tensor:
        """Render the look onto ``image`` (*, 3, H, W) in [0, 1]; same shape, dtype and device."""
        return self._run(image)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def per_pixel(self) -> bool:
        """True when every step maps each pixel on its own (then a crop's render is the render's crop);
        False when an operation needs the whole photo (its neighbourhood or its position)."""
        return not any(get_operation(name).whole_photo for name, _ in self.steps)

    def for_training(self) -> Action:
        """This look without the steps no colour map can learn (film grain: noise), as a training
        target; each one left out is named in one warning."""
        dropped = [name for name, _ in self.steps if not get_operation(name).learnable]
        if not dropped:
            return self
        warnings.warn(
            f"{self.source}: left out of the training targets: {', '.join(dropped)} (noise cannot be "
            "learned as a colour map; 'lumastyle action apply' still renders it)",
            stacklevel=2,
        )
        kept = [(name, params) for name, params in self.steps if get_operation(name).learnable]
        return Action(kept, self.source)

    def __repr__(self) -> str:
        return f"Action({self.source!r}, {[name for name, _ in self.steps]})"

    def to_spec(self) -> list[dict[str, Any]]:
        """The recipe as a list of single-key ``{operation: {parameters}}`` dicts (tables as nested lists)."""
        return [{name: _plain(params)} for name, params in self.steps]

    def fingerprint(self) -> str:
        """A short hash identifying what the action does (for caches)."""
        return hashlib.sha1(repr(self.to_spec()).encode()).hexdigest()[:12]

    @classmethod
    def from_spec(cls, spec: Spec | Action) -> Action:
        """Build from a list of ``{operation: {params}}`` dicts, a preset name or a look file path.

        Files by suffix, through :func:`lumastyle.actions.registry.get_look_format`: ``.yaml``/``.yml``
        recipes (or a style config, whose ``data.init_args.action`` is used), Adobe/Resolve ``.cube``
        LUTs, Autodesk ``.3dl`` LUTs, Hald CLUT images (``.png``, ``.tif``), Photoshop ``.acv`` curves,
        Lightroom/Camera Raw ``.xmp`` presets, and any format a plugin registers.
        """
        if isinstance(spec, Action):
            return spec
        if isinstance(spec, (str, os.PathLike)):
            return _from_string(os.fspath(spec))
        return cls(parse_steps(spec, "recipe"), "recipe")


def _plain(value: Any) -> Any:
    """A deep copy with tensors turned into nested lists (YAML- and repr-friendly)."""
    if isinstance(value, Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


#: Look files larger than this are refused before they are read: the largest real ones (a 65-point
#: .cube as text) are a few MB, and the largest a table can be (a 256-point .cube) is ~400 MB.
MAX_LOOK_FILE_BYTES = 512 << 20


def read_look_file(path: Path) -> bytes:
    """The bytes of a look file; an unreadable or oversized one raises a one-line LumastyleError naming it."""
    try:
        size = path.stat().st_size
        if size > MAX_LOOK_FILE_BYTES:
            raise LumastyleError(
                f"{path}: {size / 2**20:.0f} MB is too large for a look file (at most "
                f"{MAX_LOOK_FILE_BYTES >> 20} MB); check that this is the look you meant"
            )
        return path.read_bytes()
    except MemoryError:
        raise LumastyleError(f"{path}: not enough memory to read this look file") from None
    except OSError as err:
        raise LumastyleError(f"{path}: cannot read ({err.strerror or err}); check the path") from None


def read_look_text(path: Path, kind: str, fix: str) -> str:
    """A text look file's contents (UTF-8, a byte-order mark allowed); binary bytes raise one line."""
    try:
        return read_look_file(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LumastyleError(f"{path}: not a text {kind} file (undecodable bytes); {fix}") from None


def parse_steps(spec: Any, source: str) -> list[tuple[str, dict[str, Any]]]:
    """A recipe (a list of single-key ``{operation: {parameters}}`` mappings, or a mapping with such a
    list under ``steps``) as (name, parameters) pairs; a malformed one raises one line starting with
    ``source``."""
    if isinstance(spec, dict) and "steps" in spec:
        spec = spec["steps"]
    if not isinstance(spec, (list, tuple)):
        raise LumastyleError(
            f"{source}: a recipe is a list of steps like '- curves: {{master: [[0, 0], [0.5, 0.6], [1, 1]]}}', "
            f"got {type(spec).__name__}"
        )
    steps = []
    for i, step in enumerate(spec):
        if not isinstance(step, dict) or len(step) != 1:
            raise LumastyleError(
                f"{source}: step {i + 1} must be one 'operation: {{parameters}}' mapping, got {step!r}; "
                "put each operation in its own list item"
            )
        ((name, params),) = step.items()
        if params is not None and not isinstance(params, dict):
            raise LumastyleError(
                f"{source}: step {i + 1} ({name}) parameters must be a mapping like {{key: value}}, got {params!r}"
            )
        steps.append((str(name), params or {}))
    return steps


def _preset_path(name: str) -> Path:
    return Path(str(resources.files("lumastyle.actions") / "presets" / f"{name}.yaml"))


def _from_string(spec: str) -> Action:
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if not suffix and not path.is_file():  # a folder named like a preset does not hide it
        if spec not in preset_names():
            raise LumastyleError(
                f"unknown action {spec!r}: not a file, and not a preset ({', '.join(preset_names())}); "
                f"give a preset name or a {suffix_list()} file"
            )
        path, suffix = _preset_path(spec), ".yaml"
    if not path.is_file():
        raise LumastyleError(f"action file {path} does not exist; give a {suffix_list()} file or a preset name")
    reader = get_look_format(suffix, str(path))
    look = reader(path)
    if not isinstance(look, Action):  # a plugin's reader broke the contract: say whose
        raise LumastyleError(
            f"{path}: the {suffix} reader {reader.__module__}.{reader.__qualname__} returned "
            f"{type(look).__name__}, not an Action; fix that reader"
        )
    return look


#: Build an :class:`Action` from a recipe list, a preset name or a look file (``Action.from_spec``).
load_action = Action.from_spec

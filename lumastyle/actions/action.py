"""Action: an ordered list of colour operations (a saved look), built from YAML, presets or look files."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from torch import Tensor

from lumastyle.actions import ops
from lumastyle.errors import LumastyleError

#: Operation name -> function (see lumastyle.actions.ops); the keys recipes use.
OPERATIONS: dict[str, Callable[..., Tensor]] = {
    "curves": ops.curves,
    "levels": ops.levels,
    "brightness_contrast": ops.brightness_contrast,
    "exposure": ops.exposure,
    "hue_saturation": ops.hue_saturation,
    "vibrance": ops.vibrance,
    "color_balance": ops.color_balance,
    "channel_mixer": ops.channel_mixer,
    "photo_filter": ops.photo_filter,
    "split_toning": ops.split_toning,
    "lut3d": ops.lut3d,
    "lut1d": ops.lut1d,
}

Spec = str | Sequence[dict[str, Any]]


def preset_names() -> list[str]:
    """Names of the recipes bundled with lumastyle (``spring``, ``cold``, ...)."""
    folder = resources.files("lumastyle.actions") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


class Action:
    """A look: operations applied in order to sRGB images (*, 3, H, W) in [0, 1].

    Args:
        steps: (operation name, parameters) pairs; names are keys of :data:`OPERATIONS`.
        source: where the action came from (a file or preset name), for messages.
    """

    def __init__(self, steps: Sequence[tuple[str, dict[str, Any]]], source: str = "recipe") -> None:
        self.source = source
        self.steps: list[tuple[str, dict[str, Any]]] = []
        for i, (name, params) in enumerate(steps):
            if name not in OPERATIONS:
                raise LumastyleError(
                    f"{source}: step {i + 1} uses unknown operation {name!r}; choose one of: {', '.join(OPERATIONS)}"
                )
            params = dict(params or {})
            accepted = list(inspect.signature(OPERATIONS[name]).parameters)[1:]
            unknown = sorted(set(params) - set(accepted))
            if unknown:
                raise LumastyleError(
                    f"{source}: step {i + 1} ({name}) has unknown parameter(s) {', '.join(unknown)}; "
                    f"it takes: {', '.join(accepted)}"
                )
            self.steps.append((name, params))

    def __call__(self, image: Tensor) -> Tensor:
        for i, (name, params) in enumerate(self.steps):
            try:
                image = OPERATIONS[name](image, **params)
            except (TypeError, ValueError) as err:  # a parameter of the wrong type or shape
                raise LumastyleError(f"{self.source}: step {i + 1} ({name}): {err}") from None
        return image

    def __repr__(self) -> str:
        return f"Action({self.source!r}, {[name for name, _ in self.steps]})"

    def to_spec(self) -> list[dict[str, Any]]:
        """The recipe as a list of single-key dicts (LUT tables as nested lists)."""
        return [
            {name: {k: v.tolist() if isinstance(v, Tensor) else v for k, v in p.items()}}
            for name, p in self.steps
        ]

    def fingerprint(self) -> str:
        """A short hash identifying what the action does (for caches)."""
        return hashlib.sha1(repr(self.to_spec()).encode()).hexdigest()[:12]

    @classmethod
    def from_spec(cls, spec: Spec | Action) -> Action:
        """Build from a list of ``{operation: {params}}`` dicts, a preset name or a look file path.

        Files: ``.yaml``/``.yml`` recipes, Adobe ``.cube`` LUTs, Photoshop ``.acv`` curves,
        Lightroom/Camera Raw ``.xmp`` presets.
        """
        if isinstance(spec, Action):
            return spec
        if isinstance(spec, str):
            return _from_string(spec)
        return cls(_parse_steps(spec, "recipe"), "recipe")


def _parse_steps(spec: Any, source: str) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(spec, dict) and "steps" in spec:
        spec = spec["steps"]
    if not isinstance(spec, (list, tuple)):
        raise LumastyleError(
            f"{source}: a recipe is a list of steps like '- curves: {{master: [[0, 0], [1, 1]]}}'"
        )
    steps = []
    for i, step in enumerate(spec):
        if not isinstance(step, dict) or len(step) != 1:
            raise LumastyleError(
                f"{source}: step {i + 1} must be one 'operation: {{parameters}}' mapping, got {step!r}"
            )
        ((name, params),) = step.items()
        if params is not None and not isinstance(params, dict):
            raise LumastyleError(
                f"{source}: step {i + 1} ({name}) parameters must be a mapping, got {params!r}"
            )
        steps.append((str(name), params or {}))
    return steps


def _from_string(spec: str) -> Action:
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if not suffix and not path.exists():
        if spec not in preset_names():
            raise LumastyleError(
                f"unknown action {spec!r}: not a file, and not a preset ({', '.join(preset_names())})"
            )
        path = Path(str(resources.files("lumastyle.actions") / "presets" / f"{spec}.yaml"))
        suffix = ".yaml"
    if not path.is_file():
        raise LumastyleError(
            f"action file {path} does not exist; give a .yaml, .cube, .acv or .xmp file or a preset"
        )
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise LumastyleError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
        return Action(_parse_steps(data, str(path)), str(path))
    if suffix == ".cube":
        from lumastyle.actions.cube import read_cube_action

        return read_cube_action(path)
    if suffix == ".acv":
        from lumastyle.actions.acv import read_acv

        return read_acv(path)
    if suffix == ".xmp":
        from lumastyle.actions.xmp import read_xmp

        return read_xmp(path)
    raise LumastyleError(f"{path}: unknown action format '{suffix}'; use .yaml, .cube, .acv or .xmp")


load_action = Action.from_spec

"""Global actions: saved looks (recipes, .cube LUTs, .acv curves, .xmp presets) rendered in torch.

Importing this package (which Python does before any of its modules) registers every built-in
operation and look format with :mod:`lumastyle.actions.registry`, before a plugin can be loaded: each
module in :data:`BUILTIN_MODULES` is imported on its own, and one that fails is recorded with the
registry (named in the error of a lookup that misses it) while the others still register. Layers,
each importing only those below it: the registry; :mod:`~lumastyle.actions.action` (the Action, how
any look becomes one); the operations (``ops``, ``local``, ``auto``) and formats (``recipe``,
``cube``, ``acv``, ``xmp``, ``threedl``, ``hald``); ``apply`` and this package on top. (``cube`` is
also imported plainly, for :func:`bake_lut` and :func:`write_cube`.)
"""

import importlib

from lumastyle.actions.action import Action, load_action, preset_names
from lumastyle.actions.apply import apply_action
from lumastyle.actions.cube import bake_lut, read_cube, write_cube
from lumastyle.actions.registry import (
    builtin_failed,
    get_operation,
    look_formats,
    operation,
    operations,
    register_look_format,
    register_operation,
)

#: The modules that define lumastyle's own operations and look formats (each registers them).
BUILTIN_MODULES = (
    "lumastyle.actions.ops",
    "lumastyle.actions.local",
    "lumastyle.actions.auto",
    "lumastyle.actions.recipe",
    "lumastyle.actions.cube",
    "lumastyle.actions.acv",
    "lumastyle.actions.xmp",
    "lumastyle.actions.threedl",
    "lumastyle.actions.hald",
)


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except Exception as err:  # one broken built-in must not take the others with it
            builtin_failed(module, err)


_load_builtins()

__all__ = [
    "BUILTIN_MODULES",
    "Action",
    "apply_action",
    "bake_lut",
    "get_operation",
    "load_action",
    "look_formats",
    "operation",
    "operations",
    "preset_names",
    "read_cube",
    "register_look_format",
    "register_operation",
    "write_cube",
]

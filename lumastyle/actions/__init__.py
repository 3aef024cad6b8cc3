"""Global actions: saved looks (recipes, .cube LUTs, .acv curves, .xmp presets) rendered in torch."""

from lumastyle.actions.action import OPERATIONS, Action, load_action, preset_names
from lumastyle.actions.apply import apply_action
from lumastyle.actions.cube import bake_lut, read_cube, write_cube

__all__ = [
    "OPERATIONS",
    "Action",
    "apply_action",
    "bake_lut",
    "load_action",
    "preset_names",
    "read_cube",
    "write_cube",
]

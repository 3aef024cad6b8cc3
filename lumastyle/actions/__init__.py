"""Global actions: saved looks (recipes, .cube LUTs, .acv curves, .xmp presets) rendered in torch."""

from lumastyle.actions.action import Action, load_action, preset_names
from lumastyle.actions.apply import apply_action
from lumastyle.actions.cube import bake_lut, read_cube, write_cube
from lumastyle.actions.registry import OPERATIONS, register_look_format, register_operation

__all__ = [
    "OPERATIONS",
    "Action",
    "apply_action",
    "bake_lut",
    "load_action",
    "preset_names",
    "read_cube",
    "register_look_format",
    "register_operation",
    "write_cube",
]

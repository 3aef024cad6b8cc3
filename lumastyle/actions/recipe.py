"""The YAML recipe format: ``.yaml``/``.yml`` look files, lumastyle's presets among them.

A recipe file holds a list of ``{operation: {parameters}}`` steps (or a mapping with that list under
``steps``); a style config (``data.init_args.action``) is read as the look it names or holds. Its
reader is registered for its suffixes like any other look format's; :class:`Action` parses and
checks the steps. Invalid YAML or a config without a look raises one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from lumastyle.actions.action import Action, parse_steps, read_look_file
from lumastyle.actions.registry import register_look_format
from lumastyle.errors import LumastyleError


@register_look_format(".yaml", ".yml")
def read_recipe(path: Path) -> Action:
    """A recipe YAML (a list of steps), or a style config whose ``data.init_args.action`` is the look."""
    try:
        data = yaml.safe_load(read_look_file(path).decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise LumastyleError(f"{path}: not valid YAML ({reason}); fix the recipe file") from None
    if isinstance(data, dict) and isinstance(data.get("data"), dict):  # a style config: use its look
        look = (data["data"].get("init_args") or {}).get("action")
        if look is None:
            raise LumastyleError(
                f"{path}: a config without data.init_args.action; give a recipe, a look file or a preset"
            )
        if isinstance(look, str):
            return Action.from_spec(look)
        data = look
    return Action(parse_steps(data, str(path)), str(path))

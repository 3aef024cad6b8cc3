"""The look registry as a user meets it: the built-in operations and formats are registered whichever
module is imported first; a built-in that fails to import is named in one line when it is asked for,
and the others still work; the registry sits at the bottom (it and the Action import no format)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ACTIONS = REPO / "lumastyle" / "actions"
BUILTIN_FORMATS = {".3dl", ".acv", ".cube", ".png", ".tif", ".tiff", ".xmp", ".yaml", ".yml"}
BUILTIN_OPERATIONS = {
    "curves", "levels", "brightness_contrast", "exposure", "hue_saturation", "vibrance", "color_balance",
    "channel_mixer", "photo_filter", "split_toning", "grayscale", "color_grading", "lut3d", "lut1d",
    "clarity", "watercolor", "popout", "dehaze", "vignette", "grain",
    "auto_white_balance", "auto_exposure", "auto_levels", "auto_contrast",
}  # fmt: skip


def registered(lines: list[str]) -> tuple[set[str], set[str]]:
    return set(lines[0].split()), set(lines[1].split())


REPORT = """
from lumastyle.actions.registry import look_formats, operations
print(*operations()); print(*look_formats())
"""
FIRST = ["lumastyle.actions.registry", "lumastyle.actions.local", "lumastyle.actions.hald"]
LOCAL = {"clarity", "watercolor", "popout", "dehaze", "vignette", "grain"}
BROKEN = [  # acv comes before xmp, 3dl and Hald: they still register
    ("lumastyle.actions.acv", BUILTIN_OPERATIONS, BUILTIN_FORMATS - {".acv"}, "str(LOOKS / 'matte_fade.acv')"),
    ("lumastyle.actions.local", BUILTIN_OPERATIONS - LOCAL, BUILTIN_FORMATS, "[{'clarity': {'amount': 0.5}}]"),
]


def broken_code(broken: str, ask: str) -> str:
    return f"""
import sys
from pathlib import Path
sys.modules[{broken!r}] = None  # as if it could not be imported
from lumastyle.actions import load_action
from lumastyle.errors import LumastyleError
LOOKS = Path("examples/looks")
{REPORT}
for look in ("spring", LOOKS / "teal_orange.cube", LOOKS / "bleach_bypass.3dl", LOOKS / "cross_process.png"):
    load_action(str(look))
try:
    load_action({ask})
except LumastyleError as err:
    print(err)
"""


#: Runs each case's code as a fresh interpreter would (nothing of lumastyle imported yet): before each,
#: every lumastyle module is unloaded, and what the case printed (or its traceback) is kept.
FRESH_EACH_TIME = """
import contextlib, io, json, sys, traceback

printed = {}
for name, code in json.loads(sys.stdin.read()).items():
    for module in [m for m in sys.modules if m == "lumastyle" or m.startswith("lumastyle.")]:
        del sys.modules[module]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, name, "exec"), {"__name__": "__main__"})
    except BaseException:
        printed[name] = {"error": traceback.format_exc()}
    else:
        printed[name] = {"stdout": out.getvalue()}
print(json.dumps(printed))
"""


@pytest.fixture(scope="module")
def fresh_runs() -> dict[str, list[str]]:
    """Every case's code, each with no lumastyle module imported, in one interpreter (each of its own
    would pay Python's and torch's start again): case name -> the lines it printed."""
    cases = {f"first {first}": f"import {first}\n{REPORT}" for first in FIRST}
    cases |= {f"broken {broken}": broken_code(broken, ask) for broken, _, _, ask in BROKEN}
    done = subprocess.run(
        [sys.executable, "-c", FRESH_EACH_TIME], input=json.dumps(cases), cwd=REPO, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return {name: result for name, result in json.loads(done.stdout.splitlines()[-1]).items()}


def printed(fresh_runs: dict, case: str) -> list[str]:
    result = fresh_runs[case]
    assert "error" not in result, result.get("error")
    return result["stdout"].splitlines()


@pytest.mark.parametrize("first", FIRST)
def test_the_built_ins_are_registered_whichever_module_is_imported_first(first: str, fresh_runs):
    ops, formats = registered(printed(fresh_runs, f"first {first}"))
    assert ops == BUILTIN_OPERATIONS and formats == BUILTIN_FORMATS


@pytest.mark.parametrize(("broken", "ops", "formats", "ask"), BROKEN)
def test_a_built_in_that_fails_to_import_is_one_line_when_asked_for(
    broken: str, ops: set[str], formats: set[str], ask: str, fresh_runs
):
    lines = printed(fresh_runs, f"broken {broken}")
    assert registered(lines) == (ops, formats)
    assert len(lines) == 3, lines  # the error is one line
    assert "unknown" in lines[2] and f"not loaded: {broken}, ModuleNotFoundError" in lines[2]


def _lumastyle_imports(module: Path) -> set[str]:
    """Every lumastyle module ``module`` imports, at the top, in functions or for type checking."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("lumastyle")}


def test_the_registry_is_the_bottom_and_the_action_imports_no_format():
    """What keeps the registry and the Action out of an import cycle with the formats above them."""
    assert _lumastyle_imports(ACTIONS / "registry.py") == {"lumastyle.errors"}
    assert _lumastyle_imports(ACTIONS / "action.py") == {"lumastyle.actions.registry", "lumastyle.errors"}

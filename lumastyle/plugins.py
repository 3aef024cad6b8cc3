"""Plugins: DataModules, heads, look formats and operations, and style files from other packages.

A package extends lumastyle without touching it by declaring entry points in its ``pyproject.toml``
(``examples/lumastyle-example-plugin/`` is one):

| group | the entry point names | then usable as |
|---|---|---|
| ``lumastyle.datamodules`` | a ``StyleDataModule`` subclass | ``--data ClassName`` (and its ``class_path``) |
| ``lumastyle.heads`` | a :class:`~lumastyle.heads.Head` subclass | ``--model.head NAME`` (the entry point's name) |
| ``lumastyle.looks`` | a module that registers look formats and operations (:mod:`lumastyle.actions.registry`), or an operation function (registered under the entry point's name) | a look file suffix, a recipe step |
| ``lumastyle.styles`` | a style file or a folder of them (a path) | ``--config STEM`` |

They are loaded once, when the ``lumastyle`` command starts (:func:`load_plugins`). A plugin that fails
to load, or names the wrong kind of thing, is reported in one warning line naming it and its package;
everything else keeps working. A look plugin that takes an operation name or a file suffix that
lumastyle (or an earlier plugin) owns, such as ``.xmp`` or ``.png``, is refused that way: one line
naming it and the suffix, nothing it registered stays, and the owner keeps working (lumastyle's own
are registered before any plugin loads). ``lumastyle plugins`` lists what is installed, by the names a
user types: a style plugin's style files by their stems (``--config side_by_side``), a look module's
formats by their suffixes, not the entry points' names. lumastyle's
own style files (``lumastyle/styles/``, also the repository's ``styles/``) are found by name the same
way.
"""

from __future__ import annotations

import importlib.metadata as metadata
import inspect
import os
import types
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumastyle.errors import LumastyleError

if TYPE_CHECKING:
    from lumastyle.actions.registry import Snapshot

GROUPS = {
    "lumastyle.datamodules": "datamodule",
    "lumastyle.heads": "head",
    "lumastyle.looks": "look",
    "lumastyle.styles": "style",
}
#: lumastyle's own style files
BUILTIN_STYLES = Path(str(resources.files("lumastyle") / "styles"))


@dataclass(frozen=True)
class Plugin:
    """One entry point of one installed package, and what became of it."""

    name: str
    kind: str
    package: str
    version: str
    problem: str = ""  #: why it was skipped ("" when it loaded)
    #: what it made usable, by the names a user types (a style's stem, a look format's suffix);
    #: empty when that is the entry point's name
    provides: tuple[str, ...] = ()


#: style name -> file, from plugins (lumastyle's own are in BUILTIN_STYLES)
PLUGIN_STYLES: dict[str, Path] = {}
_found: list[Plugin] | None = None


def load_plugins() -> list[Plugin]:
    """Load every installed plugin once (later calls return the same list); broken ones are warned
    about in one line each and skipped."""
    global _found
    if _found is not None:
        return _found
    _found = []
    for group, kind in GROUPS.items():
        for entry in metadata.entry_points(group=group):
            dist = entry.dist
            package = dist.metadata["Name"] if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            saved = _looks_registered() if kind == "look" else None
            provides: tuple[str, ...] = ()
            try:
                provides = _register(kind, entry.name, entry.load())
                problem = ""
            except Exception as err:  # a plugin's own bug must not stop lumastyle
                problem = f"{type(err).__name__}: {' '.join(str(err).split())}"[:200]
                if saved is not None:  # nothing of a skipped look plugin stays registered
                    from lumastyle.actions.registry import restore

                    restore(saved)
                warnings.warn(
                    f"plugin {entry.name!r} ({kind}, from {package} {version}) was skipped: {problem}",
                    stacklevel=2,
                )
            _found.append(Plugin(entry.name, kind, package, version, problem, provides))
    return _found


def _looks_registered() -> Snapshot:
    """The look registry now (imported only when a look plugin is installed)."""
    from lumastyle.actions.registry import snapshot

    return snapshot()


def _register(kind: str, name: str, obj: Any) -> tuple[str, ...]:
    """Make ``obj`` usable; returns the names it is used by when they are not ``name`` (a style
    folder's stems; the suffixes and operations a look module's own functions are registered under)."""
    if kind == "datamodule":
        from lumastyle.data.base import StyleDataModule

        if not (inspect.isclass(obj) and issubclass(obj, StyleDataModule)):  # what --data takes
            raise LumastyleError(f"{obj!r} is not a lumastyle.data.base.StyleDataModule subclass")
        # importing the class is what makes --data ClassName resolve (jsonargparse finds subclasses)
    elif kind == "head":
        from lumastyle.heads import Head, register_head

        if not (inspect.isclass(obj) and issubclass(obj, Head)):
            raise LumastyleError(f"{obj!r} is not a lumastyle.heads.Head subclass")
        register_head(name)(obj)
    elif kind == "look":
        if isinstance(obj, types.ModuleType):  # importing it registered its formats and operations
            from lumastyle.actions.registry import look_formats, operations

            formats = [
                suffix for suffix, reader in look_formats().items() if reader.__module__ == obj.__name__
            ]
            ops = [op_name for op_name, op in operations().items() if op.function.__module__ == obj.__name__]
            return tuple(sorted(formats)) + tuple(sorted(ops))
        if not callable(obj):
            raise LumastyleError(f"{obj!r} is neither a module nor an operation function")
        from lumastyle.actions.registry import register_operation

        register_operation(name, obj)
    elif kind == "style":
        path = Path(os.fspath(obj))
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise LumastyleError(f"{path} is not a style file or a folder of them")
        for file in files:
            if file.stem in PLUGIN_STYLES or (BUILTIN_STYLES / f"{file.stem}.yaml").is_file():
                raise LumastyleError(f"a style named {file.stem!r} exists already")
            PLUGIN_STYLES[file.stem] = file
        return tuple(f.stem for f in files)
    return ()


def style_names() -> list[str]:
    """Every style given by name: lumastyle's own and the plugins'."""
    load_plugins()
    return sorted({p.stem for p in BUILTIN_STYLES.glob("*.yaml")} | set(PLUGIN_STYLES))


def style_file(name: str) -> Path | None:
    """The style file called ``name`` (lumastyle's own first), or None."""
    load_plugins()
    own = BUILTIN_STYLES / f"{name}.yaml"
    return own if own.is_file() else PLUGIN_STYLES.get(name)


def resolve_config(value: str) -> str:
    """A ``--config`` value: a file as given, else the style of that name; neither raises a one-line
    error listing the styles."""
    if os.path.isfile(value) or any(sep in value for sep in ("/", os.sep)) or Path(value).suffix:
        return value
    found = style_file(value)
    if found is None:
        raise LumastyleError(
            f"--config {value!r} is neither a file nor a style; styles: {', '.join(style_names())}"
        )
    return str(found)


def describe() -> list[tuple[str, str, str, str, str]]:
    """(name, kind, package, version, status) of everything lumastyle can use, its own first; a
    plugin's rows name what it made usable (:attr:`Plugin.provides`)."""
    from lumastyle.actions.registry import look_formats, operations
    from lumastyle.data.base import StyleDataModule
    from lumastyle.heads import HEADS

    plugins = load_plugins()
    version = metadata.version("lumastyle")
    own: list[tuple[str, str]] = [(cls.__name__, "datamodule") for cls in _subclasses(StyleDataModule)
                                  if cls.__module__.startswith("lumastyle.")]  # fmt: skip
    own += [(name, "head") for name, cls in HEADS.items() if cls.__module__.startswith("lumastyle.")]
    own += [
        (suffix, "look format")
        for suffix, reader in look_formats().items()
        if reader.__module__.startswith("lumastyle.")
    ]
    own += [
        (name, "look operation")
        for name, op in operations().items()
        if op.function.__module__.startswith("lumastyle.")
    ]
    own += [(p.stem, "style") for p in sorted(BUILTIN_STYLES.glob("*.yaml"))]
    rows = [(name, kind, "lumastyle", version, "built in") for name, kind in own]
    entries = {(p.kind, p.name) for p in plugins}  # an operation with an entry point of its own is its row
    rows += [
        (name, p.kind, p.package, p.version, f"broken: {p.problem}" if p.problem else "ok")
        for p in plugins
        for name in ([n for n in p.provides if (p.kind, n) not in entries] or [p.name])
    ]
    return rows


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        out += [sub, *_subclasses(sub)]
    return out


def list_plugins() -> None:
    """List lumastyle's DataModules, heads, look formats and operations and style files, with the
    plugins installed beside it (name, kind, package, version, status)."""
    rows = describe()
    header = ("name", "kind", "package", "version", "status")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)) + "  " + row[4])

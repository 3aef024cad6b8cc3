"""Plugins: the example plugin package, installed as pip would lay it out (its package and a
.dist-info with its entry points on the path), lists, trains and renders through the CLI; a broken
plugin is one line and everything else keeps working; styles by name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import QUICK, smooth_photo, toy_style

from lumastyle.actions import load_action
from lumastyle.actions.ops import exposure
from lumastyle.io import read_image, write_image

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lumastyle-example-plugin"
FAST = [*QUICK, "--data.batch_size", "4", "--trainer.max_epochs", "1"]


def install(site: Path, name: str, version: str, entry_points: dict[str, dict[str, str]]) -> None:
    """Write the .dist-info pip would write: METADATA and entry_points.txt."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, entries in entry_points.items():
        lines += [f"[{group}]", *(f"{k} = {v}" for k, v in entries.items()), ""]
    (info / "entry_points.txt").write_text("\n".join(lines))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site folder holding the example plugin as installed."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "src" / "lumastyle_example_plugin", site / "lumastyle_example_plugin")
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    install(site, project["name"], project["version"], project["entry-points"])
    return site


def lumastyle(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO / "tests")])}
    return subprocess.run(
        [sys.executable, "-m", "lumastyle.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_lists_the_installed_plugin(site: Path, tmp_path: Path):
    done = lumastyle(site, "plugins", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    rows = [line.split() for line in done.stdout.splitlines()]
    mine = {(r[0], r[1]) for r in rows if "lumastyle-example-plugin" in r and r[-1] == "ok"}
    # by the names a user types: the style file's stem (--config side_by_side), the look format's suffix
    assert mine == {("SideBySideDataModule", "datamodule"), ("diagonal", "head"), ("sepia", "look"),
                    (".json", "look"), ("side_by_side", "style")}  # fmt: skip
    assert any(r[:2] == ["quadratic", "head"] and r[2] == "lumastyle" for r in rows)


def test_trains_and_renders_with_it_through_the_cli(site: Path, tmp_path: Path):
    folder = tmp_path / "comparisons"
    for k in range(6):
        before = smooth_photo(40, 48, seed=k)
        write_image(folder / f"c{k}.png", torch.cat([before, toy_style(before)], dim=-1))  # side by side
    done = lumastyle(site, "fit", "--config", "side_by_side", *FAST, "--data.root", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt = tmp_path / "runs" / "comparisons" / "version_0" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["hyper_parameters"]["head"] == "diagonal"
    assert any(k.startswith("network.head.out.") for k in state["state_dict"])
    assert (
        "class_path: lumastyle_example_plugin.data.SideBySideDataModule"
        in (ckpt.parents[1] / "config.yaml").read_text()
    )

    (tmp_path / "look.json").write_text('[{"sepia": {"amount": 1.0}}, {"exposure": {"stops": 0.2}}]')
    photo = smooth_photo(8, 8, seed=0)
    write_image(tmp_path / "photo.png", photo, bit_depth=16)
    done = lumastyle(site, "action", "apply", "look.json", "photo.png", "out.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = exposure(sepia(read_image(tmp_path / "photo.png")[0], amount=1.0), stops=0.2)
    assert torch.allclose(read_image(tmp_path / "out.png")[0], expected, atol=2 / 65535)


def test_the_documented_command_with_the_cpu_preset(site: Path, tmp_path: Path):
    """The plugin README's command, ``lumastyle fit --config side_by_side --config configs/cpu-small.yaml
    --data.root DIR``, as documented (only shortened: one epoch, small photos, a cache of its own). The
    head takes the low-level channels; the preset's closed-form start and linear path, which this head
    has not, are one warning line each, and it trains."""
    folder = tmp_path / "comparisons"
    for k in range(6):
        before = smooth_photo(40, 48, seed=k)
        write_image(folder / f"c{k}.png", torch.cat([before, toy_style(before)], dim=-1))
    preset = str(REPO / "configs" / "cpu-small.yaml")
    shorter = ["--trainer.max_epochs", "1", "--data.num_workers", "0", "--data.crop_size", "32",
               "--model.context.cache", str(tmp_path / "cache"), "--trainer.enable_progress_bar", "false"]  # fmt: skip
    done = lumastyle(
        site, "fit", "--config", "side_by_side", "--config", preset, "--data.root", str(folder), *shorter,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "closed_form_start: DiagonalHead has no colour basis" in done.stderr
    assert "color_context.linear: DiagonalHead has no linear low-level path" in done.stderr
    state = torch.load(
        tmp_path / "runs" / "comparisons" / "version_0" / "checkpoints" / "last.ckpt",
        map_location="cpu", weights_only=True,
    )  # fmt: skip
    low = state["state_dict"]["network.head.context_in.2.weight"]  # the low-level map's layer
    assert low.shape[1] == 12  # 3 radii x Lab + 3 contrast channels


def sepia(image: torch.Tensor, amount: float) -> torch.Tensor:
    """The example plugin's operation, loaded from its file without registering its module here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_plugin_looks", EXAMPLE / "src" / "lumastyle_example_plugin" / "looks.py"
    )
    from lumastyle.actions.registry import restore, snapshot

    saved = snapshot()
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    finally:
        restore(saved)
    return module.sepia(image, amount)


def test_a_broken_plugin_is_one_line_and_the_rest_works(site: Path, tmp_path: Path):
    install(site, "broken-plugin", "0.0.1", {"lumastyle.heads": {"nope": "no_such_module:Head"},
                                             "lumastyle.styles": {"nothing": "lumastyle_example_plugin:MISSING"}})  # fmt: skip
    done = lumastyle(site, "plugins", cwd=tmp_path)
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("warning: plugin ") for line in lines)
    assert "'nope' (head, from broken-plugin 0.0.1) was skipped: ModuleNotFoundError" in lines[0]
    assert "'nothing' (style, from broken-plugin 0.0.1)" in lines[1]
    assert (
        sum("lumastyle-example-plugin" in row and row.endswith("ok") for row in done.stdout.splitlines()) == 5
    )
    assert any("broken: ModuleNotFoundError" in row for row in done.stdout.splitlines())


def test_a_plugin_taking_a_built_in_suffix_is_one_line_and_every_built_in_look_works(tmp_path: Path):
    """A plugin registering .xmp (or .png, which Hald CLUT images use) is refused in one line naming it
    and the suffix, and lumastyle's readers keep reading: the user's command works as without it."""
    site = tmp_path / "site"
    site.mkdir()
    reader = "from lumastyle.actions import Action, register_look_format\n\n\n@register_look_format({})\ndef grab(path):\n    return Action([], str(path))\n"
    (site / "grab_xmp.py").write_text(reader.format('".mine", ".xmp"'))
    (site / "grab_png.py").write_text(reader.format('".png"'))
    install(site, "grabby", "0.1", {"lumastyle.looks": {"grab_xmp": "grab_xmp", "grab_png": "grab_png"}})
    looks = REPO / "examples" / "looks"
    write_image(tmp_path / "photo.png", smooth_photo(8, 8, seed=0), bit_depth=16)
    for look in ("faded_2010.xmp", "cross_process.png"):
        done = lumastyle(site, "action", "apply", str(looks / look), "photo.png", f"out_{look}.png", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        warned = done.stderr.splitlines()
        assert len(warned) == 2 and all(line.startswith("warning: plugin 'grab_") for line in warned)
        assert "'grab_xmp' (look, from grabby 0.1) was skipped" in warned[0] and "'.xmp'" in warned[0]
        assert "lumastyle.actions.xmp.read_xmp" in warned[0]
        assert "'grab_png' (look, from grabby 0.1) was skipped" in warned[1] and "'.png'" in warned[1]
        expected = load_action(str(looks / look))(read_image(tmp_path / "photo.png")[0])
        assert torch.allclose(read_image(tmp_path / f"out_{look}.png")[0], expected, atol=2 / 65535)


def test_nothing_a_skipped_look_plugin_registered_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A look plugin that registers .mine and then clashes on .xmp is skipped whole: .mine goes too."""
    from importlib.metadata import EntryPoint

    from lumastyle import plugins
    from lumastyle.actions.registry import look_formats, restore, snapshot

    (tmp_path / "grab_mine.py").write_text(
        "from lumastyle.actions import Action, register_look_format\n"
        "register_look_format('.mine')(lambda path: Action([], str(path)))\n"
        "register_look_format('.xmp')(lambda path: Action([], str(path)))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = EntryPoint("grab_mine", "grab_mine", "lumastyle.looks")
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: [entry] if group == "lumastyle.looks" else [])
    monkeypatch.setattr(plugins, "_found", None)
    before, saved = dict(look_formats()), snapshot()
    try:
        with pytest.warns(UserWarning, match=r"plugin 'grab_mine' \(look, .*'\.xmp' files is already registered"):
            (found,) = plugins.load_plugins()
        assert found.problem and dict(look_formats()) == before
    finally:
        restore(saved)


def test_styles_by_name(tmp_path: Path):
    from lumastyle.errors import LumastyleError
    from lumastyle.plugins import resolve_config

    assert Path(resolve_config("spring")) == REPO / "lumastyle" / "styles" / "spring.yaml"
    assert Path(resolve_config("spring")).samefile(
        REPO / "styles" / "spring.yaml"
    )  # the repository's styles/
    assert resolve_config("my/own.yaml") == "my/own.yaml"  # paths are left to the config parser
    with pytest.raises(
        LumastyleError, match=r"--config 'sprng' is neither a file nor a style; styles: cold, "
    ):
        resolve_config("sprng")


def test_a_datamodule_plugin_the_command_cannot_take_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``--data`` takes StyleDataModule subclasses; a plain LightningDataModule entry point is skipped in
    one line (it used to be listed as ok and then refused by the command)."""
    from importlib.metadata import EntryPoint

    from lumastyle import plugins

    (tmp_path / "plain_dm.py").write_text(
        "import lightning as L\n\nclass PlainDM(L.LightningDataModule):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = EntryPoint("PlainDM", "plain_dm:PlainDM", "lumastyle.datamodules")
    monkeypatch.setattr(
        plugins.metadata, "entry_points", lambda group: [entry] if group == "lumastyle.datamodules" else []
    )
    monkeypatch.setattr(plugins, "_found", None)
    with pytest.warns(UserWarning, match=r"plugin 'PlainDM' \(datamodule, .* is not a lumastyle\.data\.base\.StyleDataModule subclass"):
        (found,) = plugins.load_plugins()
    assert found.problem

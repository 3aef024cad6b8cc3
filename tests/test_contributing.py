"""CONTRIBUTING.md as a newcomer follows it. Its code blocks marked ``<!-- test: PATH -->`` are written
to PATH, making the plugin package the document describes; the package is installed as pip lays it
out (its ``src/`` and a .dist-info with the document's entry points on the path) and loaded through
lumastyle's own plugin loader; then each extension is used the way the document says: the head
builds with and without low-level context and trains a step, the look format renders through
``load_action``, the operation works in a YAML recipe and refuses a bad key in the line the document
prints, the DataModule finds pairs in its layout and trains a step, and the documented commands
build. Whatever the plugin registers is removed again after each test."""

from __future__ import annotations

import re
import shlex
import sys
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import REPO, smooth_photo, toy_style
from torch.utils.data import DataLoader

from lumastyle import heads, plugins
from lumastyle.actions import load_action, look_formats, operations, registry
from lumastyle.actions.ops import exposure
from lumastyle.color import denormalize_lab, lab_distance, lab_to_rgb, normalize_lab, rgb_to_lab
from lumastyle.errors import BadFileError, LumastyleError
from lumastyle.heads import ColorMapHead
from lumastyle.io import write_image
from lumastyle.model import LumaStyle
from lumastyle.options import BackboneOptions, ColorContextOptions, ContextOptions

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

DOC = REPO / "CONTRIBUTING.md"
MARKED = re.compile(r"<!-- test: (\S+) -->\n```\w*\n(.*?)\n```", re.DOTALL)
SMALL = {"backbone": BackboneOptions(width=1 / 16, weights=None), "context": ContextOptions(pad=8)}


def doc_blocks() -> dict[str, str]:
    """PATH -> text of every marked block of CONTRIBUTING.md."""
    found: dict[str, str] = {}
    for path, text in MARKED.findall(DOC.read_text(encoding="utf-8")):
        assert path not in found, f"CONTRIBUTING.md marks two blocks as {path}"
        found[path] = text + "\n"
    return found


BLOCKS = doc_blocks()


def test_every_marked_block_is_exercised_here():
    """A block added to the document without a test here (or a test whose block was renamed) fails."""
    assert set(BLOCKS) == {
        "pyproject.toml", "src/mylooks/heads.py", "src/mylooks/tone.py", "use-head.sh",
        "src/mylooks/formats.py", "warm.mix", "src/mylooks/ops.py", "faded.yaml",
        "src/mylooks/data.py", "use-data.sh",
    }  # fmt: skip


def quiet_trainer(root: Path, **kwargs) -> L.Trainer:
    defaults = {"default_root_dir": root, "logger": False, "enable_progress_bar": False,
                "enable_model_summary": False, "enable_checkpointing": False, "accelerator": "cpu"}  # fmt: skip
    return L.Trainer(**{**defaults, **kwargs})


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The document's package, written out, installed and loaded through the entry points; yields its
    folder (the non-Python blocks, ``warm.mix`` and the rest, lie in it too)."""
    root = tmp_path / "lumastyle-mylooks"
    for path, text in BLOCKS.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    src = root / "src"
    (src / "mylooks" / "__init__.py").write_text("")  # "(empty)", as the layout says
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    info = src / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines += [f"[{group}]", *(f"{k} = {v}" for k, v in entries.items()), ""]
    (info / "entry_points.txt").write_text("\n".join(lines))

    monkeypatch.syspath_prepend(str(src))
    monkeypatch.setattr(heads, "HEADS", dict(heads.HEADS))  # short names registered here go away
    monkeypatch.setattr(plugins, "PLUGIN_STYLES", dict(plugins.PLUGIN_STYLES))
    monkeypatch.setattr(plugins, "_found", None)  # load afresh, as a new `lumastyle` command does
    saved = registry.snapshot()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a plugin that fails to load is a warning: fail on it
            loaded = plugins.load_plugins()
        mine = {(p.name, p.kind, p.problem) for p in loaded if p.package == project["name"]}
        kinds = {"lumastyle.heads": "head", "lumastyle.looks": "look", "lumastyle.datamodules": "datamodule"}
        assert mine == {
            (name, kinds[group], "") for group, entries in project["entry-points"].items() for name in entries
        }
        yield root
    finally:
        registry.restore(saved)
        for name in [m for m in sys.modules if m == "mylooks" or m.startswith("mylooks.")]:
            del sys.modules[name]


def photos(n: int, h: int = 32, w: int = 40) -> torch.Tensor:
    return torch.stack([smooth_photo(h, w, seed=k) for k in range(n)])


# -- 1. a head ---------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
@pytest.mark.parametrize("low_level", [(), (4.0, 16.0)], ids=["without-low-level", "with-low-level"])
def test_a_head_builds_starts_as_no_change_and_trains(plugin: Path, tmp_path: Path, low_level):
    from mylooks.heads import ShiftHead

    torch.manual_seed(0)
    model = LumaStyle(**SMALL, head="shift", color_context=ColorContextOptions(blur_radii=low_level))  # the entry point's short name
    head = model.network.head
    assert type(head) is ShiftHead
    low_channels = model.network.low_level.out_channels if low_level else 0
    assert head.low_level_channels == low_channels  # the constructor handed all four to Head
    assert len(head.context_in) == 2 + (1 if low_level else 0)  # one map per scale, then the low-level map
    rgb = photos(4)
    with torch.no_grad():
        assert (model(rgb) - rgb).abs().max() < 1e-3  # "start as no change" (the Lab round trip aside)
    batches = [
        {"input": rgb[i : i + 2], "target": toy_style(rgb[i : i + 2]), "name": ["a", "b"]} for i in (0, 2)
    ]
    start = head.out.weight.detach().clone()
    trainer = quiet_trainer(tmp_path, max_steps=1)
    trainer.fit(model, DataLoader(batches, batch_size=None))
    assert trainer.global_step == 1
    assert not torch.equal(head.out.weight, start)


def test_a_head_that_is_no_colour_map_says_so_for_low_level_linear(plugin: Path):
    """The warning ``Head.__init__`` gives only when the head passes ``low_level_linear`` on (step 1)."""
    with pytest.warns(UserWarning, match="ShiftHead has no linear low-level path"):
        LumaStyle(**SMALL, head="shift", color_context=ColorContextOptions(blur_radii=(4.0,), linear=True))


def test_a_colour_map_head_starts_from_the_closed_form_fit(plugin: Path):
    """Step 5: the head starts near "no change" (its ``linear_index`` is right), and a look inside the
    span of its basis (a tone curve in L^3, halved a and b; the paper's quadratic basis misses it by
    0.017) is fitted exactly by the closed-form start, also with the linear low-level path."""
    torch.manual_seed(0)
    model = LumaStyle(**SMALL, head="tone_curve", color_context=ColorContextOptions(blur_radii=(4.0,), linear=True))
    head = model.network.head
    assert isinstance(head, ColorMapHead) and head.low_level_linear

    def look(rgb: torch.Tensor) -> torch.Tensor:
        lab = normalize_lab(rgb_to_lab(rgb))
        lightness, ab = lab[:1], lab[1:]
        curved = torch.cat([lightness + 0.5 * (lightness**3 - lightness), 0.5 * ab])
        return lab_to_rgb(denormalize_lab(curved), clip=False)

    pairs = [(x, look(x)) for x in photos(3, 24, 24)]

    def error(target: int) -> float:
        """The largest mean Lab distance of a photo's prediction from its target (1) or itself (0)."""
        worst = 0.0
        for pair in pairs:
            with torch.no_grad():
                predicted = model.network.forward_lab(pair[0][None])[1][0]
            worst = max(worst, lab_distance(predicted, rgb_to_lab(pair[target])).mean().item())
        return worst

    assert error(0) < 1.0 and error(1) > 10.0
    model.network.start_from_closed_form(pairs)
    assert error(1) < 1e-3


# -- 2. a look-file format ----------------------------------------------------------------------------


def test_a_look_format_renders_its_file_through_load_action(plugin: Path):
    assert look_formats()[".mix"].__module__ == "mylooks.formats"
    path = plugin / "warm.mix"
    rows = [
        [float(v) for v in line.split()] for line in path.read_text().splitlines() if not line.startswith("#")
    ]
    matrix = torch.tensor(rows)
    assert matrix.shape == (3, 3) and not torch.equal(matrix, torch.eye(3))
    image = smooth_photo(16, 16, seed=1)
    expected = torch.einsum("ck,khw->chw", matrix, image).clamp(0, 1)
    assert torch.allclose(load_action(path)(image), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("text", "says"),
    [("1 0 0\n0 1 0\n0 0 x\n", "'0 0 x' is not numbers"), ("1 0 0\n0 1 0\n", "matrix must be 3x3")],
    ids=["not-numbers", "two-rows"],
)
def test_a_bad_look_file_is_one_line_naming_it(plugin: Path, tmp_path: Path, text: str, says: str):
    path = tmp_path / "bad.mix"
    path.write_text(text)
    with pytest.raises(LumastyleError) as info:
        load_action(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and says in message and "\n" not in message


# -- 3. a look operation ----------------------------------------------------------------------------------


def test_an_operation_works_in_a_yaml_recipe(plugin: Path):
    from mylooks.ops import fade

    assert operations()["fade"].function is fade and not operations()["fade"].whole_photo
    image = smooth_photo(16, 16, seed=2)
    assert torch.equal(fade(image), image)  # the default changes nothing
    look = load_action(plugin / "faded.yaml")
    assert look.per_pixel
    assert torch.allclose(look(image), exposure(image + 0.2 * (0.5 - image), stops=0.3), atol=1e-6)


def test_an_operation_refuses_bad_parameters_in_one_line(plugin: Path, monkeypatch: pytest.MonkeyPatch):
    """The misspelt key gives exactly the line the document prints; a bad value and a wrong type are
    one line naming the step and the key."""
    printed = re.search(r"A misspelt key stops the recipe in one line:\n`([^`]+)`", DOC.read_text())
    assert printed is not None
    monkeypatch.chdir(plugin)  # the document loads faded.yaml from where it lies
    recipe = BLOCKS["faded.yaml"]
    for change, says in [
        (("amount", "amont"), printed.group(1)),
        (("0.2", "2"), "faded.yaml: step 1 (fade): amount must be within [0, 1], got 2"),
        (("0.2", "bright"), "faded.yaml: step 1 (fade): amount"),
    ]:
        Path("faded.yaml").write_text(recipe.replace(*change, 1))
        with pytest.raises(LumastyleError) as info:
            load_action("faded.yaml")
        message = str(info.value)
        assert message.startswith(says) and "\n" not in message
        assert change[0] != "amount" or message == says


# -- 4. a dataset --------------------------------------------------------------------------------------


def pair_folders(root: Path, n: int) -> Path:
    """The layout of the document's DataModule: root/pK/before.png and root/pK/after.png."""
    for k in range(n):
        rgb = smooth_photo(40, 56, seed=k)
        write_image(root / f"p{k}" / "before.png", rgb)
        write_image(root / f"p{k}" / "after.png", toy_style(rgb))
    return root


def test_a_datamodule_discovers_its_layout_and_trains(plugin: Path, tmp_path: Path):
    from mylooks.data import FolderPairsDataModule

    root = pair_folders(tmp_path / "folders", 6)
    dm = FolderPairsDataModule(root=str(root), crop_size=32, batch_size=2, num_workers=0)
    dm.setup()
    assert dm.splits is not None
    found = [ex for split in ("train", "val", "test") for ex in dm.splits[split]]
    assert sorted(ex.name for ex in found) == [f"p{k}" for k in range(6)]  # each pair once, in one split
    assert all(
        ex.input == root / ex.name / "before.png" and ex.target == root / ex.name / "after.png"
        for ex in found
    )
    trainer = quiet_trainer(tmp_path, max_steps=1, limit_val_batches=1)
    trainer.fit(LumaStyle(**SMALL), dm)
    assert trainer.global_step == 1


def test_a_datamodule_names_a_bad_pair_in_one_line(plugin: Path, tmp_path: Path):
    from mylooks.data import FolderPairsDataModule

    root = pair_folders(tmp_path / "folders", 3)
    (root / "p1" / "after.png").unlink()
    with pytest.raises(BadFileError) as info:
        FolderPairsDataModule(root=str(root), num_workers=0).setup()
    assert info.value.path == root / "p1" and "\n" not in str(info.value)
    skipping = FolderPairsDataModule(root=str(root), num_workers=0, on_bad_file="skip")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        skipping.setup()
    assert any(
        f"skipped 1 bad file(s) (data.on_bad_file skip): {root / 'p1'} (" in str(w.message) for w in seen
    )
    assert skipping.skipped == [(root / "p1", info.value.reason)]
    with pytest.raises(LumastyleError, match=r"^data\.root is not set; pass --data\.root DIR"):
        FolderPairsDataModule()


# -- the documented commands ----------------------------------------------------------------------------


@pytest.mark.parametrize("block", ["use-head.sh", "use-data.sh"])
def test_the_documented_commands_build(
    plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: str
):
    """Each ``lumastyle fit`` line of the document parses and builds its model and DataModule (nothing
    trains: ``build_cli(run=False)``), with the plugin's head and DataModule."""
    from lumastyle.cli import build_cli

    monkeypatch.chdir(tmp_path)  # the repository's configs/ and styles/ are given by their full path
    for line in BLOCKS[block].splitlines():
        words = shlex.split(line)
        assert words[:2] == ["lumastyle", "fit"]
        args = [str(REPO / w) if w.startswith(("configs/", "styles/")) else w for w in words[2:]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the CPU preset's two lines about a head without a basis
            cli = build_cli(args, run=False)
        head = cli.model.network.head
        if block == "use-head.sh":
            assert type(head).__name__ == "ShiftHead" and head.low_level_channels > 0
            option = "--model.head.init_args.width"
            assert head.out.in_channels == (int(words[words.index(option) + 1]) if option in words else 16)
        else:
            assert type(cli.datamodule).__name__ == "FolderPairsDataModule"
            assert cli.datamodule.root == Path(words[words.index("--data.root") + 1])

"""End to end through the ``lumastyle`` command: fit -> validate/test/predict -> stylize, and error lines."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

from lumastyle.cli import main
from lumastyle.io import read_image, write_image

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--config", str(REPO / "styles" / "pairs.yaml"),
    "--config", str(REPO / "configs" / "cpu-small.yaml"),
    "--model.backbone_width", "0.0625",
    "--model.context_pad", "8",
    "--data.crop_size", "32",
    "--data.num_workers", "0",
    "--trainer.enable_model_summary", "false",
]  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_fit_then_everything_else(workdir, pair_factory, capfd, caplog):
    root = pair_factory(workdir / "pairs", n=6, size=(48, 64))
    caplog.set_level("INFO")
    main(["fit", *TINY, "--data.root", str(root), "--trainer.max_epochs", "2"])
    said = "".join(capfd.readouterr()) + caplog.text
    assert "Trainer.fit` stopped" in said and "litlogger" not in said and "LeafSpec" not in said
    run = workdir / "runs" / "pairs" / "version_0"
    last = run / "checkpoints" / "last.ckpt"
    assert last.is_file() and list((run / "checkpoints").glob("best-*.ckpt"))
    assert (run / "metrics.csv").read_text().count("val/lab_distance") == 1
    assert (run / "config.yaml").is_file()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for sub in ("validate", "test"):
            main([sub, *TINY, "--data.root", str(root), "--ckpt_path", str(last)])
        main(["predict", *TINY, "--data.root", str(root), "--ckpt_path", str(last)])
    noise = [
        str(w.message) for w in caught if "ModelCheckpoint" in str(w.message) or "dirpath" in str(w.message)
    ]
    assert not noise
    assert list(workdir.glob("runs/pairs/version_*/predictions/p*.png"))

    # stylize: a folder with mixed formats and sizes, names and sizes kept
    photos = workdir / "photos"
    write_image(photos / "big.jpg", torch.rand(3, 150, 230))
    write_image(photos / "deep.png", torch.rand(3, 20, 30), bit_depth=16)
    write_image(photos / "flat.tif", torch.rand(3, 17, 9))
    main(["stylize", "--ckpt", str(last), "--input", str(photos), "--output", str(workdir / "out")])
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["big.png", "deep.png", "flat.tif"]
    assert read_image(workdir / "out" / "big.png")[0].shape == (3, 150, 230)
    assert read_image(workdir / "out" / "deep.png")[1] == 16
    # a single file works too
    main(
        [
            "stylize",
            "--ckpt",
            str(last),
            "--input",
            str(photos / "flat.tif"),
            "--output",
            str(workdir / "one"),
        ]
    )
    assert (workdir / "one" / "flat.tif").is_file()


def run_error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_bad_root_is_one_line(workdir, capsys):
    line = run_error(["fit", *TINY, "--data.root", str(workdir / "missing")], capsys)
    assert line.startswith("error: ") and "missing is not a folder" in line


def test_missing_partner_stops_before_training(workdir, pair_factory, capsys):
    root = pair_factory(workdir / "pairs", n=4)
    os.remove(root / "target" / "p1.png")
    line = run_error(["fit", *TINY, "--data.root", str(root)], capsys)
    assert "p1.png: no partner" in line
    assert not list(workdir.glob("runs/**/*.ckpt"))


def test_offline_imagenet_names_the_flag(workdir, pair_factory, capsys, monkeypatch):
    from torchvision.models import VGG16_Weights

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(type(VGG16_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    root = pair_factory(workdir / "pairs", n=3)
    line = run_error(
        ["fit", "--config", str(REPO / "styles" / "pairs.yaml"), "--data.root", str(root)], capsys
    )
    assert "--model.backbone_weights null" in line


def test_stylize_errors(workdir, capsys):
    line = run_error(["stylize", "--ckpt", "nope.ckpt", "--input", str(workdir), "--output", "out"], capsys)
    assert "no PNG, JPEG or TIFF photos" in line
    write_image(workdir / "in" / "a.png", torch.rand(3, 8, 8))
    line = run_error(
        ["stylize", "--ckpt", "nope.ckpt", "--input", str(workdir / "in"), "--output", "out"], capsys
    )
    assert "nope.ckpt does not exist" in line
    line = run_error(
        ["stylize", "--ckpt", "x", "--input", str(workdir / "in"), "--output", str(workdir / "in")], capsys
    )
    assert "is the input folder" in line


def test_global_style_fit_and_other_looks(workdir, photo):
    """`fit --config styles/spring.yaml` trains on photos with rendered targets; `--data.action` swaps the look."""
    from lumastyle.actions import bake_lut, load_action, write_cube

    for k in range(5):
        write_image(workdir / "photos" / f"img{k}.jpg", photo(48, 64, seed=k))
    small = [
        a if a != str(REPO / "styles" / "pairs.yaml") else str(REPO / "styles" / "spring.yaml") for a in TINY
    ]
    common = ["fit", *small, "--data.photos", str(workdir / "photos"), "--trainer.max_epochs", "1"]
    main(common)
    assert (workdir / "runs" / "spring" / "version_0" / "checkpoints" / "last.ckpt").is_file()

    write_cube(workdir / "look.cube", bake_lut(load_action("cold"), size=9))
    main([*common, "--data.action", str(workdir / "look.cube")])
    config = (workdir / "runs" / "spring" / "version_1" / "config.yaml").read_text()
    assert "look.cube" in config


def test_missing_root_is_one_line(workdir, capsys):
    line = run_error(["fit", *TINY], capsys)
    assert line == "error: data.root is not set; pass --data.root DIR, a folder with input/ and target/"


def test_bad_look_while_building_the_datamodule_is_one_line(workdir, capsys):
    spring = [a if not a.endswith("pairs.yaml") else str(REPO / "styles" / "spring.yaml") for a in TINY]
    line = run_error(["fit", *spring, "--data.action", "nope.cube"], capsys)
    assert line.startswith("error: action file nope.cube does not exist")


def test_main_leaves_the_callers_warning_settings_alone(workdir, capsys):
    formatwarning, filters = warnings.formatwarning, list(warnings.filters)
    run_error(["stylize", "--ckpt", "x", "--input", str(workdir / "none"), "--output", "out"], capsys)
    assert warnings.formatwarning is formatwarning and warnings.filters == filters

"""End to end through the ``lumastyle`` command: fit -> validate/test/predict -> stylize, and error lines."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from lumastyle.cli import main
from lumastyle.heads import QuadraticHead
from lumastyle.io import read_image, write_image
from lumastyle.predictions import RECORD

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--config", str(REPO / "styles" / "pairs.yaml"),
    "--config", str(REPO / "configs" / "cpu-scratch.yaml"),
    "--model.backbone.width", "0.0625",
    "--model.context.pad", "8",
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
    tiny = [a for a in TINY if a not in ("--trainer.enable_model_summary", "false")]  # run.yaml's default
    caplog.set_level("INFO")
    main(["fit", *tiny, "--data.root", str(root), "--trainer.max_epochs", "2"])
    said = "".join(capfd.readouterr()) + caplog.text
    assert "Trainer.fit` stopped" in said and "litlogger" not in said and "LeafSpec" not in said
    # quiet by default: no seed, accelerator or model-summary lines; the end says where the run went
    assert not any(w in said for w in ("Seed set to", "GPU available", "TPU available", "Total Flops", "Params"))
    assert "run saved in runs/pairs/version_0" in said and "best checkpoint runs/pairs/version_0/checkpoints/best-" in said
    assert "lumastyle stylize --ckpt runs/pairs/version_0 " in said
    run = workdir / "runs" / "pairs" / "version_0"
    trained_config = (run / "config.yaml").read_text()
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
    # test and predict of the run's checkpoint write into the run's own folder; validate opens its own
    said = capfd.readouterr().out
    assert "test metrics added to runs/pairs/version_0/metrics.csv" in said
    predicted = sorted(p.name for p in (run / "predictions").glob("p*.png"))
    assert predicted and f"wrote {len(predicted)} photo(s) to runs/pairs/version_0/predictions" in said
    assert sorted(p.name for p in (workdir / "runs" / "pairs").glob("version_*")) == ["version_0", "version_1"]
    assert (run / "config.yaml").read_text() == trained_config  # theirs: test-config.yaml, predict-config.yaml
    assert (run / "test-config.yaml").is_file() and (run / "predict-config.yaml").is_file()
    assert "lr-Adam/pg1" in (run / "metrics.csv").read_text()  # the learning rate is logged
    tested = [
        p.read_text() for p in workdir.glob("runs/pairs/version_*/metrics.csv") if "test/" in p.read_text()
    ]
    header = tested[0].splitlines()[0].split(",")
    assert {"test/lab_distance", "test/delta_e76", "test/ciede2000", "test/psnr", "test/ssim"} <= set(header)

    # stylize: a folder with mixed formats and sizes, names and sizes kept
    photos = workdir / "photos"
    write_image(photos / "big.jpg", torch.rand(3, 150, 230))
    write_image(photos / "deep.png", torch.rand(3, 20, 30), bit_depth=16)
    write_image(photos / "flat.tif", torch.rand(3, 17, 9))
    main(["stylize", "--ckpt", str(last), "--input", str(photos), "--output", str(workdir / "out")])
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["big.jpg", "deep.png", "flat.tif"]
    assert read_image(workdir / "out" / "big.jpg")[0].shape == (3, 150, 230)
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
    assert not (workdir / "runs" / "pairs").exists()  # nothing written, no empty run folder left


def test_offline_imagenet_names_the_flag(workdir, pair_factory, capsys, monkeypatch):
    from torchvision.models import VGG16_Weights

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(type(VGG16_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    root = pair_factory(workdir / "pairs", n=3)
    line = run_error(
        ["fit", "--config", str(REPO / "styles" / "pairs.yaml"), "--data.root", str(root)], capsys
    )
    # the command that works here: the one given, the CPU preset after its style (bundled weights)
    preset = REPO / "configs" / "cpu-small.yaml"  # the repository's (the test runs outside it)
    command = f"lumastyle fit --config {REPO / 'styles' / 'pairs.yaml'} --config {preset} --data.root {root}"
    assert f"lumastyle: {command} (" in line and "(no network)" in line
    assert "minutes on 2 CPU cores" in line and "--model.backbone.weights FILE" in line


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
    # the run is named after the look it learned, not the style file it started from
    config = (workdir / "runs" / "look" / "version_0" / "config.yaml").read_text()
    assert "look.cube" in config
    assert not (workdir / "runs" / "spring" / "version_1").exists()


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


def test_predict_and_stylize_write_identical_files(workdir, pair_factory):
    """Same photos, same checkpoint: predict writes what stylize writes, format and bit depth included."""
    root = pair_factory(workdir / "pairs", n=6, size=(48, 64))
    write_image(root / "input" / "p3.png", read_image(root / "input" / "p3.png")[0], bit_depth=16)
    write_image(root / "input" / "p4.tif", read_image(root / "input" / "p4.png")[0])
    os.remove(root / "input" / "p4.png")
    write_image(root / "input" / "p5.jpg", read_image(root / "input" / "p5.png")[0])
    os.remove(root / "input" / "p5.png")
    (root / "train.txt").write_text("p0\np1\n")
    (root / "val.txt").write_text("p2\n")
    (root / "test.txt").write_text("p3\np4\np5\n")
    small = [*TINY, "--data.root", str(root), "--data.long_side", "40"]  # context cap below photo size
    # a closed-form start linear in the colour context, its ridge chosen on val.txt's one photo
    small += ["--model.closed_form_start", "true", "--model.color_context.blur_radii", "[4.0]",
              "--model.color_context.linear", "true"]  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["fit", *small, "--trainer.max_epochs", "1"])
    said = [str(w.message) for w in caught if "closed-form start" in str(w.message)]
    assert len(said) == 1 and "chosen on 1 validation photo(s)" in said[0] and "val.txt" in said[0]
    last = workdir / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt"
    main(["predict", *small, "--ckpt_path", str(last)])
    predicted = workdir / "runs" / "pairs" / "version_0" / "predictions"  # the run's own folder
    photos = workdir / "test_photos"
    for name in ("p3.png", "p4.tif", "p5.jpg"):
        photos.mkdir(exist_ok=True)
        (photos / name).write_bytes((root / "input" / name).read_bytes())
    # one photo at a time, as predict goes: batching three same-size photos changes the float rounding
    # of the network's matrix products on some CPUs (one value in 3 photos, 1/65535 in a 16-bit PNG,
    # on an Intel Xeon); test_stylize_batches_photos_of_one_size_with_the_same_pixels covers batching
    main(["stylize", "--ckpt", str(last), "--input", str(photos), "--output", str(workdir / "styled"),
          "--batch_size", "1"])  # fmt: skip
    names = sorted(p.name for p in predicted.iterdir() if p.name != RECORD)  # (which checkpoint wrote them)
    assert names == sorted(p.name for p in (workdir / "styled").iterdir()) == ["p3.png", "p4.tif", "p5.jpg"]
    for name in names:
        assert (predicted / name).read_bytes() == (workdir / "styled" / name).read_bytes(), name
    assert read_image(predicted / "p3.png")[1] == 16


def test_default_root_dir_moves_everything(workdir, pair_factory):
    root = pair_factory(workdir / "pairs", n=4)
    main(
        [
            "fit",
            *TINY,
            "--data.root",
            str(root),
            "--trainer.max_epochs",
            "1",
            "--trainer.default_root_dir",
            "exp",
        ]
    )
    run = workdir / "exp" / "pairs" / "version_0"
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "metrics.csv").is_file()
    assert (run / "config.yaml").is_file()
    assert not (workdir / "runs").exists()


def test_logger_name_given_by_the_user_is_kept(workdir, pair_factory):
    root = pair_factory(workdir / "pairs", n=4)
    main(
        ["fit", *TINY, "--data.root", str(root), "--trainer.max_epochs", "1", "--trainer.logger.name", "mine"]
    )
    assert (workdir / "runs" / "mine" / "version_0" / "checkpoints" / "last.ckpt").is_file()


class TestOptimiserChannel:
    def fit(self, root: Path, *extra: str) -> dict:
        main(["fit", *TINY, "--data.root", str(root), "--trainer.max_epochs", "1", *extra])
        ckpt = torch.load(next(Path("runs").glob("*/version_*/checkpoints/last.ckpt")), weights_only=True)
        return ckpt["optimizer_states"][0]["param_groups"]

    def test_optimizer_block_reaches_every_group(self, workdir, pair_factory):
        root = pair_factory(workdir / "pairs", n=4)
        groups = self.fit(
            root,
            "--optimizer", "torch.optim.AdamW",
            "--optimizer.lr", "0.01",
            "--optimizer.weight_decay", "0.02",
            "--lr_scheduler", "null",
            "--model.backbone.lr_scale", "0.5",
        )  # fmt: skip
        assert [g["lr"] for g in groups] == pytest.approx([0.01, 0.005])
        assert [g["weight_decay"] for g in groups] == [0.02, 0.02]

    def test_default_is_adam_with_warmup(self, workdir, pair_factory):
        root = pair_factory(workdir / "pairs", n=4)
        groups = self.fit(root, "--trainer.limit_train_batches", "2")
        # cpu-scratch.yaml sets lr 2e-3 (Adam); two steps into the 20-step warm-up the rate is still ramping
        assert groups[0]["initial_lr"] == pytest.approx(2e-3)
        assert 0 < groups[0]["lr"] <= 2e-3 * 3 / 20

    @pytest.mark.parametrize("key", ["lr", "weight_decay", "warmup_steps", "backbone_lr", "hidden"])
    def test_old_model_keys_are_refused(self, workdir, key, capsys):
        with pytest.raises(SystemExit):
            main(["fit", *TINY, "--data.root", "x", f"--model.{key}", "1"])
        assert key in capsys.readouterr().err


def test_head_from_the_users_module(workdir, pair_factory):
    root = pair_factory(workdir / "pairs", n=4)
    main(
        [
            "fit", *TINY, "--data.root", str(root), "--trainer.max_epochs", "1",
            "--model.head.class_path", f"{__name__}.WideHead",
            "--model.head.init_args.width", "12",
        ]
    )  # fmt: skip
    last = workdir / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt"
    from lumastyle.model import LumaStyle

    head = LumaStyle.from_checkpoint(last).network.head
    assert type(head) is WideHead and head.pixel_in.out_channels == 12


@pytest.mark.parametrize("name", ["affine", "lut_blend"])
def test_short_head_name(workdir, pair_factory, name):
    root = pair_factory(workdir / "pairs", n=4)
    main(["fit", *TINY, "--data.root", str(root), "--trainer.max_epochs", "1", "--model.head", name])
    from lumastyle.heads import HEADS
    from lumastyle.model import LumaStyle

    last = workdir / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt"
    assert type(LumaStyle.from_checkpoint(last).network.head) is HEADS[name]


def test_evaluating_a_checkpoint_downloads_nothing(
    quick_checkpoint, workdir, pair_factory, no_download, as_if_trained_from_imagenet
):
    """A checkpoint of the pairs style (the shared quick run's, a copy marked as trained from ImageNet
    weights) is validated with no download."""
    root = pair_factory(workdir / "pairs", n=4)
    last = as_if_trained_from_imagenet(Path(shutil.copy(quick_checkpoint, workdir / "last.ckpt")))
    main(["validate", *TINY, "--data.root", str(root), "--ckpt_path", str(last)])


class WideHead(QuadraticHead):
    """A head defined in a user's module (here, this test module)."""

    def __init__(self, context_channels: int, num_scales: int, width: int = 8) -> None:
        super().__init__(context_channels, num_scales, hidden=(width, width))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--trainer.max_epochs", "x"],
            "error: trainer.max_epochs: expected int, got 'x'; see 'lumastyle fit --help'",
        ),
        (["--model.backbone.top_channels", "wide"], "error: model.backbone.top_channels: expected int, got 'wide'"),
        (["--optimizer.lr", "fast"], "error: optimizer.lr: expected float, got 'fast'"),
        (
            ["--data.on_bad_file", "ignore"],
            "error: data.on_bad_file: expected one of 'error', 'skip', got 'ignore'",
        ),
        (
            ["--data.nosuch", "1"],
            "error: data.nosuch: no such option of lumastyle.data.PairDataModule; "
            "see 'lumastyle fit --data.help PairDataModule'",
        ),
        (
            ["--data.crop_sise", "32"],
            "error: data.crop_sise: no such option of lumastyle.data.PairDataModule (did you mean "
            "'--data.crop_size'?); see 'lumastyle fit --data.help PairDataModule'",
        ),
        (["--model.nosuch", "1"], "error: unrecognized arguments: --model.nosuch 1"),
        (
            ["--model.head", "nosuch"],
            "error: unknown head 'nosuch'; choose one of: affine, lut_blend, quadratic",
        ),
        (
            ["--model.backbone.freeze", "some"],
            "error: model.backbone.freeze: expected one of 'none', 'conv1-conv5', 'conv1-conv7', 'features', 'all'",
        ),
        (
            ["--model.context.scales", "[]"],
            "error: model.context.scales [] has no backbone, so model.backbone.width, model.context.pad would do nothing",
        ),
    ],
)
def test_config_mistakes_are_one_line(workdir, pair_factory, capsys, args, says, tally):
    root = pair_factory(workdir / "pairs", n=3)
    line = run_error(["fit", *TINY, "--data.root", str(root), *args], capsys)
    assert line.startswith(says)
    tally("config mistakes named in one line")


def test_unknown_key_in_a_config_file_is_one_line(workdir, pair_factory, capsys):
    (workdir / "mine.yaml").write_text("model:\n  backbone_widht: 0.5\n")
    root = pair_factory(workdir / "pairs", n=3)
    line = run_error(["fit", *TINY, "--config", "mine.yaml", "--data.root", str(root)], capsys)
    assert line.startswith("error: Subcommand 'fit' does not accept option 'model.backbone_widht'")


@pytest.mark.parametrize("command", ["fit", "validate", "test", "predict"])
def test_a_checkpoint_of_another_model_or_a_newer_format_is_one_line(workdir, pair_factory, capsys, command):
    root = pair_factory(workdir / "pairs", n=3)
    torch.save(
        {"state_dict": {"fc.weight": torch.zeros(2, 2)}, "epoch": 0, "hyper_parameters": {"lr": 1}},
        "other.ckpt",
    )
    line = run_error([command, *TINY, "--data.root", str(root), "--ckpt_path", "other.ckpt"], capsys)
    assert line == "error: other.ckpt: not a lumastyle checkpoint (no model state or lumastyle section)"
    torch.save({"state_dict": {}, "lumastyle": {"format": 99}}, "newer.ckpt")
    line = run_error([command, *TINY, "--data.root", str(root), "--ckpt_path=newer.ckpt"], capsys)
    assert line == "error: newer.ckpt: written by a newer lumastyle (format 99); upgrade lumastyle"


def test_stylize_batches_photos_of_one_size_with_the_same_pixels(
    quick_checkpoint, workdir, photo, monkeypatch
):
    """Photos sharing a size go through the network together (2 batches for 3 + 1 same-size photos at
    batch size 3, and one for the odd size), and each output equals the photo stylized alone."""
    for k in range(4):
        write_image(workdir / "in" / f"a{k}.png", photo(30, 44, seed=k))
    write_image(workdir / "in" / "b.png", photo(44, 30, seed=9))
    from lumastyle.loading import TrainedNetwork

    sizes = []
    real = TrainedNetwork.stylize
    monkeypatch.setattr(
        TrainedNetwork, "stylize", lambda self, rgb, *a, **k: sizes.append(tuple(rgb.shape)) or real(self, rgb, *a, **k)
    )
    stylize = ["stylize", "--ckpt", str(quick_checkpoint), "--input", "in"]
    main([*stylize, "--output", "batched", "--batch_size", "3"])
    assert sorted(sizes) == [(1, 3, 30, 44), (1, 3, 44, 30), (3, 3, 30, 44)]
    main([*stylize, "--output", "alone", "--batch_size", "1"])
    for name in ("a0.png", "a1.png", "a2.png", "a3.png", "b.png"):
        assert torch.equal(
            read_image(workdir / "batched" / name)[0], read_image(workdir / "alone" / name)[0]
        ), name


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "error: no command given; use one of: fit, validate, test, predict, stylize, action apply"),
        (["fitt"], "error: unknown command 'fitt' (did you mean 'fit'?); use one of: fit, validate"),
        (["stylize", "--nosuch"], "error: unrecognized arguments: --nosuch; see 'lumastyle stylize --help'"),
        (
            ["action", "apply"],
            "error: the following arguments are required: recipe, input, output; see 'lumastyle action apply --help'",
        ),
        (["stylise"], "error: unknown command 'stylise' (did you mean 'stylize'?); use one of: fit,"),
        (["action", "aply"], "error: unknown command 'action aply' (did you mean 'action apply'?)"),
        (["action"], "error: no command given after 'action'; use: action apply"),
        (
            ["stylize", "--ckp", "x", "--input", "a", "--output", "b"],
            "error: unrecognized arguments: --ckp x (did you mean '--ckpt'?); see 'lumastyle stylize --help'",
        ),
        (
            ["fit", "--trainer.max_epoch", "1"],
            "error: unrecognized arguments: --trainer.max_epoch 1 (did you mean '--trainer.max_epochs'?)",
        ),
        (["fit", "--trainer.nosuch", "1"], "error: unrecognized arguments: --trainer.nosuch 1; see"),  # none near
        (["export", "x", "--format", "torchscript"], "error: format: expected one of 'onnx', 'pt2'"),
    ],
)
def test_command_line_mistakes_are_one_line(workdir, capsys, argv, says):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and err.startswith(says) and "\n" not in err


def _help(argv: list[str], capsys) -> str:
    try:
        main(argv)
    except SystemExit as done:  # jsonargparse's --help exits 0
        assert done.code in (0, None)
    return capsys.readouterr().out


def test_help_lists_every_command_with_one_sentence(capsys):
    """`lumastyle --help` is lumastyle's page: every command LightningCLI and main() run, each with a
    sentence that ends; `lumastyle action --help` lists apply; each command's own --help opens with it."""
    from lumastyle.cli import COMMANDS, EXTRA_COMMANDS, SUBCOMMANDS

    page = _help(["--help"], capsys)
    assert "Lightning Trainer" not in page and page.startswith("usage: lumastyle")
    flat = " ".join(page.split())
    runnable = [(sub,) for sub in SUBCOMMANDS] + list(EXTRA_COMMANDS)
    assert sorted(COMMANDS) == sorted(runnable)
    for words in runnable:
        sentence = COMMANDS[words]
        assert sentence.endswith(".") and sentence.count(". ") == 0, words
        assert f"{' '.join(words)} {sentence}" in flat, words
    assert "lumastyle fit --config styles/spring.yaml --config configs/cpu-small.yaml" in page  # README's first run
    action = " ".join(_help(["action", "--help"], capsys).split())
    assert f"apply {COMMANDS['action', 'apply']}" in action
    for words in (("fit",), *EXTRA_COMMANDS):  # each named function is found, and its help opens with it
        own = " ".join(_help([*words, "--help"], capsys).split())
        assert COMMANDS[words] in own, words
    fit = " ".join(_help(["fit", "--help"], capsys).split())
    assert "'lumastyle fit --data.help PairDataModule'" in fit  # where --data.root and the rest are
    # no group of options titled with a docstring's first line cut mid-sentence
    for words in (("test",), ("report",)):
        titles = [line for line in _help([*words, "--help"], capsys).splitlines() if line.endswith(":")]
        assert not any(t.endswith((",:", "your:")) for t in titles), titles


def test_export_help_offers_only_the_formats_export_writes(capsys):
    import re

    from lumastyle.export import _SUFFIX

    usage = _help(["export", "--help"], capsys)
    offered = re.search(r"--format \{([^}]*)\}", usage).group(1).split(",")
    assert sorted(offered) == sorted(_SUFFIX)


@pytest.mark.parametrize(
    ("names", "says"),
    [
        (["out/a.png"], "wrote out/a.png"),
        (["out/a.png", "out/b.jpg", "out/sub/c.tif"], "wrote 3 files to out"),
        (["out/r/index.html", "out/r/000-input.jpg"], "wrote 2 files to out/r; open out/r/index.html"),
    ],
)
def test_wrote_line_names_the_file_or_the_folder_and_count(workdir, names, says):
    from lumastyle.messages import wrote_line

    assert wrote_line([Path(n) for n in names]) == says


def test_stylize_takes_a_run_folder_as_report_does(quick_checkpoint, workdir, photo, capsys, monkeypatch):
    """--ckpt runs/NAME: the newest version's best checkpoint (else its last.ckpt), what report uses."""
    from lumastyle.runs import find_checkpoint

    old = workdir / "runs" / "mine" / "version_0" / "checkpoints"
    new = workdir / "runs" / "mine" / "version_1" / "checkpoints"
    for folder in (old, new):
        folder.mkdir(parents=True)
        shutil.copy(quick_checkpoint, folder / "last.ckpt")
    best = Path(shutil.copy(quick_checkpoint, new / "best-0-1.ckpt"))
    os.utime(old, (1, 1))  # version_0 is the older run
    assert find_checkpoint("runs/mine").resolve() == find_checkpoint("runs/mine/version_1").resolve() == best
    assert find_checkpoint("runs/mine/version_0").resolve() == old / "last.ckpt"
    from lumastyle import stylize as stylize_module

    loaded = []
    real = stylize_module.load_network
    monkeypatch.setattr(stylize_module, "load_network", lambda p, device: loaded.append(p) or real(p, device))
    write_image(workdir / "in" / "a.png", photo(20, 28, seed=1))
    main(["stylize", "--ckpt", "runs/mine", "--input", "in/a.png", "--output", "by_folder"])
    assert capsys.readouterr().out.strip() == "wrote by_folder/a.png"
    assert [Path(p).resolve() for p in loaded] == [best]
    line = run_error(["stylize", "--ckpt", "in", "--input", "in", "--output", "o"], capsys)
    assert "in has no version_*/checkpoints" in line


def test_a_style_that_sets_no_head_trains_the_default_one(workdir, pair_factory):
    """A style file may hold its data alone: the model's defaults fill the rest, the paper's head too."""
    root = pair_factory(workdir / "pairs", n=4)
    (workdir / "mine.yaml").write_text(f"data:\n  class_path: PairDataModule\n  init_args:\n    root: {root}\n")
    assert TINY[:2] == ["--config", str(REPO / "styles" / "pairs.yaml")]  # the style, which sets a head
    main(["fit", "--config", "mine.yaml", *TINY[2:], "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1"])
    from lumastyle.model import LumaStyle

    last = next(Path("runs").glob("*/version_0/checkpoints/last.ckpt"))
    assert type(LumaStyle.from_checkpoint(last).network.head) is QuadraticHead

"""Shared fixtures: tiny photos and pair folders the tests make themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lumastyle.io import write_image

REPO = Path(__file__).resolve().parents[1]
#: The smallest quick run through the CLI: the CPU-scratch preset at 1/16 width on 32-pixel crops,
#: no workers, no progress bar (add the style and the data).
QUICK = [
    "--config", str(REPO / "configs" / "cpu-scratch.yaml"),
    "--model.backbone.width", "0.0625", "--model.context.pad", "8", "--data.crop_size", "32",
    "--data.num_workers", "0", "--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false",
]  # fmt: skip


#: ``train``'s options for a model whose transform depends on colour alone (no context at all): no
#: backbone, so the quick preset's backbone width and padding go back to their defaults (set with
#: scales [] they would do nothing, which is refused)
COLOUR_ONLY = ["--model.context.scales", "[]", "--model.backbone.width", "1.0", "--model.context.pad", "32"]


def train(work: Path, name: str, *extra: str) -> Path:
    """Fit the quick preset for one epoch on 6 toy pairs made in ``work`` (``extra``: more options);
    the run's last checkpoint."""
    from lumastyle.cli import main

    root = make_pairs(work / "pairs", n=6)
    main(["fit", "--config", "pairs", *QUICK, "--trainer.max_epochs", "1", "--data.root", str(root),
          "--trainer.default_root_dir", str(work / "runs"), "--trainer.logger.name", name, *extra])  # fmt: skip
    return work / "runs" / name / "version_0" / "checkpoints" / "last.ckpt"


def smooth_photo(h: int, w: int, seed: int) -> torch.Tensor:
    """A small photo-like image: smooth colour gradients plus mild noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, 1, 1, generator=g) * 0.6 + 0.2
    ys = torch.linspace(0, 1, h).view(1, h, 1)
    xs = torch.linspace(0, 1, w).view(1, 1, w)
    tilt = torch.rand(3, 1, 1, generator=g) - 0.5
    image = base + tilt * (ys - xs) + 0.05 * torch.rand(3, h, w, generator=g)
    return image.clamp(0, 1)


def toy_style(rgb: torch.Tensor) -> torch.Tensor:
    """A learnable global style: warmer, brighter midtones."""
    gains = torch.tensor([1.0, 0.92, 0.78]).view(3, 1, 1)
    return (rgb.clamp(0, 1) ** 0.75 * gains).clamp(0, 1)


def make_pairs(root: Path, n: int = 6, size: tuple[int, int] = (40, 56), suffix: str = ".png") -> Path:
    """root/input/pK<suffix> and root/target/pK.png for K < n, targets rendered with ``toy_style``."""
    for k in range(n):
        rgb = smooth_photo(*size, seed=k)
        write_image(root / "input" / f"p{k}{suffix}", rgb)
        write_image(root / "target" / f"p{k}.png", toy_style(rgb))
    return root


@pytest.fixture(autouse=True, scope="session")
def _context_cache_in_tmp(tmp_path_factory):
    """Context caches the tests build go to a temporary folder, never the user's ~/.cache; W&B is off
    (the tests of the W&B logger run it offline in a subprocess of their own)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LUMASTYLE_CACHE", str(tmp_path_factory.mktemp("context-cache")))
    mp.setenv("WANDB_MODE", "disabled")
    yield
    mp.undo()


@pytest.fixture
def pairs_root(tmp_path: Path) -> Path:
    return make_pairs(tmp_path / "pairs")


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param


@pytest.fixture
def pair_factory():
    """The :func:`make_pairs` function, for tests that need their own layout."""
    return make_pairs


@pytest.fixture
def photo():
    """The :func:`smooth_photo` function."""
    return smooth_photo


@pytest.fixture
def style():
    """The :func:`toy_style` function."""
    return toy_style


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to download ImageNet weights fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr("lumastyle.backbone._download_imagenet_state_dict", refuse)


def mark_imagenet(checkpoint: Path) -> Path:
    """Rewrite a checkpoint's hyperparameters as the paper's full model records them (imagenet weights)."""
    state = torch.load(checkpoint, weights_only=True)
    state["hyper_parameters"]["backbone"]["weights"] = "imagenet"
    torch.save(state, checkpoint)
    return checkpoint


@pytest.fixture
def as_if_trained_from_imagenet():
    """The :func:`mark_imagenet` function."""
    return mark_imagenet


# -- what the reliability tests tried (printed at the end of the test run) -------------------------

#: kind of thing tried -> how many (malformed files of each kind, kills and resumes, failed writes)
TRIED: dict[str, int] = {}
_RELIABILITY = {"tests": 0, "failed": 0}


@pytest.fixture
def tally():
    """``tally(kind, n)`` counts what a reliability test tried; call it after the test's assertions,
    so only what behaved is counted. The counts are printed when the test run ends."""

    def add(kind: str, n: int = 1) -> None:
        TRIED[kind] = TRIED.get(kind, 0) + n

    return add


def pytest_runtest_logreport(report):
    if report.when == "call" and "tally" in getattr(report, "fixturenames", ()):
        _RELIABILITY["tests"] += 1
        _RELIABILITY["failed"] += int(report.failed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().fixturenames = tuple(getattr(item, "fixturenames", ()))


def pytest_terminal_summary(terminalreporter):
    if not TRIED and not _RELIABILITY["tests"]:
        return
    tried = ", ".join(f"{n} {kind}" for kind, n in sorted(TRIED.items()))
    if _RELIABILITY["failed"]:
        verdict = f"{_RELIABILITY['failed']} of {_RELIABILITY['tests']} reliability tests FAILED"
    else:
        verdict = (
            f"all {_RELIABILITY['tests']} reliability tests passed: each file loaded or was refused in "
            "lumastyle's one line, each kill resumed to the uninterrupted result, nothing was lost or left partial"
        )
    terminalreporter.write_line(f"reliability: tried {tried}; {verdict}")


@pytest.fixture(scope="session")
def quick_checkpoint(tmp_path_factory) -> Path:
    """last.ckpt of one quick epoch of the pairs style on 4 tiny pairs (for stylize tests)."""
    import os

    from lumastyle.cli import main

    workdir = tmp_path_factory.mktemp("quick-run")
    root = make_pairs(workdir / "pairs", n=4)
    old = Path.cwd()
    os.chdir(workdir)
    try:
        main(
            [
                "fit",
                "--config",
                str(REPO / "styles" / "pairs.yaml"),
                *QUICK,
                "--data.root",
                str(root),
                "--trainer.max_epochs",
                "1",
            ]
        )
    finally:
        os.chdir(old)
    return workdir / "runs" / "pairs" / "version_0" / "checkpoints" / "last.ckpt"

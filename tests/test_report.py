"""``lumastyle report``: the page of a run's test photos, and of two runs side by side, opened in a
real headless browser (Chromium from Debian's packages; skipped where none is installed): every image
loads and the rows sort."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import QUICK, make_pairs

from lumastyle.cli import main
from lumastyle.errors import LumastyleError
from lumastyle.report import find_run

REPO = Path(__file__).resolve().parents[1]
TINY = ["--config", "pairs", *QUICK, "--data.crops_per_image", "1"]  # 2 steps an epoch (the preset's 4 crops: 8)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two short runs on the same 20 pairs (2 test photos in the seeded 80/10/10 split)."""
    work = tmp_path_factory.mktemp("report")
    root = make_pairs(work / "pairs", n=20)
    for epochs, name in ((1, "short"), (3, "longer")):
        main(["fit", *TINY, "--data.root", str(root), "--trainer.max_epochs", str(epochs),
              "--trainer.default_root_dir", str(work / "runs"), "--trainer.logger.name", name])  # fmt: skip
    return work / "runs"


def dom(page: Path, query: str = "") -> str:
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no Chromium here (apt-get install chromium)")
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom",
         f"{page.as_uri()}{query}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def errors_in_order(html: str, letter: str) -> list[float]:
    return [float(v) for v in re.findall(rf'data-error{letter}="([0-9.]+)"', html)]


def test_one_run(runs: Path):
    main(["report", str(runs / "short")])
    page = runs / "short" / "version_0" / "report" / "index.html"
    text = page.read_text()
    assert text.count("<tr data-name=") == 2 and "config.yaml" in text and "validation Lab distance" in text
    shown = dom(page, "?sort=error-a")
    loaded = re.search(r'data-images="(\d+)/(\d+)"', shown)
    assert loaded and loaded.group(1) == loaded.group(2) == str(2 * 4)  # input, target, prediction, error
    order = errors_in_order(shown, "a")
    assert order == sorted(order, reverse=True) and 'data-sorted="error-a"' in shown
    by_name = re.findall(r'<tr data-name="([^"]+)"', dom(page, "?sort=name"))
    assert by_name == sorted(by_name)


def test_two_runs_side_by_side(runs: Path, tmp_path: Path):
    main(
        [
            "report",
            str(runs / "short"),
            str(runs / "longer" / "version_0"),
            "--output",
            str(tmp_path / "both"),
        ]
    )
    shown = dom(tmp_path / "both" / "index.html", "?sort=error-diff")
    assert re.search(r'data-images="12/12"', shown)  # 2 photos x (input, target, 2 predictions, 2 errors)
    a, b = errors_in_order(shown, "a"), errors_in_order(shown, "b")
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    assert diffs == sorted(diffs, reverse=True) and "Run B" in shown


def test_not_a_run_is_one_line(tmp_path: Path):
    with pytest.raises(LumastyleError, match=r"neither a \.ckpt file nor a run folder"):
        find_run(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LumastyleError, match="has no version_"):
        find_run(tmp_path / "empty")

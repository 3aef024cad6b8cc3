"""``lumastyle report``: the page of a run's test photos, and of two runs side by side, opened in a
real headless browser (Chromium from Debian's packages; skipped where none is installed): every image
loads and the rows sort."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
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


def dom(page: Path, query: str = "", timeout: float = 120) -> str:
    """The page's DOM after its scripts ran, as headless Chromium has it. A page that hangs (an
    ``alert()`` waits for a click) fails the test after ``timeout`` seconds."""
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no Chromium here (apt-get install chromium)")
    try:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom",
             f"{page.as_uri()}{query}"],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AssertionError(f"Chromium did not finish {page} in {timeout:g} s (a script waiting, such as alert())") from None
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


def test_report_reads_what_predict_wrote_with_the_same_checkpoint(runs: Path, tmp_path: Path, monkeypatch):
    """After `lumastyle predict` with a checkpoint, its report stylizes nothing: each prediction is the
    image predict wrote, shrunk as the photo is (its error is that image's, computed here); once the
    checkpoint has changed, the report stylizes every photo again."""
    from lumastyle.color import lab_distance, rgb_to_lab
    from lumastyle.geometry import fit_long_side
    from lumastyle.io import read_image
    from lumastyle.model import LumaStyle
    from lumastyle.report import _datamodule

    checkpoint = runs / "short" / "version_0" / "checkpoints" / "last.ckpt"
    main(["predict", *TINY, "--data.root", str(runs.parent / "pairs"), "--ckpt_path", str(checkpoint),
          "--trainer.default_root_dir", str(runs), "--trainer.logger.name", "short"])  # fmt: skip
    predictions = sorted((runs / "short").glob("version_*/predictions/*.png"))
    assert len(predictions) == 2

    calls = []
    stylize = LumaStyle.stylize
    monkeypatch.setattr(LumaStyle, "stylize", lambda self, *a, **k: calls.append(1) or stylize(self, *a, **k))
    main(["report", str(checkpoint), "--output", str(tmp_path / "reused")])
    assert calls == []
    dm = _datamodule(find_run(checkpoint))
    expected = {}
    for ex in dm.splits["test"]:
        _, target = ex.load(dm.long_side)
        written = next(p for p in predictions if p.stem == ex.input.stem)
        shown = fit_long_side(read_image(written)[0], dm.long_side)
        expected[ex.name] = lab_distance(rgb_to_lab(shown), rgb_to_lab(target)).mean().item()
    page = (tmp_path / "reused" / "index.html").read_text()
    shown_errors = dict(re.findall(r'data-name="([^"]+)" data-errora="([0-9.]+)"', page))
    assert shown_errors.keys() == expected.keys()
    for name, error in expected.items():
        assert float(shown_errors[name]) == pytest.approx(error, abs=1e-5)

    state = torch.load(checkpoint, weights_only=True)  # the checkpoint changes (as after another epoch)
    state["state_dict"]["network.head.out.bias"] += 0.05
    torch.save(state, checkpoint)
    main(["report", str(checkpoint), "--output", str(tmp_path / "again")])
    assert len(calls) == 2


def test_untrusted_names_show_as_text(runs: Path, tmp_path: Path, tally):
    """A test photo named like markup (``x<img src=x onerror=alert(1)>``), a run folder and a data
    folder whose names hold markup, a config value and a metrics.csv column with markup: the page
    shows each as text. In Chromium no element comes from them (the page's images are exactly its
    pictures, all loaded) and no handler of theirs ran (they would set the title)."""
    import yaml

    photo = "x<img src=x onerror=alert(1)>"
    run_name = "run<img src=y onerror=\"document.title='run'\">"
    root = tmp_path / "pairs<svg onload=\"document.title='root'\">"
    shutil.copytree(runs.parent / "pairs", root)
    stems = sorted(p.stem for p in (root / "input").iterdir())
    for kind in ("input", "target"):
        (root / kind / f"{stems[0]}.png").rename(root / kind / f"{photo}.png")
    (root / "train.txt").write_text("\n".join(stems[2:]) + "\n")
    (root / "test.txt").write_text(f"{photo}\n{stems[1]}\n")
    run = tmp_path / run_name / "version_0"
    shutil.copytree(runs / "short" / "version_0", run, ignore=shutil.ignore_patterns("report", "predictions"))
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"]["init_args"]["root"] = str(root)
    config["note"] = "</pre><script>document.title='config'</script>"
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    metrics = (run / "metrics.csv").read_text().splitlines()
    (run / "metrics.csv").write_text("\n".join([metrics[0] + ",<b onmouseover=x>"] + [m + "," for m in metrics[1:]]) + "\n")

    main(["report", str(tmp_path / run_name), "--output", str(tmp_path / "page")])
    page = tmp_path / "page" / "index.html"
    shown = dom(page, timeout=40)  # an alert() of the photo's name would hang it
    assert re.search(r"<title>lumastyle report</title>", shown)  # no handler renamed the page
    assert re.search(r'data-images="8/8"', shown)  # 2 photos x 4 pictures: no <img> of a name's
    assert "x&lt;img src=x onerror=alert(1)&gt;" in shown  # the photo's name, as text
    assert "run&lt;img src=y onerror=\"document.title='run'\"&gt;" in shown
    assert "&lt;/pre&gt;&lt;script&gt;document.title='config'&lt;/script&gt;" in shown
    assert "<svg" not in shown and "<script>document" not in shown
    order = re.findall(r'<tr data-name="([^"]+)"', dom(page, "?sort=name"))
    assert sorted(order) == order and len(order) == 2  # the name still sorts as an attribute value
    tally("report pages with markup names shown as text in Chromium")


def test_predicts_record_is_rewritten_at_most_every_few_seconds_and_at_the_end(tmp_path: Path):
    """A catalogue of N photos rewrites the record a bounded number of times, not once a batch (N
    rewrites of a growing file); the end of predict writes what the last batches added."""
    from lumastyle.predictions import PredictionRecord, written_predictions

    checkpoint, photos = tmp_path / "model.ckpt", []
    checkpoint.write_bytes(b"weights")
    record = PredictionRecord.begin(tmp_path, checkpoint)
    for k in range(3):
        photo, image = tmp_path / f"p{k}.png", tmp_path / f"out{k}.png"
        photo.write_bytes(bytes([k]))
        image.write_bytes(b"image")
        photos.append(photo)
        record.add(image, photo)
        record.save(every=3600)
    assert written_predictions([tmp_path], checkpoint) == {}  # saved empty by begin(), not since
    record.save()
    assert len(written_predictions([tmp_path], checkpoint)) == 3

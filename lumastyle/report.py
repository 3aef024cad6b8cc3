"""``lumastyle report``: a static HTML page of a trained run's test photos, or of two runs side by side.

For each test photo of the run's own split (rebuilt from the ``config.yaml`` beside its checkpoints):
the input, the prediction (through :func:`lumastyle.inference.stylize_tensor`, what ``stylize``
writes; or, when ``lumastyle predict`` already wrote that photo with the same checkpoint, that image,
read and shrunk as the photo is: :mod:`lumastyle.predictions`), the target and the error heatmap
(:mod:`lumastyle.panels`), with the photo's mean per-pixel Lab distance; rows sort by name, by either
run's error or by their difference (buttons, or ``index.html?sort=error-a`` and so on). The run's
validation metrics (from ``metrics.csv``) and its complete config are at the top. The page and its JPEG thumbnails go to one folder, with no script or
style loaded from elsewhere, so it opens anywhere and can be mailed or archived.
"""

from __future__ import annotations

import csv
import html
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from lumastyle.cache import file_digest
from lumastyle.checkpoints import check_checkpoint
from lumastyle.color import lab_distance, rgb_to_lab
from lumastyle.errors import LumastyleError
from lumastyle.geometry import fit_long_side
from lumastyle.io import read_image, write_image
from lumastyle.panels import ERROR_SCALE, error_map
from lumastyle.predictions import written_predictions
from lumastyle.runs import find_checkpoint

THUMBNAIL = 320  #: long side of the pictures on the page


@dataclass
class Run:
    """A trained run as the report reads it."""

    checkpoint: Path
    folder: Path  #: the version folder (checkpoints/, config.yaml, metrics.csv)
    label: str
    config: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


def find_run(path: str | Path) -> Run:
    """A run from a checkpoint, a version folder or a run folder (its newest version); the checkpoint is
    the best by validation error, else last.ckpt (:func:`lumastyle.runs.find_checkpoint`). Anything
    else raises a one-line error."""
    path = Path(path).expanduser()
    if not (path.is_dir() or (path.is_file() and path.suffix == ".ckpt")):
        raise LumastyleError(
            f"{path} is neither a .ckpt file nor a run folder; give runs/NAME or a checkpoint"
        )
    checkpoint = find_checkpoint(path)
    folder = checkpoint.parent.parent
    if not (folder / "config.yaml").is_file():
        raise LumastyleError(
            f"{folder} has no config.yaml beside checkpoints/; give a run folder written by 'lumastyle fit'"
        )
    label = f"{folder.parent.name}/{folder.name} ({checkpoint.name})"
    return Run(
        checkpoint, folder, label, (folder / "config.yaml").read_text(), _metrics(folder / "metrics.csv")
    )


def _metrics(path: Path) -> dict[str, float]:
    """The last and the best validation figures in metrics.csv."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/lab_distance")]
    if not rows:
        return {}
    values = [float(r["val/lab_distance"]) for r in rows]
    out = {"validation Lab distance (last epoch)": values[-1], "validation Lab distance (best)": min(values),
           "epochs": float(rows[-1].get("epoch") or 0) + 1}  # fmt: skip
    if rows[-1].get("val/psnr"):
        out["validation PSNR (last epoch)"] = float(rows[-1]["val/psnr"])
    return out


def _datamodule(run: Run) -> Any:
    data = yaml.safe_load(run.config).get("data") or {}
    module, _, name = str(data.get("class_path", "")).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise LumastyleError(
            f"{run.folder}/config.yaml: cannot import its DataModule {data.get('class_path')!r}; install the plugin that has it"
        ) from None
    dm = cls(**{**(data.get("init_args") or {}), "num_workers": 0})
    dm.setup()
    return dm


def _thumbnail(rgb: torch.Tensor) -> torch.Tensor:
    from lumastyle.data.base import fit_long_side

    return fit_long_side(rgb, THUMBNAIL)


def report(run: str, compare: str | None = None, output: str | None = None) -> list[Path]:
    """Write a static HTML page of a run's test photos: input, prediction, target and error map each,
    sortable by error, with the run's metrics and config; two runs side by side with ``compare``.

    Args:
        run: a run folder (runs/NAME: its newest version), a version folder, or a checkpoint.
        compare: a second run, shown beside the first on the same test photos.
        output: the folder for index.html and its pictures (default: report/ in the run's folder).
    """
    from lumastyle.model import LumaStyle

    runs = [find_run(run)] + ([find_run(compare)] if compare else [])
    folder = (
        Path(output).expanduser() if output else runs[0].folder / ("report" if not compare else "comparison")
    )
    dm = _datamodule(runs[0])
    split = "test" if dm.splits.get("test") else "val"
    examples = list(dm.splits[split])
    if not examples:
        raise LumastyleError(f"{runs[0].folder}: its data has no test or validation photos to show")
    for r in runs:
        check_checkpoint(r.checkpoint)  # a bad checkpoint stops before anything is written
    # what `lumastyle predict` wrote with each run's checkpoint is read, not stylized again; a model is
    # loaded only for the photos it did not write
    written = [_predictions_of(r) for r in runs]
    models: list[LumaStyle | None] = [None] * len(runs)
    rows = []
    files: list[Path] = []  # the pictures the page shows
    with torch.no_grad():
        for i, ex in enumerate(tqdm(examples, desc="report", unit="photo", disable=len(examples) < 3)):
            rgb, target = ex.load(dm.long_side)
            row = {"name": ex.name, "errors": [], "images": {}}
            for key, image in (("input", rgb), ("target", target)):
                row["images"][key] = _save(folder, f"{i:03d}-{key}.jpg", image, files)
            photo = file_digest(ex.input) if any(written) else ""
            for k in range(len(runs)):
                predicted = _read_prediction(written[k].get(photo), rgb, dm.long_side)
                if predicted is None:
                    model = models[k] = models[k] or LumaStyle.from_checkpoint(runs[k].checkpoint)
                    predicted = model.stylize(rgb)
                error = lab_distance(rgb_to_lab(predicted), rgb_to_lab(target)).mean().item()
                row["errors"].append(error)
                row["images"][f"prediction-{k}"] = _save(
                    folder, f"{i:03d}-prediction-{k}.jpg", predicted, files
                )
                row["images"][f"error-{k}"] = _save(
                    folder, f"{i:03d}-error-{k}.jpg", error_map(predicted, target), files
                )
            rows.append(row)
    page = folder / "index.html"
    page.write_text(_html(runs, rows, split), encoding="utf-8")
    return [page, *files]  # every file written, the page first


def _predictions_of(run: Run) -> dict[str, Path]:
    """The images ``lumastyle predict`` wrote with the run's checkpoint, in the predictions/ folder of
    any version of the run (predict writes into a version of its own), by their photo's content hash
    (:func:`lumastyle.predictions.written_predictions`)."""
    folders = [run.folder / "predictions", *sorted(run.folder.parent.glob("version_*/predictions"))]
    return written_predictions(dict.fromkeys(folders), run.checkpoint)


def _read_prediction(image: Path | None, rgb: torch.Tensor, long_side: int | None) -> torch.Tensor | None:
    """A full-resolution prediction ``image`` as the report shows ``rgb``: read as sRGB and shrunk to the
    same long side (None: no image, or it is not the photo's size)."""
    if image is None:
        return None
    predicted = fit_long_side(read_image(image)[0], long_side)
    return predicted if predicted.shape == rgb.shape else None


def _save(folder: Path, name: str, image: torch.Tensor, files: list[Path]) -> str:
    files.append(write_image(folder / name, _thumbnail(image.float().cpu())))
    return name


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } table.metrics td { padding: 0 1em 0 0; } .buttons button { margin-right: .5em; }
table.photos { border-collapse: collapse; margin-top: 1em; } table.photos td, table.photos th { padding: 4px; }
table.photos img { display: block; max-height: 150px; max-width: 210px; } .err { font-variant-numeric: tabular-nums; }
th { text-align: left; } pre { background: #f4f4f4; padding: 1em; overflow: auto; max-height: 30em; }
"""

_SCRIPT = """
const table = document.querySelector("table.photos tbody");
function sortBy(key) {
  const rows = Array.from(table.rows);
  const value = r => key === "name" ? r.dataset.name : parseFloat(r.dataset[key.replace("-", "")]);
  rows.sort((a, b) => key === "name" ? value(a).localeCompare(value(b)) : value(b) - value(a));
  rows.forEach(r => table.appendChild(r));
  document.body.dataset.sorted = key;
}
document.querySelectorAll("button[data-sort]").forEach(b => b.addEventListener("click", () => sortBy(b.dataset.sort)));
const asked = new URLSearchParams(location.search).get("sort");
if (asked) sortBy(asked);
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const ok = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.images = ok + "/" + images.length;
});
"""


def _html(runs: list[Run], rows: list[dict[str, Any]], split: str) -> str:
    e = html.escape
    two = len(runs) == 2
    letters = "ab"
    head = [f"<h1>lumastyle report: {' vs '.join(e(r.label) for r in runs)}</h1>"]
    for k, run in enumerate(runs):
        mean = sum(r["errors"][k] for r in rows) / len(rows)
        figures = {f"{split} Lab distance (mean of photos)": mean, **run.metrics}
        metric_rows = "".join(
            f"<tr><td>{e(name)}</td><td class=err>{value:.0f}</td></tr>"
            if name == "epochs"
            else f"<tr><td>{e(name)}</td><td class=err>{value:.3f}</td></tr>"
            for name, value in figures.items()
        )
        head.append(f"<h2>Run {letters[k].upper()}: {e(run.label)}</h2><table class=metrics>{metric_rows}</table>")
        head.append(f"<details><summary>config.yaml</summary><pre>{e(run.config)}</pre></details>")
    buttons = ['<button data-sort="name">by name</button>'] + [
        f'<button data-sort="error-{letters[k]}">by error{" of " + letters[k].upper() if two else ""}</button>'
        for k in range(len(runs))
    ]
    if two:
        buttons.append('<button data-sort="error-diff">by difference (A - B)</button>')
    columns = ["photo", "input", "target"] + [
        c
        for k in range(len(runs))
        for c in (f"prediction {letters[k].upper()}", f"error {letters[k].upper()}")
    ]
    body = []
    for row in rows:
        errors = row["errors"]
        data = f'data-name="{e(row["name"])}" ' + " ".join(
            f'data-error{letters[k]}="{v:.6f}"' for k, v in enumerate(errors)
        )
        if two:
            data += f' data-errordiff="{errors[0] - errors[1]:.6f}"'
        cells = [f"<td><b>{e(row['name'])}</b><br>" + "<br>".join(
            f'<span class="err">{letters[k].upper() + ": " if two else ""}{v:.2f}</span>' for k, v in enumerate(errors)) + "</td>"]  # fmt: skip
        keys = ["input", "target"] + [
            f"{kind}-{k}" for k in range(len(runs)) for kind in ("prediction", "error")
        ]
        cells += [f'<td><img src="{e(row["images"][key])}" alt="{e(key)}"></td>' for key in keys]
        body.append(f"<tr {data}>{''.join(cells)}</tr>")
    legend = (f"<p>{len(rows)} {split} photos; error: mean per-pixel CIELab distance of the written image to the target; "
              f"the heatmaps run from dark (0) to yellow ({ERROR_SCALE:g} Lab units or more).</p>")  # fmt: skip
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>lumastyle report</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(head)}{legend}"
        f"<div class=buttons>sort: {''.join(buttons)}</div>"
        f"<table class=photos><thead><tr>{''.join(f'<th>{e(c)}</th>' for c in columns)}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
        f"<script>{_SCRIPT}</script>"
        "</body></html>"
    )

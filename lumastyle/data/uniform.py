"""UniformDataModule: the paper's local styles on the "Uniform" set of Yan et al. 2016, read as released.

The set (115 photos, 70 train / 45 test) comes with the authors' code, github.com/stephenyan1231/
dl-image-enhance, in this layout under its ``data/`` folder:

    uniform_set/uniform_set.txt                     the 115 ids
    uniform_set/uniform_set_{train,test}_id.txt     the split, one id a line
    uniform_set/uniform_set_autotone_tif/<id>.tif   the input photos
    uniform_set_foregroundpopout/uniform_set_foregroundpopout_tif/<id>.tif
    uniform_set_xpro/uniform_set_xpro_tif/<id>.tif
    uniform_set_watercolor/uniform_set_watercolor_tif/<id>.tif

The TIFFs are 16-bit ProPhoto RGB (long side up to 640). They are read as the authors' reader does
(/ 65535, gamma 1.8, ProPhoto -> XYZ under D50, Bradford to D65; :func:`lumastyle.color.prophoto_to_xyz`)
and handed to the model as sRGB, so colours outside sRGB are clipped (few in these photos).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from lumastyle.color import prophoto_to_srgb
from lumastyle.data.base import Example, StyleDataModule
from lumastyle.data.splits import read_split_file
from lumastyle.errors import LumastyleError

#: style name -> the folder infix the release uses
STYLES = {"foreground_popout": "foregroundpopout", "local_xpro": "xpro", "watercolor": "watercolor"}
Style = Literal["foreground_popout", "local_xpro", "watercolor"]
REPOSITORY = "github.com/stephenyan1231/dl-image-enhance"


class UniformDataModule(StyleDataModule):
    """One local style of the Uniform set (Yan et al. 2016), with its released train/test split.

    Validation photos are held out of the 70 training photos (``val_fraction``), never from the test.

    Args:
        root: the authors' repository (holding ``data/``), or its ``data/`` folder; required.
        style: ``foreground_popout``, ``local_xpro`` or ``watercolor``.
        **kwargs: crops, batches, validation share and loading options of :class:`StyleDataModule`.
    """

    def __init__(self, root: str | None = None, style: Style = "foreground_popout", **kwargs: Any) -> None:
        kwargs.setdefault("test_fraction", 0.0)  # the test split is the release's
        super().__init__(**kwargs)
        if not root:
            raise LumastyleError(
                f"data.root is not set; pass --data.root DIR, a clone of {REPOSITORY} (or its data/ folder)"
            )
        if style not in STYLES:
            raise LumastyleError(f"unknown Uniform style {style!r}; choose one of: {', '.join(STYLES)}")
        self.root = Path(root).expanduser()
        self.style = style

    def describe(self) -> str:
        return str(self.root)

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str | None:
        """Runs are named after the style (``runs/foreground_popout``)."""
        return str(init_args.get("style") or "") or None

    def data_dir(self) -> Path:
        """The release's ``data/`` folder: ``root/data`` or ``root`` itself."""
        for candidate in (self.root / "data", self.root):
            if (candidate / "uniform_set" / "uniform_set.txt").is_file():
                return candidate
        raise LumastyleError(
            f"data.root {self.root} is not the Uniform set's layout: expected "
            f"{self.root / 'data' / 'uniform_set' / 'uniform_set.txt'} (from {REPOSITORY})"
        )

    def _ids(self, path: Path) -> list[str]:
        if not path.is_file():
            raise LumastyleError(f"{path} is missing; the Uniform set's layout has it (from {REPOSITORY})")
        return read_split_file(path)

    def discover(self) -> list[Example]:
        data = self.data_dir()
        infix = STYLES[self.style]
        inputs = data / "uniform_set" / "uniform_set_autotone_tif"
        targets = data / f"uniform_set_{infix}" / f"uniform_set_{infix}_tif"
        examples = []
        for name in self._ids(data / "uniform_set" / "uniform_set.txt"):
            pair = inputs / f"{name}.tif", targets / f"{name}.tif"
            for path in pair:
                if not path.is_file():
                    raise LumastyleError(
                        f"{path} is missing; the Uniform set lists '{name}' in uniform_set.txt"
                    )
            examples.append(Example(name, pair[0], pair[1], decode=prophoto_to_srgb))
        return examples

    def split_files(self) -> dict[str, list[str]]:
        folder = self.data_dir() / "uniform_set"
        return {split: self._ids(folder / f"uniform_set_{split}_id.txt") for split in ("train", "test")}

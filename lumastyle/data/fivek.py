"""FiveKDataModule: MIT-Adobe FiveK at 480p as the image-adaptive 3D-LUT papers read it.

Zeng et al.'s release (github.com/HuiZeng/Image-Adaptive-3DLUT, the FiveK "480p" folder that AdaInt,
SepLUT, CLUT-Net and ICELUT also train on) is laid out as::

    input/JPG/480p/<name>.jpg                    8-bit sRGB inputs (Lightroom, expert C's white balance)
    input/PNG/480p_16bits_XYZ_WB/<name>.png      the same inputs as 16-bit CIE XYZ (white balanced)
    expertA/JPG/480p/<name>.jpg ... expertE/     8-bit sRGB targets, one folder per expert
    train_input.txt, train_label.txt             the training names, 2,250 each (the papers train on both)
    test.txt                                     the 500 test names

Split files list one name a line without extension (``a0001``). AdaInt's and SepLUT's copies put the
4,500 training names in one ``train.txt`` instead; it is read the same way (with the other two
files, the union of all of them). The papers have no validation split: lumastyle holds a seeded
``val_fraction`` of the training names out for validation, so the best checkpoint is never chosen on
the test photos. Test photos are scored at the released 480p, whatever ``long_side`` training
reads them at, as the papers score them.

``input_format: 16bit_xyz`` is the papers' tone-mapping setting: the 16-bit XYZ PNG is the input and
the expert's 8-bit sRGB JPEG the target. The papers hand the 16-bit values / 65535 to their network
unchanged, and so does lumastyle: the XYZ values enter the model where it expects sRGB, and the model
learns the mapping to the sRGB target (nothing converts XYZ to sRGB first). The papers read the PNG
with OpenCV, whose channel order is reversed (Z, Y, X); lumastyle keeps the file's (X, Y, Z), a fixed
permutation that a learned model absorbs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from torch.utils.data import DataLoader

from lumastyle.data.base import Example, StyleDataModule, WholeImageDataset
from lumastyle.data.splits import read_split_file
from lumastyle.errors import LumastyleError
from lumastyle.io import IMAGE_SUFFIXES

EXPERTS = ("A", "B", "C", "D", "E")
#: input_format -> (folder under input/, suffix)
INPUT_FORMATS = {"jpg": ("JPG/480p", ".jpg"), "16bit_xyz": ("PNG/480p_16bits_XYZ_WB", ".png")}
TRAIN_FILES = ("train_input.txt", "train_label.txt", "train.txt")
SOURCE = "the FiveK 480p download of github.com/HuiZeng/Image-Adaptive-3DLUT"


def read_names(path: Path) -> list[str]:
    """The names a split file lists, one a line; blank lines are skipped, an image suffix, where a
    user's file has one, is dropped (``a0001.jpg`` -> ``a0001``), and a name reaching outside the
    folder is refused in one line (:func:`lumastyle.data.splits.read_split_file`)."""
    return read_split_file(path, IMAGE_SUFFIXES)


class FiveKDataModule(StyleDataModule):
    """MIT-Adobe FiveK (480p) in the layout of the image-adaptive 3D-LUT papers, their train/test split.

    Args:
        root: the FiveK folder holding ``input/``, ``expertC/`` and the split files; required.
        expert: whose retouching is the target, ``A``-``E`` (``C``, as the papers).
        input_format: ``jpg``, the 8-bit sRGB inputs (photo retouching), or ``16bit_xyz``, the 16-bit
            XYZ PNGs handed to the model as they are (the papers' tone mapping; see the module docstring).
        **kwargs: crops, batches, validation share and loading options of :class:`StyleDataModule`.
    """

    def __init__(
        self,
        root: str | None = None,
        expert: Literal["A", "B", "C", "D", "E"] = "C",
        input_format: Literal["jpg", "16bit_xyz"] = "jpg",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("test_fraction", 0.0)  # the test split is the release's
        super().__init__(**kwargs)
        if not root:
            raise LumastyleError(f"data.root is not set; pass --data.root DIR, {SOURCE} unpacked")
        if str(expert).upper() not in EXPERTS:
            raise LumastyleError(f"data.expert must be one of {', '.join(EXPERTS)}, got {expert!r}")
        if input_format not in INPUT_FORMATS:
            raise LumastyleError(
                f"data.input_format must be one of {', '.join(INPUT_FORMATS)}, got {input_format!r}"
            )
        self.root = Path(root).expanduser()
        self.expert = str(expert).upper()
        self.input_format = input_format
        self._names: dict[str, list[str]] | None = None

    def describe(self) -> str:
        return str(self.root)

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str | None:
        """Runs are named after the setting: ``runs/fivek_expertC`` (``fivek_xyz_expertC`` for XYZ inputs)."""
        xyz = "_xyz" if init_args.get("input_format") == "16bit_xyz" else ""
        return f"fivek{xyz}_expert{str(init_args.get('expert') or 'C').upper()}"

    @property
    def input_dir(self) -> Path:
        return self.root / "input" / INPUT_FORMATS[self.input_format][0]

    @property
    def target_dir(self) -> Path:
        return self.root / f"expert{self.expert}" / "JPG" / "480p"

    def _layout_error(self, missing: str) -> LumastyleError:
        folder, suffix = INPUT_FORMATS[self.input_format]
        return LumastyleError(
            f"data.root {self.root} is not a FiveK folder: expected input/{folder}/*{suffix}, "
            f"expert{self.expert}/JPG/480p/*.jpg, train_input.txt and train_label.txt (or train.txt), "
            f"test.txt ({SOURCE}); {missing} is missing"
        )

    def _split_names(self) -> dict[str, list[str]]:
        """{"train": ..., "test": ...} from the split files, checked once."""
        if self._names is not None:
            return self._names
        if not self.root.is_dir():
            raise self._layout_error("the folder")
        for folder in (self.input_dir, self.target_dir):
            if not folder.is_dir():
                raise self._layout_error(str(folder.relative_to(self.root)) + "/")
        present = [self.root / f for f in TRAIN_FILES if (self.root / f).is_file()]
        if not present:
            raise self._layout_error("train_input.txt")
        if not (self.root / "test.txt").is_file():
            raise self._layout_error("test.txt")
        train = list(dict.fromkeys(name for path in present for name in read_names(path)))
        test = list(dict.fromkeys(read_names(self.root / "test.txt")))
        both = sorted(set(train) & set(test))
        if both:
            raise LumastyleError(
                f"{self.root}: {len(both)} name(s) are listed for training and for testing "
                f"(first: '{both[0]}'); fix the split files so the test photos stay unseen"
            )
        self._names = {"train": train, "test": test}
        return self._names

    def discover(self) -> list[Example]:
        names = self._split_names()
        suffix = INPUT_FORMATS[self.input_format][1]
        examples = []
        for split, listed in names.items():
            for name in listed:
                pair = self.input_dir / f"{name}{suffix}", self.target_dir / f"{name}.jpg"
                missing = [path for path in pair if not path.is_file()]
                for path in missing:
                    self.bad_file(
                        path, f"no such file, but {split} split names '{name}'; add it or remove the name"
                    )
                if not missing:
                    examples.append(Example(name, pair[0], pair[1]))
        return examples

    def split_files(self) -> dict[str, list[str]]:
        return dict(self._split_names())

    def test_dataloader(self) -> DataLoader:
        """The test photos at the released resolution (480p), as the papers score them."""
        return self._loader(WholeImageDataset(self._examples("test"), None), 1, shuffle=False)

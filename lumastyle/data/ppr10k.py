"""PPR10KDataModule: the PPR10K portrait retouching set (Liang et al. 2021) at 360p, as released.

PPR10K's ``train_val_images_tif_360p`` download (github.com/csjliang/PPR10K), with its ``masks_360p``,
unpacks to::

    train/source/<group>_<photo>.tif           16-bit sRGB TIFF inputs (8,875 photos)
    train/target_a/ target_b/ target_c/         8-bit sRGB TIFF targets of experts a, b and c
    train/masks/<group>_<photo>.png             human-region masks
    train/source_aug/<group>_<photo>[_<k>].tif  the inputs with 5 augmented versions (made with the
                                                authors' scripts; optional)
    val/source/, val/target_a|b|c/, val/masks/  the 2,286 photos every paper tests on

The papers' ``val`` folder is their test split; lumastyle tests on it and validates on a seeded
``val_fraction`` of the training *groups* (whole groups, the photos of one shoot, so validation
photos are not near-copies of training photos). With ``augmented: true`` training reads
``train/source_aug`` (the papers' setting), each augmented input paired with its photo's target.

AdaInt's and SepLUT's copies flatten this to ``source/``, ``source_aug_6/``, ``target_a/`` ...
with ``train.txt``, ``train_aug.txt`` and ``test.txt`` (one name a line); that layout is read too.

The masks are not read: training and the metrics here use whole photos (the PPR10K paper's
human-region-weighted loss and PSNR^HC are not reproduced).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import DataLoader

from lumastyle.data.base import Example, StyleDataModule, WholeImageDataset
from lumastyle.data.fivek import read_names
from lumastyle.data.splits import held_out_count
from lumastyle.errors import LumastyleError

EXPERTS = ("a", "b", "c")
SOURCE = "train_val_images_tif_360p of github.com/csjliang/PPR10K"


def photo_of(name: str) -> str:
    """The photo an input name shows: ``12_3`` for ``12_3`` and for its augmented ``12_3_4``."""
    return "_".join(name.split("_")[:2])


def group_of(name: str) -> str:
    """The group (shoot) of a photo name: ``12`` for ``12_3`` and ``12_3_4``."""
    return name.split("_")[0]


class PPR10KDataModule(StyleDataModule):
    """PPR10K (360p TIFFs) with its released train/val split; ``val`` is the test split.

    Args:
        root: the folder holding ``train/`` and ``val/`` (or AdaInt's flat layout); required.
        expert: whose retouching is the target, ``a``, ``b`` or ``c`` (``a``: PPR10K-a).
        augmented: train on the augmented inputs (``train/source_aug``, or ``source_aug_6`` with
            ``train_aug.txt`` in the flat layout), as the papers do.
        **kwargs: crops, batches, validation share and loading options of :class:`StyleDataModule`.
    """

    def __init__(
        self,
        root: str | None = None,
        expert: Literal["a", "b", "c"] = "a",
        augmented: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("test_fraction", 0.0)  # the test split is the release's
        super().__init__(**kwargs)
        if not root:
            raise LumastyleError(f"data.root is not set; pass --data.root DIR, {SOURCE} unpacked")
        if str(expert).lower() not in EXPERTS:
            raise LumastyleError(f"data.expert must be one of {', '.join(EXPERTS)}, got {expert!r}")
        self.root = Path(root).expanduser()
        self.expert = str(expert).lower()
        self.augmented = augmented
        self._names: dict[str, list[str]] | None = None

    def describe(self) -> str:
        return str(self.root)

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str | None:
        """Runs are named after the expert: ``runs/ppr10k_a``."""
        return f"ppr10k_{str(init_args.get('expert') or 'a').lower()}"

    @property
    def flat(self) -> bool:
        """AdaInt's flat layout (``source/``, ``target_a/``, ``train.txt``, ``test.txt``)."""
        return (self.root / "source").is_dir() and (self.root / "test.txt").is_file()

    def _folder(self, split: str, kind: str) -> Path:
        """Where the inputs (``source``, ``source_aug``) or targets of a split live."""
        if self.flat:
            return self.root / ("source_aug_6" if kind == "source_aug" else kind)
        return self.root / split / kind

    def _layout_error(self, missing: str) -> LumastyleError:
        e = self.expert
        return LumastyleError(
            f"data.root {self.root} is not a PPR10K folder: expected train/source/*.tif, train/target_{e}/*.tif, "
            f"val/source/*.tif, val/target_{e}/*.tif ({SOURCE}), or AdaInt's source/, target_{e}/, "
            f"train.txt, test.txt; {missing} is missing"
        )

    def _inputs(self) -> dict[str, list[tuple[str, Path, Path]]]:
        """{"train": [(name, input, target)], "test": [...]} as the layout lists them."""
        if not self.root.is_dir():
            raise self._layout_error("the folder")
        source = "source_aug" if self.augmented else "source"
        found: dict[str, list[tuple[str, Path, Path]]] = {}
        for split, folder_split in (("train", "train"), ("test", "val")):
            kind = source if split == "train" else "source"
            inputs = self._folder(folder_split, kind)
            targets = self._folder(folder_split, f"target_{self.expert}")
            for folder in (inputs, targets):
                if not folder.is_dir():
                    raise self._layout_error(str(folder.relative_to(self.root)) + "/")
            if self.flat:
                listing = (
                    "test.txt" if split == "test" else "train_aug.txt" if self.augmented else "train.txt"
                )
                if not (self.root / listing).is_file():
                    raise self._layout_error(listing)
                names = list(dict.fromkeys(read_names(self.root / listing)))
            else:
                names = sorted(p.stem for p in inputs.glob("*.tif") if not p.name.startswith("."))
            found[split] = [(n, inputs / f"{n}.tif", targets / f"{photo_of(n)}.tif") for n in names]
        return found

    def discover(self) -> list[Example]:
        examples = []
        names: dict[str, list[str]] = {"train": [], "test": []}
        for split, listed in self._inputs().items():
            for name, source, target in listed:
                if not source.is_file():
                    self.bad_file(
                        source, f"no such file, but {split} split names '{name}'; add it or remove the name"
                    )
                elif not target.is_file():
                    self.bad_file(
                        source,
                        f"its target {target} is missing; add it or remove the input (data.expert {self.expert})",
                    )
                else:
                    examples.append(Example(name, source, target))
                    names[split].append(name)
        self._names = names
        return examples

    def split_files(self) -> dict[str, list[str]]:
        """The release's train and test names, with whole groups of the training photos held out for
        validation (seeded; the un-augmented photos of those groups validate)."""
        if self._names is None:
            self.discover()
        assert self._names is not None
        train, test = self._names["train"], self._names["test"]
        groups = sorted({group_of(n) for n in train})
        random.Random(self.seed).shuffle(groups)
        held = set(groups[: held_out_count(len(groups), self.val_fraction)])
        val = [n for n in train if group_of(n) in held and photo_of(n) == n]
        val = val or [n for n in train if group_of(n) in held]
        return {"train": [n for n in train if group_of(n) not in held], "val": val, "test": test}

    def test_dataloader(self) -> DataLoader:
        """The test photos at the released resolution (360p), as the papers score them."""
        return self._loader(WholeImageDataset(self._examples("test"), None), 1, shuffle=False)

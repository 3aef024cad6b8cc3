"""PairDataModule: a folder of before/after pairs, ``root/input/*`` and ``root/target/*`` matched by stem."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from lumastyle.data.base import SPLITS, Example, StyleDataModule, photos_by_stem
from lumastyle.data.splits import read_split_file
from lumastyle.errors import LumastyleError
from lumastyle.io import IMAGE_SUFFIXES


class PairDataModule(StyleDataModule):
    """Before/after photo pairs from ``root/input`` and ``root/target`` (PNG, JPEG, TIFF; 8 or 16 bit).

    Files are matched by stem (``input/a.jpg`` with ``target/a.png``). Optional ``train.txt``,
    ``val.txt`` and ``test.txt`` in ``root`` (one stem a line) fix the split; without them a seeded
    split is drawn. Without ``val.txt`` a seeded ``val_fraction`` of the training stems is held out
    for validation.

    Args:
        root: folder holding ``input/`` and ``target/`` (and optional split files); required.
        align: a target whose size differs from its input's is a bad pair (``error``: see
            ``on_bad_file``) or is resized onto its input's pixels (``resize``, for targets exported at
            another size; the aspect ratio is not checked).
        **kwargs: crops, batches, split, bad-file and loading options of :class:`StyleDataModule`.
    """

    def __init__(
        self, root: str | None = None, align: Literal["error", "resize"] = "error", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if align not in ("error", "resize"):
            raise LumastyleError(f"data.align must be 'error' or 'resize', got {align!r}")
        self.align = align
        if not root:  # before the Trainer is built, not after
            raise LumastyleError(
                "data.root is not set; pass --data.root DIR, a folder with input/ and target/"
            )
        self.root = Path(root).expanduser()

    def describe(self) -> str:
        return str(self.root)

    @classmethod
    def run_name(cls, init_args: dict[str, Any]) -> str | None:
        """Runs are named after the pairs folder (``--data.root my_look`` -> ``runs/my_look``)."""
        return cls.root_name(init_args)

    def discover(self) -> list[Example]:
        if not self.root.is_dir():
            raise LumastyleError(
                f"data.root {self.root} is not a folder; pass --data.root DIR with input/ and target/"
            )
        inputs_dir, targets_dir = self.root / "input", self.root / "target"
        for folder in (inputs_dir, targets_dir):
            if not folder.is_dir():
                raise LumastyleError(
                    f"{folder} is missing; data.root needs input/ and target/ folders of photos"
                )
        skip = self.bad_file if self.on_bad_file == "skip" else None
        inputs, targets = photos_by_stem(inputs_dir, skip), photos_by_stem(targets_dir, skip)
        if not inputs:
            raise LumastyleError(
                f"{inputs_dir} holds no photos ({', '.join(IMAGE_SUFFIXES)}); add the input photos"
            )
        for stem, path in sorted(inputs.items()):
            if stem not in targets:
                self.bad_file(
                    path, f"no partner named '{stem}.*' in {targets_dir}; add it or remove the input"
                )
        for stem, path in sorted(targets.items()):
            if stem not in inputs:
                self.bad_file(
                    path, f"no partner named '{stem}.*' in {inputs_dir}; add it or remove the target"
                )
        resize = self.align == "resize"
        return [
            Example(s, inputs[s], targets[s], resize_target=resize) for s in sorted(inputs) if s in targets
        ]

    def split_files(self) -> dict[str, list[str]]:
        names: dict[str, list[str]] = {}
        for split in SPLITS:
            path = self.root / f"{split}.txt"
            if path.is_file():
                names[split] = read_split_file(path)
        if names and "train" not in names:
            raise LumastyleError(
                f"{self.root}: split files found but no train.txt; add train.txt (one stem a line)"
            )
        return names

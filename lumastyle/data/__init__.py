"""DataModules: where training pairs come from."""

from lumastyle.data.actions import GlobalActionDataModule, LookDataModule
from lumastyle.data.base import Example, StyleDataModule
from lumastyle.data.fivek import FiveKDataModule
from lumastyle.data.folder import PhotoFolderDataModule
from lumastyle.data.pairs import PairDataModule
from lumastyle.data.ppr10k import PPR10KDataModule
from lumastyle.data.uniform import UniformDataModule

__all__ = [
    "Example",
    "FiveKDataModule",
    "GlobalActionDataModule",
    "LookDataModule",
    "PPR10KDataModule",
    "PairDataModule",
    "PhotoFolderDataModule",
    "StyleDataModule",
    "UniformDataModule",
]

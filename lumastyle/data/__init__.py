"""DataModules: where training pairs come from."""

from lumastyle.data.base import Example, StyleDataModule
from lumastyle.data.pairs import PairDataModule

__all__ = ["Example", "PairDataModule", "StyleDataModule"]

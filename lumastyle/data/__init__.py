"""DataModules: where training pairs come from."""

from lumastyle.data.actions import GlobalActionDataModule, LookDataModule
from lumastyle.data.base import Example, StyleDataModule
from lumastyle.data.pairs import PairDataModule
from lumastyle.data.uniform import UniformDataModule

__all__ = [
    "Example",
    "GlobalActionDataModule",
    "LookDataModule",
    "PairDataModule",
    "StyleDataModule",
    "UniformDataModule",
]

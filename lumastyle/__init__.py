"""lumastyle: learn a photographer's colour and tone style from before/after pairs and apply it to any photo."""

from lumastyle.errors import LumastyleError

__version__ = "0.1.0"

__all__ = ["LumastyleError", "__version__"]

"""An example lumastyle plugin (see README.md beside pyproject.toml)."""

from pathlib import Path

#: the style files this plugin adds (entry point group lumastyle.styles)
STYLES = Path(__file__).resolve().parent / "styles"

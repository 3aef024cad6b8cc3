"""The project's own exception and warning types: one line that names the file, key or value and what to do."""

from __future__ import annotations

import warnings


class LumastyleError(Exception):
    """A mistake a user can fix (a bad file, path, option or value).

    The message is one line: what is wrong, where (file, key or value), and what to do about it.
    The CLI prints it as ``error: <message>`` and exits with status 2 instead of a traceback.
    """


class BadFileError(LumastyleError):
    """A file that cannot be used (unreadable, truncated, empty, too large, of the wrong size): the
    message is ``<path>: <reason>``, and both are kept, so a caller that leaves bad files out
    (``data.on_bad_file: skip``) lists them without reading the message."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class LumastyleDeprecationWarning(DeprecationWarning):
    """A name of an earlier release, still read for one release; shown by default (Python hides
    DeprecationWarning outside ``__main__``), as one line naming the new name."""


warnings.simplefilter("default", LumastyleDeprecationWarning)

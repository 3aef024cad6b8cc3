"""The project's own exception type: one line that names the file, key or value and what to do."""

from __future__ import annotations


class LumastyleError(Exception):
    """A mistake a user can fix (a bad file, path, option or value).

    The message is one line: what is wrong, where (file, key or value), and what to do about it.
    The CLI prints it as ``error: <message>`` and exits with status 2 instead of a traceback.
    """

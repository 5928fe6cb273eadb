"""The one base for errors whose message is meant for a person.

The CLI prints a ``UserError`` as ``error: <message>`` and the app shows it in words in the log area; anything
else is a bug and keeps its traceback. Each area subclasses it (``DataError``, ``ConfigError``, ``RunError`` ...),
also keeping the built-in base it always had (``ValueError`` ...) so existing ``except`` clauses still match.
"""

from __future__ import annotations


class UserError(Exception):
    """An error explained in words: what is wrong and where (file, row, column, field), never library text."""

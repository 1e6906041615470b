"""User-facing errors: the CLI prints them as one clear message and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (scenario, trace, command line): reported without a traceback.

    `where` names the place, e.g. "scenarios/x.yaml:12" or "trace.csv:40", and is printed first.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

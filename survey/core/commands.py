"""The one failure convention of every ``manyi`` sub-command: a single line on stderr,
``manyi: <what>: <why>``, and exit code 2; nothing was changed."""

from __future__ import annotations

from typing import IO, NoReturn

import click


class CommandFailed(click.ClickException):
    """Bad input to a command (unknown city, unreadable file, …)."""

    exit_code = 2

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(f"manyi: {self.format_message()}", err=True, file=file)


def fail(message: str) -> NoReturn:
    """Stop the command with ``message`` (one line, exit code 2)."""
    raise CommandFailed(message)

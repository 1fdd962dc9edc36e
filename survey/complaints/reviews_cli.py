"""``manyi reviews import FILE``: online reviews for the tourist satisfaction composite
(:mod:`survey.complaints.reviews`)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from survey.agency.batches import MAX_BYTES
from survey.complaints.figures import china_today
from survey.complaints.reviews import ReviewFileError, ReviewRowsError, import_reviews
from survey.core.commands import fail
from survey.core.db import get_session

MAX_ERRORS_SHOWN = 50


@click.group("reviews")
def reviews() -> None:
    """Online reviews of tourism sites."""


@reviews.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def reviews_import(path: Path) -> None:
    """Import online reviews from a CSV or XLSX file (columns platform, site, rating,
    max_rating, reviewed_on, optional text): every row or none; the same file twice is
    refused."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}")
    session = get_session()
    try:
        result = import_reviews(session, filename=path.name, data=data, actor="cli",
                                today=china_today())
    except ReviewRowsError as exc:
        session.rollback()
        for e in exc.errors[:MAX_ERRORS_SHOWN]:
            click.echo(f"row {e['row']}, {e['column']}: {e['reason']}", err=True)
        if len(exc.errors) > MAX_ERRORS_SHOWN:
            click.echo(f"… and {len(exc.errors) - MAX_ERRORS_SHOWN} more", err=True)
        fail(f"{path}: {exc}")
    except ReviewFileError as exc:
        session.rollback()
        fail(f"{path}: {exc}")
    click.echo(f"reviews: {result.imported} imported from {path.name} "
               f"(sha256 {result.sha256})")

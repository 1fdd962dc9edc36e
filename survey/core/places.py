"""Looking up cities, districts and sites."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.core.models import City, Site
from survey.core.responses.ingest import SiteRef


def city_by_code(session: Session, code: str) -> City | None:
    return session.scalar(select(City).where(City.code == code))


def site_by_code(session: Session, code: str) -> Site | None:
    return session.scalar(select(Site).where(Site.code == code, Site.active.is_(True)))


def site_refs(session: Session, codes: set[str] | None = None) -> dict[str, SiteRef]:
    """Light site records keyed by code (all active sites, or just ``codes``)."""
    stmt = select(Site.id, Site.code, Site.kind, Site.city_id, Site.district_id).where(
        Site.active.is_(True))
    if codes is not None:
        stmt = stmt.where(Site.code.in_(codes))
    return {row.code: SiteRef(row.id, row.code, row.kind, row.city_id, row.district_id)
            for row in session.execute(stmt)}

"""Looking up cities, districts and sites."""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from survey.core.models import City, Site
from survey.core.responses.ingest import SiteRef

SITE_CACHE_SECONDS = 30.0
"""How long a process trusts its copy of the active sites (:func:`site_ref`): a site
deactivated or changed by another process is seen at most this late; one changed through a
session of this process is seen at once (the copy is dropped on the flush)."""


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


class _Sites:
    """One database's active sites as this process last read them."""

    def __init__(self) -> None:
        self.refs: dict[str, SiteRef] = {}
        self.read_at = -float("inf")
        self.lock = threading.Lock()


_SITES: weakref.WeakKeyDictionary[Any, _Sites] = weakref.WeakKeyDictionary()
_SITES_LOCK = threading.Lock()


def _sites_of(session: Session) -> _Sites:
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    with _SITES_LOCK:
        found = _SITES.get(engine)
        if found is None:
            found = _SITES[engine] = _Sites()
        return found


def site_ref(session: Session, code: str) -> SiteRef | None:
    """The active site ``code`` (None when there is none), from a per-process copy of the
    active sites read at most :data:`SITE_CACHE_SECONDS` ago. A code missing from the copy
    is looked up in the database (a site added since is found at once)."""
    sites = _sites_of(session)
    now = time.monotonic()
    if now - sites.read_at > SITE_CACHE_SECONDS:
        with sites.lock:
            if now - sites.read_at > SITE_CACHE_SECONDS:
                sites.refs = site_refs(session)
                sites.read_at = now
    found = sites.refs.get(code)
    if found is None:
        found = site_refs(session, {code}).get(code)
    return found


def forget_sites(session: Session) -> None:
    """Drop this process's copy of the active sites of the session's database."""
    with _SITES_LOCK:
        sites = _SITES.get(getattr(session.get_bind(), "engine", session.get_bind()))
    if sites is not None:
        sites.read_at = -float("inf")


@event.listens_for(Session, "after_flush")
def _site_flushed(session: Session, _context: object) -> None:
    if any(isinstance(obj, Site) for group in (session.new, session.dirty, session.deleted)
           for obj in group):
        session.info["manyi.sites_changed"] = True
        forget_sites(session)


@event.listens_for(Session, "after_commit")
def _site_committed(session: Session) -> None:
    if session.info.pop("manyi.sites_changed", False):
        forget_sites(session)  # again: a copy read between the flush and the commit

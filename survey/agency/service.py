"""Agencies and the cities they serve."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from survey.core.models import Agency, AgencyCity, City


def save_agency(session: Session, agency: Agency | None, *, code: str, name: str,
                accreditation_no: str, contact: str, city_codes: list[str]) -> Agency:
    """Create or update an agency and the cities it serves. Does not commit."""
    if agency is None:
        agency = Agency(code=code)
        session.add(agency)
    agency.code, agency.name = code, name
    agency.accreditation_no, agency.contact = accreditation_no, contact
    session.flush()
    city_ids = list(session.scalars(select(City.id).where(City.code.in_(city_codes))))
    session.execute(delete(AgencyCity).where(AgencyCity.agency_id == agency.id))
    for city_id in city_ids:
        session.add(AgencyCity(agency_id=agency.id, city_id=city_id))
    session.flush()
    return agency

"""SQLAlchemy 2.0 typed models: places, questionnaires, responses, answers, scores, users.

Nothing is ever deleted by analysis: a response that must not enter the indices gets a
``status`` other than ``valid`` together with a ``status_reason``.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime: ours are stored in UTC, and SQLite
    hands ``DateTime(timezone=True)`` columns back naive."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class SiteKind(enum.StrEnum):
    hospital = "hospital"
    clinic = "clinic"
    elder_care = "elder_care"
    community_centre = "community_centre"
    scenic_spot = "scenic_spot"
    dealer = "dealer"


class Channel(enum.StrEnum):
    web = "web"
    interview = "interview"
    phone = "phone"


class ResponseStatus(enum.StrEnum):
    valid = "valid"          # enters the indices
    pending = "pending"      # agency batch awaiting acceptance (采信)
    flagged = "flagged"      # screening flagged it; kept, not counted
    excluded = "excluded"    # rejected; kept, not counted


class Decision(enum.StrEnum):
    """An acceptance (采信) decision on an agency batch."""

    accepted = "accepted"
    conditional = "conditional"
    rejected = "rejected"


class Role(enum.StrEnum):
    admin = "admin"
    official = "official"
    researcher = "researcher"
    agency = "agency"


class City(Base):
    __tablename__ = "city"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    province_zh: Mapped[str] = mapped_column(String(100), default="")
    # GB/T 2260 province code ("33" = 浙江省): cities are scored per province (evaluation)
    province_code: Mapped[str] = mapped_column(String(8), default="", index=True)
    province_en: Mapped[str] = mapped_column(String(100), default="")

    districts: Mapped[list[District]] = relationship(back_populates="city")


class District(Base):
    __tablename__ = "district"
    __table_args__ = (UniqueConstraint("city_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("city.id"))
    code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    population: Mapped[int | None] = mapped_column(Integer)

    city: Mapped[City] = relationship(back_populates="districts")


class Site(Base):
    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    city_id: Mapped[int] = mapped_column(ForeignKey("city.id"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    city: Mapped[City] = relationship()
    district: Mapped[District] = relationship()


class QuestionnaireVersion(Base):
    """A questionnaire definition as it was when responses were collected."""

    __tablename__ = "questionnaire_version"
    __table_args__ = (UniqueConstraint("questionnaire", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Agency(Base):
    """A third-party measurement agency (测评机构)."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    accreditation_no: Mapped[str] = mapped_column(String(64), default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AgencyCity(Base):
    __tablename__ = "agency_city"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("city.id"), primary_key=True)


RESPONSE_DEMOGRAPHICS = ("age_band", "gender", "visit_type")
"""Demographic answers repeated as columns of :class:`Response` (written by the one submit
path) so the dashboard and export filter and group without joining answers."""


class Response(Base):
    """One completed questionnaire.

    ``overall_score``, ``satisfied`` and ``nps_group`` repeat what the ``score`` rows hold
    so that the dashboard's hot aggregates need no join (see docs/decisions.md).
    """

    __tablename__ = "response"
    __table_args__ = (
        Index("ix_response_city_q_wave", "city_id", "questionnaire", "wave", "status"),
        Index("ix_response_dashboard", "city_id", "status", "questionnaire", "wave",
              "district_id", "site_id",
              postgresql_include=["final_weight", "overall_score", "satisfied"]),
        Index("ix_response_site_time", "site_id", "submitted_at"),
        Index("ix_response_survey_token", "survey_token", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    receipt_code: Mapped[str] = mapped_column(String(16))
    questionnaire: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_version.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("city.id"))
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"))
    wave: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16), default=Channel.web.value)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    batch_id: Mapped[int | None] = mapped_column(Integer, index=True)
    interviewer: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    consent_version: Mapped[str] = mapped_column(String(32))
    age_band: Mapped[str | None] = mapped_column(String(16))
    gender: Mapped[str | None] = mapped_column(String(16))
    visit_type: Mapped[str | None] = mapped_column(String(32))
    design_weight: Mapped[float] = mapped_column(Float, default=1.0)
    final_weight: Mapped[float] = mapped_column(Float, default=1.0)
    overall_score: Mapped[float | None] = mapped_column(Float)
    satisfied: Mapped[int | None] = mapped_column(Integer)
    nps_group: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ResponseStatus.valid.value)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # The export's answer and score cells, encoded at submit (survey/export_codes.py);
    # NULL for responses the migration could not encode (the export then reads ``answer``).
    item_codes: Mapped[str | None] = mapped_column(Text)
    dimension_scores: Mapped[str | None] = mapped_column(Text)
    # Web responses: the id of the survey token a QR scan started (one response per token)
    # and a salted, truncated hash of the client (per-client daily caps); no IP is stored.
    survey_token: Mapped[str | None] = mapped_column(String(64))
    client_hash: Mapped[str | None] = mapped_column(String(16))

    site: Mapped[Site] = relationship()
    answers: Mapped[list[Answer]] = relationship(back_populates="response")
    scores: Mapped[list[Score]] = relationship(back_populates="response")


class Answer(Base):
    """One answer. N/A is its own code (``is_na``), never 0."""

    __tablename__ = "answer"
    __table_args__ = (
        UniqueConstraint("response_id", "item"),
        # Free-text answers only: the export's join to them (migration 0006).
        Index("ix_answer_text", "item", "response_id",
              postgresql_where=text("value_text IS NOT NULL"),
              sqlite_where=text("value_text IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(String(64))
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)
    is_na: Mapped[bool] = mapped_column(Boolean, default=False)

    response: Mapped[Response] = relationship(back_populates="answers")


class Score(Base):
    """A 0–100 dimension score (or ``overall``) computed once, at submit."""

    __tablename__ = "score"

    response_id: Mapped[int] = mapped_column(
        ForeignKey("response.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float)

    response: Mapped[Response] = relationship(back_populates="scores")


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    city_id: Mapped[int | None] = mapped_column(ForeignKey("city.id"))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    city: Mapped[City | None] = relationship()


class UserSession(Base):
    """A staff login, kept on the server so it can be ended: the browser's cookie holds only
    the token, whose sha256 is stored here. Logout, a password change or an admin end it;
    it also ends after 30 idle minutes or 12 hours (docs/decisions.md)."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(32))


class LoginFailure(Base):
    """A failed login: the account tried and a salted, truncated hash of the client (no IP),
    kept 30 days for throttling and investigation."""

    __tablename__ = "login_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    account: Mapped[str] = mapped_column(String(254), index=True)
    client_hash: Mapped[str] = mapped_column(String(16))


class AgencyToken(Base):
    """An API token of a measurement agency (``Authorization: Bearer …``). The token is
    shown once at creation; only its sha256 is stored. Revocable, optionally expiring."""

    __tablename__ = "agency_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditLog(Base):
    """Who did what, when. Never holds respondents' personal data or IP addresses."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor: Mapped[str] = mapped_column(String(254), default="")
    action: Mapped[str] = mapped_column(String(64))
    city_id: Mapped[int | None] = mapped_column(ForeignKey("city.id"))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Draft(Base):
    """A questionnaire being answered on the web, kept server-side until it is submitted.

    The browser's signed session cookie holds only ``id`` (an unguessable token); the
    answers live here so that a closed tab, the back button or a second device with the
    same cookie resumes where the respondent stopped. The row is deleted at submit, when
    a respondent under 14 is stopped, or when it has not been touched for a while
    (:func:`survey.respond.drafts.purge_stale`). Nothing personal: no IP, no user agent.
    """

    __tablename__ = "draft"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    questionnaire: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    consent_version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)

    site: Mapped[Site] = relationship()


class Batch(Base):
    """One file of interviews uploaded by a measurement agency, with its screening report
    and acceptance (采信) decision.

    ``row_errors`` lists the rows that were not stored (``{row, column, reason}``, rows
    numbered from 1 = the first data row after the header). ``response_rows`` maps the
    stored rows to their responses (``[[row, response_id], …]``). ``auto_decision`` is
    what the rules of :mod:`survey.agency.acceptance` say; ``final_decision`` stays ``None`` until
    an admin confirms or overrides it, and only then do the rows leave ``pending``.
    ``Response.batch_id`` refers to ``batch.id`` without a database foreign key (see
    docs/agencies.md).
    """

    __tablename__ = "batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("city.id"), index=True)
    wave: Mapped[str | None] = mapped_column(String(8))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    n_rows: Mapped[int] = mapped_column(Integer, default=0)
    n_valid: Mapped[int] = mapped_column(Integer, default=0)
    n_invalid: Mapped[int] = mapped_column(Integer, default=0)
    n_skipped: Mapped[int] = mapped_column(Integer, default=0)
    row_errors: Mapped[list] = mapped_column(JSON, default=list)
    response_rows: Mapped[list] = mapped_column(JSON, default=list)
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    auto_decision: Mapped[str] = mapped_column(String(16))
    decision_reasons: Mapped[list] = mapped_column(JSON, default=list)
    final_decision: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    override_reason: Mapped[str | None] = mapped_column(Text)

    agency: Mapped[Agency] = relationship()
    city: Mapped[City] = relationship()


class ComplaintStatus(enum.StrEnum):
    """Stages of a tourist complaint (docs/complaints.md). ``transferred`` is an event, not a
    resting state: the receiving city's case is ``received`` again."""

    received = "received"
    accepted = "accepted"
    rejected = "rejected"
    replied = "replied"  # the responsible unit's reply recorded
    mediated = "mediated"  # mediation result recorded
    closed = "closed"


class Complaint(Base):
    """A tourist complaint (旅游投诉) about a site, owned by the city that handles it.

    ``phone_ciphertext`` is the only place the complainant's phone number exists (Fernet,
    key from ``MANYI_COMPLAINT_KEY``); it is erased (set NULL, ``phone_erased_at``) 180 days
    after closure. ``tracking_code`` is the complainant's only handle (unguessable).
    ``(source, external_id)`` makes hotline imports idempotent. ``stage_started_at`` is when
    the current deadline began (reception, or the transfer to this city)."""

    __tablename__ = "complaint"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_code: Mapped[str] = mapped_column(String(32), unique=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("city.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    occurred_on: Mapped[date | None] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))  # web, api, hotline
    source: Mapped[str | None] = mapped_column(String(32))  # 12345, 12301 (imports)
    external_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ComplaintStatus.received.value,
                                        index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stage_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mediated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(Text)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(Integer)
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    phone_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    city: Mapped[City] = relationship()
    site: Mapped[Site] = relationship()
    events: Mapped[list[ComplaintEvent]] = relationship(
        back_populates="complaint", order_by="ComplaintEvent.id")


class ComplaintEvent(Base):
    """One step of a complaint's history, shown to the complainant (``note`` is public text
    written by the handler; never contact data)."""

    __tablename__ = "complaint_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    city_id: Mapped[int] = mapped_column(ForeignKey("city.id"))  # owner after this step
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    complaint: Mapped[Complaint] = relationship(back_populates="events")


class SiteVisitors(Base):
    """Visitor count of a site in a wave (for complaints per 10,000 visitors)."""

    __tablename__ = "site_visitors"
    __table_args__ = (UniqueConstraint("site_id", "wave"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    wave: Mapped[str] = mapped_column(String(8))
    visitors: Mapped[int] = mapped_column(Integer)


class OnlineReview(Base):
    """A rating from an online platform, imported for the tourist satisfaction composite.
    ``text`` is kept only because a file may carry it; it is never shown or exported."""

    __tablename__ = "online_review"
    __table_args__ = (Index("ix_online_review_site_date", "site_id", "reviewed_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    rating: Mapped[float] = mapped_column(Float)
    max_rating: Mapped[float] = mapped_column(Float)
    reviewed_on: Mapped[date] = mapped_column(Date)
    text: Mapped[str | None] = mapped_column(Text)
    import_sha256: Mapped[str] = mapped_column(String(64), index=True)


class Release(Base):
    """A public release (发布) of one city's figures for one wave: a frozen snapshot.

    ``number`` counts the releases of (city, wave): release 1 first publishes, every later
    one is a correction or an addition and carries a public ``note`` of what changed and why.
    ``snapshot`` holds every published cell (the public pages, CSV and JSON are rendered from
    it, never from live responses); ``digest`` is the sha256 of its canonical JSON.
    ``questionnaires`` are those this release (re)computed; the snapshot holds all published
    questionnaires of the wave (the others carried over from the previous release)."""

    __tablename__ = "release"
    __table_args__ = (UniqueConstraint("city_id", "wave", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("city.id"), index=True)
    wave: Mapped[str] = mapped_column(String(8))
    number: Mapped[int] = mapped_column(Integer)
    questionnaires: Mapped[list[str]] = mapped_column(JSON)
    released_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    released_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[dict] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))

    city: Mapped[City] = relationship()


class ListEntry(Base):
    """A red (红榜) or black (黑榜) list entry of a site in a released wave (item 六).

    Proposed by the significance rule from a release's site cells; public only once an
    admin confirms it with a written ``reason``; shown until ``listed_until`` and then in
    the history. ``status``: proposed, declined, listed, withdrawn (after an objection was
    upheld), removed (black list, early, after rectification). ``objection_token_hash`` is
    the sha256 of the one-time link given to the listed unit."""

    __tablename__ = "list_entry"
    __table_args__ = (UniqueConstraint("release_id", "site_id", "questionnaire"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("release.id"), index=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("city.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    questionnaire: Mapped[str] = mapped_column(String(64))
    wave: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(8))  # red, black
    status: Mapped[str] = mapped_column(String(16), default="proposed", index=True)
    figures: Mapped[dict] = mapped_column(JSON)
    rule: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    display_months: Mapped[int | None] = mapped_column(Integer)
    listed_until: Mapped[date | None] = mapped_column(Date)
    objection_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    objection_state: Mapped[str | None] = mapped_column(String(16))  # pending, upheld, withdrawn
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    release: Mapped[Release] = relationship()
    site: Mapped[Site] = relationship()
    events: Mapped[list[ListEvent]] = relationship(back_populates="entry",
                                                   order_by="ListEvent.id")


class ListEvent(Base):
    """One step of a list entry's life: proposed, confirmed, declined, objection (the
    unit's text, kept but never published), decision, rectification, removed, expired.
    ``public`` marks the steps whose ``text`` the public history shows."""

    __tablename__ = "list_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("list_entry.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    entry: Mapped[ListEntry] = relationship(back_populates="events")

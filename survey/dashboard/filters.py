"""Dashboard filters: the values each GET parameter accepts (from the questionnaires and the
city's districts) and their parsing; an unknown value raises :class:`BadFilter`, shown as a
400 page naming the parameter and the allowed values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import request
from flask_babel import gettext as _

from survey.core.i18n import localized, localized_name
from survey.core.models import Channel, District, SiteKind
from survey.core.waves import is_wave
from survey.dashboard import estimates


class BadFilter(Exception):
    def __init__(self, param: str, value: str, allowed: Iterable[str]) -> None:
        self.param, self.value, self.allowed = param, value, sorted(allowed)
        super().__init__(f"{param}={value!r}")


@dataclass
class Choices:
    """The values each filter accepts, with their display labels."""

    waves: list[str]
    districts: dict[str, tuple[int, str]] = field(default_factory=dict)  # code → (id, label)
    site_kinds: dict[str, str] = field(default_factory=dict)
    age_bands: dict[str, str] = field(default_factory=dict)
    genders: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)

    def options(self, param: str) -> list[tuple[str, str]]:
        """``(value, label)`` pairs of a filter's ``<select>`` (latest wave first)."""
        if param == "wave":
            return [(w, w) for w in reversed(self.waves)]
        if param == "district":
            return [(code, label) for code, (_id, label) in self.districts.items()]
        source = {"site_kind": self.site_kinds, "age_band": self.age_bands,
                  "gender": self.genders, "channel": self.channels}[param]
        return list(source.items())


def _option_labels(questionnaires: Iterable[Any], item_id: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for q in questionnaires:
        for item in q.demographics:
            if item.id == item_id:
                for option in item.options or []:
                    out.setdefault(str(option.value), localized(option.label))
    return out


def site_kind_label(kind: str) -> str:
    labels: dict[str, str] = {
        SiteKind.hospital: _("Hospital"), SiteKind.clinic: _("Clinic"),
        SiteKind.elder_care: _("Elderly care centre"),
        SiteKind.community_centre: _("Community service centre"),
        SiteKind.scenic_spot: _("Scenic spot"), SiteKind.dealer: _("Car service centre"),
    }
    return labels.get(kind, kind)


def channel_label(channel: str) -> str:
    labels: dict[str, str] = {Channel.web: _("Web"), Channel.interview: _("Interview"),
                              Channel.phone: _("Phone")}
    return labels.get(channel, channel)


def filter_choices(questionnaires: Sequence[Any], waves: list[str],
             districts: Sequence[District] = ()) -> Choices:
    kinds = [k for q in questionnaires for k in q.site_kinds]
    return Choices(
        waves=waves,
        districts={d.code: (d.id, localized_name(d)) for d in districts},
        site_kinds={k: site_kind_label(k) for k in dict.fromkeys(kinds)},
        age_bands=_option_labels(questionnaires, "age_band"),
        genders=_option_labels(questionnaires, "gender"),
        channels={c.value: channel_label(c.value) for c in Channel})


def _arg(param: str, allowed: Iterable[str]) -> str | None:
    value = request.args.get(param, "")
    if value == "":
        return None
    allowed = list(allowed)
    if value not in allowed:
        raise BadFilter(param, value, allowed)
    return value


def parse_filters(choices: Choices) -> tuple[str | None, estimates.Filters]:
    """``(wave, filters)`` from the query string; raises :class:`BadFilter`."""
    wave = request.args.get("wave", "")
    if wave and (not is_wave(wave) or wave not in choices.waves):
        raise BadFilter("wave", wave, choices.waves)
    district = _arg("district", choices.districts)
    filters = estimates.Filters(
        district_id=choices.districts[district][0] if district else None,
        site_kind=_arg("site_kind", choices.site_kinds),
        age_band=_arg("age_band", choices.age_bands),
        gender=_arg("gender", choices.genders),
        channel=_arg("channel", choices.channels))
    return (wave or (choices.waves[-1] if choices.waves else None)), filters



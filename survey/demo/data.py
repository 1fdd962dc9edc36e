"""Synthetic demo data: cities, districts, sites of every kind, and questionnaire
responses over four quarterly waves, with real differences between districts and sites.

Every response goes through :func:`survey.core.responses.ingest.prepare` — the same validation and
scoring as a real submission — and is then written in batches.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.accounts.users import create_user, random_password
from survey.core import audit
from survey.core.models import Agency, City, District, Response, Site, SiteKind
from survey.core.questionnaires import UNDER_14, Questionnaire
from survey.core.responses.ingest import DEMO, Prepared, SiteRef, bulk_store, prepare
from survey.core.waves import CHINA_TZ, recent_waves, wave_bounds, wave_of

CITIES: Sequence[tuple[str, str, str, str, Sequence[tuple[str, str]]]] = (
    ("hangzhou", "杭州市", "Hangzhou", "浙江省", (
        ("上城区", "Shangcheng"), ("拱墅区", "Gongshu"), ("西湖区", "Xihu"),
        ("滨江区", "Binjiang"), ("萧山区", "Xiaoshan"))),
    ("chengdu", "成都市", "Chengdu", "四川省", (
        ("锦江区", "Jinjiang"), ("青羊区", "Qingyang"), ("金牛区", "Jinniu"),
        ("武侯区", "Wuhou"), ("成华区", "Chenghua"))),
    ("qingdao", "青岛市", "Qingdao", "山东省", (
        ("市南区", "Shinan"), ("市北区", "Shibei"), ("黄岛区", "Huangdao"),
        ("崂山区", "Laoshan"))),
    ("wuhan", "武汉市", "Wuhan", "湖北省", (
        ("江岸区", "Jiang'an"), ("江汉区", "Jianghan"), ("武昌区", "Wuchang"),
        ("洪山区", "Hongshan"))),
    ("xian", "西安市", "Xi'an", "陕西省", (
        ("新城区", "Xincheng"), ("碑林区", "Beilin"), ("莲湖区", "Lianhu"),
        ("雁塔区", "Yanta"))),
    ("xiamen", "厦门市", "Xiamen", "福建省", (
        ("思明区", "Siming"), ("湖里区", "Huli"), ("集美区", "Jimei"), ("海沧区", "Haicang"))),
)

# GB/T 2260 codes and English names of the demo cities' provinces.
PROVINCES = {"浙江省": ("33", "Zhejiang"), "四川省": ("51", "Sichuan"),
             "山东省": ("37", "Shandong"), "湖北省": ("42", "Hubei"),
             "陕西省": ("61", "Shaanxi"), "福建省": ("35", "Fujian"),
             "示范省": ("99", "Demo Province")}

# Sites per district by kind, and per city for kinds that are not in every district.
PER_DISTRICT = {SiteKind.hospital: 1, SiteKind.clinic: 2, SiteKind.elder_care: 2,
                SiteKind.community_centre: 2}
PER_CITY = {SiteKind.scenic_spot: 4, SiteKind.dealer: 4}
SITE_NAMES = {
    SiteKind.hospital: ("{d}人民医院", "{d} People's Hospital"),
    SiteKind.clinic: ("{d}第{n}社区卫生服务中心", "{d} Community Health Centre {n}"),
    SiteKind.elder_care: ("{d}第{n}居家养老服务中心", "{d} Home Elderly Care Centre {n}"),
    SiteKind.community_centre: ("{d}第{n}街道便民服务中心", "{d} Community Service Centre {n}"),
    SiteKind.scenic_spot: ("{c}{d}风景区{n}号", "{c} {d} Scenic Area {n}"),
    SiteKind.dealer: ("{c}{d}汽车服务站{n}号", "{c} {d} Car Service Centre {n}"),
}
KIND_CODE = {SiteKind.hospital: "hos", SiteKind.clinic: "cli", SiteKind.elder_care: "eld",
             SiteKind.community_centre: "com", SiteKind.scenic_spot: "sce",
             SiteKind.dealer: "dlr"}
# Share of responses per questionnaire domain.
DOMAIN_SHARE = {"healthcare": 0.30, "community": 0.22, "elderly_care": 0.16,
                "tourism": 0.17, "auto_aftersales": 0.15}

COMMENTS = {
    "healthcare": ["挂号排队时间太长，希望多开几个窗口。", "医生很耐心，解释得很清楚，谢谢！",
                   "停车太难了，经常找不到车位。", "检查费用能不能提前告知？",
                   "我叫李明，电话13812345678，想反映一下收费问题。",
                   "The doctor listened carefully. Waiting area is crowded."],
    "elderly_care": ["饭菜口味偏咸，希望少油少盐。", "护理员很细心，老人很满意。",
                     "上门服务时间能不能更灵活一些？", "收费有点高，希望有更多补贴。",
                     "有事请联系我女儿，邮箱 zhang.family@example.com"],
    "community": ["办事流程比以前简单多了。", "希望周末也能办理业务。", "工作人员态度很好。",
                  "网上预约系统经常打不开。",
                  "我是王芳，身份证号110105199003078679，材料被退回了两次。"],
    "tourism": ["景区厕所不够干净。", "门票价格偏高。", "导游讲解很精彩，下次还来！",
                "交通指示牌太少，迷路了。", "投诉电话打了没人接，我的微信号 wxid_tour2026",
                "Beautiful scenery, but signs in English are rare."],
    "auto_aftersales": ["保养价格有点贵。", "服务顾问很专业，提车准时。",
                        "等待区有免费咖啡，很舒服。", "车修好后又出现了异响。",
                        "车牌浙A12345，返修三次还没解决，电话0571-87654321"],
}


@dataclass(frozen=True)
class DemoResult:
    cities: int
    sites: int
    responses: int
    seconds: float


def _add_site(session: Session, city: City, kind: SiteKind, d: District, n: int) -> Site:
    zh, en = SITE_NAMES[kind]
    site = Site(code=f"{d.code}-{KIND_CODE[kind]}{n}", kind=kind.value, city_id=city.id,
                district_id=d.id,
                name_zh=zh.format(c=city.name_zh.removesuffix("市"), d=d.name_zh, n=n),
                name_en=en.format(c=city.name_en, d=d.name_en, n=n))
    session.add(site)
    return site


def create_places(session: Session, n_cities: int, rng: np.random.Generator) -> list[Site]:
    """Cities with districts and sites of every kind; returns the sites."""
    sites: list[Site] = []
    for ci in range(n_cities):
        if ci < len(CITIES):
            code, name_zh, name_en, province, districts = CITIES[ci]
        else:
            code, name_zh, name_en = f"city{ci + 1}", f"示范市{ci + 1}", f"Demo City {ci + 1}"
            province = "示范省"
            districts = tuple((f"第{i + 1}区", f"District {i + 1}") for i in range(4))
        province_code, province_en = PROVINCES[province]
        city = City(code=code, name_zh=name_zh, name_en=name_en, province_zh=province,
                    province_code=province_code, province_en=province_en)
        session.add(city)
        session.flush()
        dist_rows = []
        for di, (dzh, den) in enumerate(districts, 1):
            d = District(city_id=city.id, code=f"{code}-{di:02d}", name_zh=dzh, name_en=den,
                         population=int(rng.integers(300_000, 1_200_000)))
            session.add(d)
            dist_rows.append(d)
        session.flush()

        for d in dist_rows:
            for kind, count in PER_DISTRICT.items():
                for n in range(1, count + 1):
                    sites.append(_add_site(session, city, kind, d, n))
        for kind, count in PER_CITY.items():
            for n in range(1, count + 1):
                district = dist_rows[(n - 1) % len(dist_rows)]
                sites.append(_add_site(session, city, kind, district, n))
    session.flush()
    return sites


def _choice_probabilities(n: int, skew: float = 0.0) -> np.ndarray:
    p = np.exp(skew * np.linspace(-1, 1, n)) if n else np.ones(0)
    return p / p.sum()


@dataclass(frozen=True)
class _ItemPlan:
    item_id: str
    kind: str
    low: int = 0
    high: int = 0
    na: bool = False
    reverse: bool = False
    values: tuple[str, ...] = ()
    cumulative: tuple[float, ...] = ()
    required: bool = False


def _plan(q: Questionnaire) -> list[_ItemPlan]:
    """What the generator needs of each item, computed once per questionnaire."""
    plans = []
    for item in q.items:
        if item.type in ("scale", "nps"):
            scale = q.scale_for(item)
            # Impossible: questionnaires.checks gives every scale/nps item a known scale.
            assert scale is not None
            plans.append(_ItemPlan(item.id, "scale", scale.min, scale.max, scale.na,
                                   item.reverse))
        elif item.type in ("single", "multi"):
            # Impossible: questionnaires.checks gives every choice item two options or more.
            assert item.options is not None
            values = tuple(o.value for o in item.options if o.value != UNDER_14)
            skew = -0.3 if item.id == "age_band" else 0.0
            cumulative = tuple(np.cumsum(_choice_probabilities(len(values), skew)).tolist())
            plans.append(_ItemPlan(item.id, item.type, values=values, cumulative=cumulative,
                                   required=item.required))
        else:
            plans.append(_ItemPlan(item.id, item.type))
    return plans


def synthetic_answers(q: Questionnaire, latent: float, rng: np.random.Generator,
                      comments: Sequence[str], plan: Sequence[_ItemPlan] | None = None
                      ) -> dict[str, Any]:
    """Plausible answers for one respondent whose satisfaction is ``latent`` (≈ N(0, 1)).

    Visits items in order so ``show_if`` sees the answers before it.
    """
    answers: dict[str, Any] = {}
    plan = plan if plan is not None else _plan(q)
    uniform = rng.random(len(plan) * 2).tolist()
    normal = rng.standard_normal(len(plan)).tolist()
    for k, p in enumerate(plan):
        if not q.is_visible(p.item_id, answers):
            continue
        u = uniform[2 * k]
        if p.kind == "scale":
            if p.na and uniform[2 * k + 1] < 0.04:
                answers[p.item_id] = "na"
                continue
            span = p.high - p.low
            x = p.low + 0.72 * span + span * (0.16 * latent + 0.12 * normal[k])
            if p.reverse:
                x = p.high + p.low - x
            answers[p.item_id] = min(max(round(x), p.low), p.high)
        elif p.kind == "single":
            index = next(i for i, c in enumerate(p.cumulative) if u <= c or i == len(p.values) - 1)
            answers[p.item_id] = p.values[index]
        elif p.kind == "multi":
            k_pick = int(u * (min(3, len(p.values)) + 1))
            if k_pick or p.required:
                picked = rng.choice(len(p.values), size=max(k_pick, 1), replace=False)
                answers[p.item_id] = [p.values[i] for i in sorted(picked)]
        elif p.kind == "text" and comments and u < 0.12:
            answers[p.item_id] = comments[int(uniform[2 * k + 1] * len(comments))]
    return answers


def generate_responses(questionnaires: Mapping[str, Questionnaire], sites: Sequence[SiteRef],
                       n: int, rng: np.random.Generator, waves: Sequence[str]) -> list[Prepared]:
    """``n`` prepared (validated, scored) synthetic responses."""
    by_kind: dict[str, list[SiteRef]] = {}
    for s in sites:
        by_kind.setdefault(s.kind, []).append(s)
    site_map = {s.code: s for s in sites}
    # Fixed effects: city, district, site (on the latent satisfaction scale).
    city_fx = {c: rng.normal(0, 0.25) for c in sorted({s.city_id for s in sites})}
    district_fx = {d: rng.normal(0, 0.3) for d in sorted({s.district_id for s in sites})}
    site_fx = {s.code: rng.normal(0, 0.35) for s in sites}
    qs = [q for q in questionnaires.values() if any(k in by_kind for k in q.site_kinds)]
    shares = np.array([DOMAIN_SHARE.get(q.domain, 0.1) for q in qs])
    counts = rng.multinomial(n, shares / shares.sum())
    prepared: list[Prepared] = []
    for q, count in zip(qs, counts, strict=True):
        eligible = [s for k in q.site_kinds for s in by_kind.get(k, [])]
        eligible.sort(key=lambda s: s.code)
        comments = COMMENTS.get(q.domain, [])
        plan = _plan(q)
        site_idx = rng.integers(len(eligible), size=count)
        wave_idx = rng.integers(len(waves), size=count)
        noise = rng.standard_normal(count)
        for i in range(count):
            site = eligible[site_idx[i]]
            wave = waves[wave_idx[i]]
            latent = (city_fx[site.city_id] + district_fx[site.district_id]
                      + site_fx[site.code] + 0.08 * wave_idx[i] + 0.8 * noise[i])
            start, end = wave_bounds(wave)
            day = start + timedelta(days=int(rng.integers((end - start).days)))
            submitted = day + timedelta(hours=float(rng.uniform(8, 21)))
            started = submitted - timedelta(seconds=float(rng.lognormal(np.log(200), 0.4)))
            payload = {
                "client_uuid": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                "questionnaire": q.id, "version": q.version, "site": site.code,
                "answers": synthetic_answers(q, latent, rng, comments, plan),
                "consent_version": q.consent_version, "channel": "web",
                "started_at": started.astimezone(UTC).isoformat(),
                "submitted_at": submitted.astimezone(UTC).isoformat(),
            }
            prepared.append(prepare(questionnaires, payload, site_map,
                                    now=end + timedelta(days=1), intake=DEMO))
    order = rng.permutation(len(prepared))
    return [prepared[i] for i in order]


def demo_agency_batch_csv(q: Questionnaire, sites: Sequence[SiteRef], n: int,
                          rng: np.random.Generator, wave: str) -> bytes:
    """An interview batch as a measurement agency would upload it: ``n`` interviews by
    eight interviewers through the wave, one of whom (``I08``) straight-lines — so the
    screening has something real to show."""
    import csv
    import io

    start, _end = wave_bounds(wave)
    plan = _plan(q)
    item_ids = [p.item_id for p in plan]
    five_point = {p.item_id for p in plan if p.kind == "scale" and p.high == 5}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["client_uuid", "questionnaire", "version", "site", "interviewer",
                     "channel", "started_at", "submitted_at", *item_ids])
    clock = {f"I{k:02d}": start + timedelta(days=3 + k, hours=9) for k in range(1, 9)}
    for i in range(n):
        who = f"I{i % 8 + 1:02d}"
        began = clock[who]
        minutes = float(rng.lognormal(np.log(11), 0.25))
        clock[who] = began + timedelta(minutes=minutes + 25)
        if clock[who].hour >= 18:
            clock[who] = clock[who].replace(hour=9) + timedelta(days=1)
        answers = synthetic_answers(q, float(rng.normal(0, 0.9)), rng, (), plan)
        if who == "I08":  # the same "4" on every 1–5 item
            answers = {k: 4 if k in five_point and v != "na" else v for k, v in answers.items()}
        cells = []
        for item_id in item_ids:
            value = answers.get(item_id)
            cells.append(";".join(value) if isinstance(value, list) else
                         "" if value is None else str(value))
        site = sites[int(rng.integers(len(sites)))]
        writer.writerow([str(uuid.UUID(bytes=rng.bytes(16), version=4)), q.id, q.version,
                         site.code, who, "interview", began.isoformat(),
                         (began + timedelta(minutes=minutes)).isoformat(), *cells])
    return out.getvalue().encode("utf-8")


def load_demo_agency(session: Session, questionnaires: Mapping[str, Questionnaire],
                     rng: np.random.Generator, wave: str) -> int:
    """A demo measurement agency serving the first city, with one uploaded interview batch
    awaiting the admin's acceptance decision (its rows stay ``pending``). Returns the batch
    id. Goes through the same import as a real upload (``survey.agency.batches.import_batch``)."""
    from survey.agency.batches import import_batch
    from survey.core.models import Agency, AgencyCity

    city = session.scalar(select(City).order_by(City.id))
    if city is None:
        raise ValueError("the demo agency needs a city: create the demo places first")
    agency = Agency(code="demo-agency", name="示范调查评估有限公司 Demo Survey Co.",
                    accreditation_no="DEMO-0001", contact="qa@demo-agency.example")
    session.add(agency)
    session.flush()
    session.add(AgencyCity(agency_id=agency.id, city_id=city.id))
    q = questionnaires["healthcare"]
    sites = [SiteRef.of(s) for s in session.scalars(
        select(Site).where(Site.city_id == city.id, Site.kind.in_(q.site_kinds))
        .order_by(Site.code))]
    data = demo_agency_batch_csv(q, sites, 160, rng, wave)
    result = import_batch(session, questionnaires, agency=agency, filename="demo-batch.csv",
                          data=data, city_code=city.code, wave=wave, actor="demo",
                          now=wave_bounds(wave)[1] - timedelta(days=1))
    return result.batch.id


DEMO_COMPLAINTS = {
    "price": "门票和景区内小火车价格与公示不符。",
    "hygiene": "景区厕所很脏，垃圾桶满了没人清理。",
    "staff": "检票员态度恶劣，不回答问题。",
    "contract": "旅行社承诺的景点没有安排。",
    "safety": "栈道护栏松动，存在安全隐患。",
    "other": "停车场指示不清，排队一个多小时。",
}
REVIEW_PLATFORMS = (("ctrip", 5.0), ("meituan", 5.0), ("mafengwo", 10.0))


def _tourism_sites(session: Session) -> list[Site]:
    return list(session.scalars(select(Site).where(Site.kind == SiteKind.scenic_spot.value)
                                .order_by(Site.code)))


def load_demo_tourism(session: Session, rng: np.random.Generator, waves: Sequence[str],
                      now: datetime | None = None) -> int:
    """Visitor counts, online reviews and complaints for every scenic site (the complaint
    figures and the satisfaction composite of the dashboard). Reviews go through
    ``survey.complaints.reviews.import_reviews`` (one demo file), complaints through the
    service's ``create`` and transitions (no phone numbers); the transitions happen now, so
    their timestamps (and their events') are then moved back to plausible handling times
    inside the complaint's wave — demo data only. Returns the number of complaints."""
    import csv
    import io

    from survey.complaints import service
    from survey.complaints.reviews import import_reviews
    from survey.core.models import ComplaintEvent, SiteVisitors

    now = now or datetime.now(UTC)
    sites = _tourism_sites(session)
    for site in sites:
        for wave in waves:
            session.add(SiteVisitors(site_id=site.id, wave=wave,
                                     visitors=int(rng.integers(40_000, 400_000))))
    session.commit()

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["platform", "site", "rating", "max_rating", "reviewed_on"])
    for site in sites:
        for wave in waves:
            start, end = wave_bounds(wave)
            days = min((end - start).days, (now - start).days)
            if days <= 0:
                continue
            quality = float(rng.normal(0.78, 0.06))
            for _ in range(int(rng.integers(8, 25))):
                platform, top = REVIEW_PLATFORMS[int(rng.integers(len(REVIEW_PLATFORMS)))]
                share = min(max(quality + float(rng.normal(0, 0.15)), 0.1), 1.0)
                rating = round(share * top * 2) / 2
                day = (start + timedelta(days=int(rng.integers(days)))).date()
                writer.writerow([platform, site.code, rating, top, day.isoformat()])
    if sites:
        import_reviews(session, filename="demo-reviews.csv", data=out.getvalue().encode(),
                       actor="demo", today=now.astimezone(CHINA_TZ).date())

    categories = list(DEMO_COMPLAINTS)
    count = 0
    for site in sites:
        for wave in waves[-2:]:
            start, end = wave_bounds(wave)
            for _ in range(int(rng.poisson(2.5))):
                received = (start + timedelta(hours=float(rng.uniform(
                    0, (end - start).days * 24)))).astimezone(UTC)  # stored in UTC
                if received > now - timedelta(hours=1):
                    continue
                category = categories[int(rng.integers(len(categories)))]
                c = service.create(session, site=site, category=category,
                                   description=DEMO_COMPLAINTS[category], occurred_on=None,
                                   phone=None, channel="web", received_at=received, actor="demo")
                count += 1
                times: dict[str, datetime] = {}
                clock = received
                u = float(rng.random())
                if u < 0.08:
                    continue  # still waiting for acceptance
                clock += timedelta(days=float(rng.uniform(0.2, 9)))
                if clock > now or u < 0.15:
                    if clock <= now:
                        service.reject(session, c, user=None, reason="不属于旅游投诉受理范围。")
                        times["rejected"] = times["closed"] = clock
                    _backdate(session, c, times, ComplaintEvent)
                    continue
                service.accept(session, c, user=None)
                times["accepted"] = clock
                for step, days_taken, note in (("replied", (1, 14), "景区已回复并整改。"),
                                               ("mediated", (3, 50), "双方达成调解协议。"),
                                               ("closed", (0.5, 5), "已退还差价并致歉。")):
                    clock += timedelta(days=float(rng.uniform(*days_taken)))
                    if clock > now or rng.random() < 0.1:
                        break
                    if step == "replied":
                        service.record_reply(session, c, user=None, note=note)
                    elif step == "mediated":
                        service.record_mediation(session, c, user=None, note=note)
                    else:
                        service.close(session, c, user=None, outcome=note)
                    times[step] = clock
                _backdate(session, c, times, ComplaintEvent)
                if "closed" in times and rng.random() < 0.7:
                    service.rate(session, c, int(rng.choice([2, 3, 4, 4, 5, 5])))
    return count


def _backdate(session: Session, complaint: Any, times: Mapping[str, datetime],
              event_model: Any) -> None:
    """Move the transition timestamps (and their events) of a demo complaint to ``times``."""
    if not times:
        return
    for step, moment in times.items():
        if step != "rejected":
            setattr(complaint, f"{step}_at", moment)
    for event in session.scalars(select(event_model)
                                 .where(event_model.complaint_id == complaint.id)):
        if event.status in times:
            event.at = times[event.status]
    session.commit()


def has_data(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(City))) or bool(
        session.scalar(select(func.count()).select_from(Response)))


def load_demo(session: Session, questionnaires: Mapping[str, Questionnaire], *, cities: int,
              responses: int, seed: int, end_wave: str | None = None,
              waves: int = 4, agency: bool = False, tourism: bool = False) -> DemoResult:
    """Create demo places and ``responses`` responses (and, with ``agency``, a demo
    measurement agency with one pending interview batch; with ``tourism``, visitor counts,
    online reviews and complaints of the scenic sites, :func:`load_demo_tourism`);
    deterministic for a seed and ``end_wave`` (default: the current wave) — the complaints'
    handling depends on today's date as well. Commits."""
    import time

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    sites = create_places(session, cities, rng)
    refs = [SiteRef.of(s) for s in sites]
    end = end_wave or wave_of(datetime.now(UTC))
    wave_list = recent_waves(wave_bounds(end)[0], waves)
    prepared = generate_responses(questionnaires, refs, responses, rng, wave_list)
    bulk_store(session, prepared)
    session.commit()
    if agency and "healthcare" in questionnaires:
        load_demo_agency(session, questionnaires, rng, wave_list[-1])
    if tourism:
        load_demo_tourism(session, np.random.default_rng([seed, 15]), wave_list)
    return DemoResult(cities, len(sites), len(prepared), time.perf_counter() - t0)


def create_demo_accounts(session: Session, credentials_path: Path) -> list[tuple[str, str, str]]:
    """A demo admin, a researcher and one official per city, with random passwords
    written to ``credentials_path`` (mode 600). Commits."""
    rows: list[tuple[str, str, str]] = []
    specs: list[tuple[str, str, str | None]] = [
        ("admin@manyi.demo", "admin", None), ("researcher@manyi.demo", "researcher", None)]
    specs += [(f"official.{c.code}@manyi.demo", "official", c.code)
              for c in session.scalars(select(City).order_by(City.id))]
    has_agency = session.scalar(select(Agency.id).where(Agency.code == "demo-agency"))
    for email, role, city in specs:
        password = random_password()
        create_user(session, email=email, password=password, role=role, city_code=city)
        rows.append((email, role, password))
    if has_agency:
        password = random_password()
        create_user(session, email="agency@manyi.demo", password=password, role="agency",
                    agency_code="demo-agency")
        rows.append(("agency@manyi.demo", "agency", password))
    audit.record(session, "demo_accounts_created", actor="cli", count=len(rows))
    session.commit()
    credentials_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(credentials_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# manyi demo logins (random; regenerate by deleting instance/ and `make run`)\n")
        fh.write("# log in at http://127.0.0.1:5000/auth/login\n")
        for email, role, password in rows:
            fh.write(f"{role:<11} {email:<32} {password}\n")
    return rows

"""The YAML catalogue file (structure, holidays, activities, sessions): schema, checks, import."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking import rules
from booking.db import Database
from booking.models import (
    Activity,
    Booking,
    BookingEvent,
    BusRoute,
    BusStop,
    Category,
    DeadlineKind,
    OpeningWave,
    PaymentMode,
    Session,
    Structure,
    Supplement,
    Tariff,
)
from booking.school_calendar import SCHOOL_ZONES
from booking.services.common import places_taken

MAX_CAPACITY = 10_000
MAX_PRICE_CENTS = 1_000_000  # 10 000 €
MAX_COUPONS = 100
MAX_SPAN_DAYS = 731  # a pattern covers two school years at most
MAX_ALIASES = 30

_WEEKDAY_SPELLINGS = (
    ("mon", "monday", "lun", "lundi"),
    ("tue", "tuesday", "mar", "mardi"),
    ("wed", "wednesday", "mer", "mercredi"),
    ("thu", "thursday", "jeu", "jeudi"),
    ("fri", "friday", "ven", "vendredi"),
    ("sat", "saturday", "sam", "samedi"),
    ("sun", "sunday", "dim", "dimanche"),
)
WEEKDAYS = {name: index for index, names in enumerate(_WEEKDAY_SPELLINGS) for name in names}

_CODE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_EUROS = re.compile(r"(\d{1,7})(?:[.,](\d{1,2}))?")
_CLOCK = re.compile(r"([01]?\d|2[0-3])[:hH]([0-5]\d)")


class CatalogueError(Exception):
    """A catalogue file that cannot be imported; `errors` name each entry and field."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} error(s) in the catalogue:\n" + "\n".join(errors))


# --- Field types -----------------------------------------------------------------------------


def _code(value: Any) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValueError("must be lowercase letters, digits, '-' or '_' (e.g. cantine-jaures)")
    return value


def _euros(value: Any) -> int:
    """ "3,20", "3.20", "3", "3,20 €" → cents; bare YAML numbers are refused as ambiguous."""
    if not isinstance(value, str):
        raise ValueError('must be an amount in euros between quotes, e.g. "3,20"')
    cleaned = value.replace("€", "").replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    match = _EUROS.fullmatch(cleaned)
    if match is None:
        raise ValueError(f'must be an amount in euros, e.g. "3,20" (got {value!r})')
    cents = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if cents > MAX_PRICE_CENTS:
        raise ValueError("must be at most 10000 €")
    return cents


def _clock_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str) and (match := _CLOCK.fullmatch(value.strip())):
        return dt.time(int(match.group(1)), int(match.group(2)))
    raise ValueError('must be a time of day between quotes, e.g. "08:30"')


def _weekday(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS[value.strip().lower()]
    raise ValueError("must be a weekday: mon, tue, wed, thu, fri, sat or sun")


def _local_datetime(value: Any) -> Any:
    """A date alone means midnight; naive values are read later in the structure's time zone."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(0, 0))
    return value


def _holiday_names(value: Any) -> bool | list[str]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return value
    raise ValueError("must be true, false or a list of holiday names")


def _school_zone(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().upper() in SCHOOL_ZONES:
        return value.strip().upper()
    raise ValueError("must be A, B or C (the school holiday zone)")


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Paris)") from None
    return str(value)


Code = Annotated[str, BeforeValidator(_code)]
Euros = Annotated[int, BeforeValidator(_euros)]
ClockTime = Annotated[dt.time, BeforeValidator(_clock_time)]
Weekday = Annotated[int, BeforeValidator(_weekday)]
LocalDateTime = Annotated[dt.datetime, BeforeValidator(_local_datetime)]
HolidayExceptions = Annotated[bool | list[str], PlainValidator(_holiday_names)]
Text = Annotated[str, Field(max_length=200)]
Alias = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
SchoolZone = Annotated[str | None, PlainValidator(_school_zone)]
Capacity = Annotated[int, Field(ge=0, le=MAX_CAPACITY)]
Coupons = Annotated[int, Field(ge=0, le=MAX_COUPONS)]
Age = Annotated[int, Field(ge=0, le=120)]
Quotient = Annotated[int, Field(ge=0, le=100_000)]


# --- Schema ----------------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaymentSpec(_Spec):
    """How the town takes payments by link. Secrets (keys, passwords) belong in the
    environment (RIBAMBELLE_EOPAYMENT_OPTIONS), not in this file.

    No provider, no online payment: the test-card sandbox is never a default (a town would
    go live confirming bookings that nobody paid), it is asked for by name."""

    provider: Literal["sandbox", "eopayment"] | None = None
    backend: str | None = Field(None, max_length=32)  # eopayment: payfip_ws, tipi, payzen…
    options: dict[str, str] = Field(default_factory=dict)  # eopayment: numcli, saisie…
    service_url: str | None = Field(None, max_length=500)  # PayFiP web service address

    @model_validator(mode="after")
    def _backend_of_eopayment(self) -> PaymentSpec:
        if self.provider == "eopayment" and not self.backend:
            raise ValueError("provider eopayment needs a backend (e.g. payfip_ws)")
        if self.provider != "eopayment" and (self.backend or self.options or self.service_url):
            raise ValueError("backend, options and service_url are only for provider eopayment")
        return self


class StructureSpec(_Spec):
    """The town: `slug` identifies it across imports."""

    slug: Code = Field(max_length=64)
    name: Text = Field(min_length=1)
    timezone: Annotated[str, BeforeValidator(_timezone)] = "Europe/Paris"
    blocks_debtors: bool = True
    hold_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    waitlist_hold_minutes: int = Field(24 * 60, ge=1, le=30 * 24 * 60)
    coupon_price: Euros = 0
    reminder_hour: int = Field(18, ge=0, le=23)
    refund_via_provider: bool = False
    school_zone: SchoolZone = None  # whose dates "les vacances de printemps" are
    payment: PaymentSpec = Field(default_factory=PaymentSpec)


class HolidaySpec(_Spec):
    """A named range of days (inclusive), e.g. school holidays, that patterns can skip."""

    name: Text = Field(min_length=1)
    from_: dt.date = Field(alias="from")
    to: dt.date


class DeadlineSpec(_Spec):
    """`{days: 2}`, `{working_days: 2}` or `{days: 1, at: "15:00"}` before the session's day."""

    days: int | None = Field(None, ge=0, le=365)
    working_days: int | None = Field(None, ge=0, le=60)
    at: ClockTime | None = None


class TariffSpec(_Spec):
    """A price band: quotient bounds inclusive, ages `min_age <= age < max_age`."""

    label: Text = ""
    min_quotient: Quotient | None = None
    max_quotient: Quotient | None = None
    min_age: Age | None = None
    max_age: Age | None = None
    price: Euros


class SupplementSpec(_Spec):
    code: Code = Field(max_length=32)
    label: Text = Field(min_length=1, max_length=100)
    price: Euros


class BusStopSpec(_Spec):
    name: Text = Field(min_length=1, max_length=100)
    pickup: ClockTime | None = None


class BusRouteSpec(_Spec):
    name: Text = Field(min_length=1, max_length=100)
    stops: list[BusStopSpec] = Field(min_length=1)


class _SessionValues(_Spec):
    label: Text = ""
    place: Text = ""
    capacity: Capacity | None = None
    price: Euros | None = None
    coupons: Coupons | None = None


class WeeklySpec(_SessionValues):
    """One session on each listed weekday between two dates (inclusive)."""

    weekdays: list[Weekday] = Field(min_length=1)
    from_: dt.date = Field(alias="from")
    to: dt.date
    start: ClockTime
    end: ClockTime
    except_: list[dt.date] = Field(default_factory=list, alias="except")
    except_holidays: HolidayExceptions = False
    except_public_holidays: bool = True


class WeeksSpec(_SessionValues):
    """One session per week, from `first_day` at `start` to `last_day` at `end`."""

    from_: dt.date = Field(alias="from")
    to: dt.date
    first_day: Weekday = 0
    last_day: Weekday = 4
    start: ClockTime
    end: ClockTime
    except_: list[dt.date] = Field(default_factory=list, alias="except")


class SessionEntry(_SessionValues):
    """One entry of `sessions`: a `weekly` or `weeks` pattern, or one explicit session."""

    weekly: WeeklySpec | None = None
    weeks: WeeksSpec | None = None
    day: dt.date | None = Field(None, alias="date")
    start: ClockTime | None = None
    end: ClockTime | None = None
    starts_at: LocalDateTime | None = None
    ends_at: LocalDateTime | None = None


class ActivitySpec(_Spec):
    """An activity, upserted by `code`; ages are `min_age <= age < max_age`."""

    code: Code = Field(max_length=64)
    name: Text = Field(min_length=1)
    aliases: list[Alias] = Field(default_factory=list, max_length=MAX_ALIASES)
    description: str = Field("", max_length=5000)
    category: Category
    place: Text = ""
    min_age: Age = 0
    max_age: Age | None = None
    payment_mode: PaymentMode
    opens_at: LocalDateTime | None = None
    opening_waves: dict[Annotated[Code, Field(max_length=32)], LocalDateTime] = Field(
        default_factory=dict
    )
    booking_deadline: DeadlineSpec = Field(default_factory=DeadlineSpec)
    cancellation_deadline: DeadlineSpec = Field(default_factory=DeadlineSpec)
    waitlist: bool = False
    enrolment_required: bool = False
    children_per_adult: int | None = Field(None, ge=1, le=20)
    tariffs: list[TariffSpec] = Field(default_factory=list)
    supplements: list[SupplementSpec] = Field(default_factory=list)
    bus_routes: list[BusRouteSpec] = Field(default_factory=list)
    sessions: list[SessionEntry] = Field(default_factory=list)


class CatalogueSpec(_Spec):
    """A whole catalogue file."""

    structure: StructureSpec
    holidays: list[HolidaySpec] = Field(default_factory=list)
    activities: list[ActivitySpec] = Field(default_factory=list)


# --- Reading and checking --------------------------------------------------------------------


class _CatalogueLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys and reads 11:30 as text, not YAML 1.1's 690."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_CatalogueLoader.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _digit in "0123456789":
    _CatalogueLoader.yaml_implicit_resolvers.setdefault(_digit, []).insert(
        0, ("tag:yaml.org,2002:str", re.compile(r"^\d{1,2}:\d{2}$"))
    )


def read_catalogue_file(path: str | Path) -> CatalogueSpec:
    """Read and check a YAML catalogue file.

    Raises:
        CatalogueError: the file is unreadable, not YAML, or breaks the schema or its rules.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogueError([f"{path}: cannot read the file ({error})"]) from error
    try:
        data = yaml.load(text, Loader=_CatalogueLoader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise CatalogueError([f"{path}: {where}: {error.problem}"]) from error
    except yaml.YAMLError as error:
        raise CatalogueError([f"{path}: not a YAML file ({error})"]) from error
    return parse_catalogue(data)


def parse_catalogue(data: Any) -> CatalogueSpec:
    """Check a catalogue given as plain data (what YAML gives) and return it typed.

    Every error is collected, named by entry and field, e.g.
    `activities[2] (cantine-jaures).sessions[0].weekly.capacity: must be ≥ 0`. Type errors
    come first; the rules across fields and entries are checked once the types are right.

    Raises:
        CatalogueError: with the list of errors.
    """
    if not isinstance(data, Mapping):
        raise CatalogueError(["the file must be a mapping with structure, holidays, activities"])
    try:
        spec = CatalogueSpec.model_validate(data)
    except ValidationError as error:
        raise CatalogueError(
            [f"{_path_of(item['loc'], data)}: {_message(item)}" for item in error.errors()]
        ) from None
    errors = list(_check_catalogue(spec))
    if errors:
        raise CatalogueError(errors)
    return spec


def _path_of(loc: tuple[Any, ...], data: Mapping[str, Any]) -> str:
    """('activities', 2, 'sessions', 0) → 'activities[2] (code).sessions[0]'."""
    path = ""
    for position, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
            if loc[:position] == ("activities",):
                path += _code_suffix(data, part)
        else:
            path += f".{part}" if path else str(part)
    return path or "(file)"


def _code_suffix(data: Mapping[str, Any], index: int) -> str:
    activities = data.get("activities")
    if isinstance(activities, list) and index < len(activities):
        entry = activities[index]
        if isinstance(entry, Mapping) and isinstance(entry.get("code"), str):
            return f" ({entry['code']})"
    return ""


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "date_type": "must be a date, e.g. 2027-03-01",
    "date_parsing": "must be a date, e.g. 2027-03-01",
    "date_from_datetime_parsing": "must be a date, e.g. 2027-03-01",
    "date_from_datetime_inexact": "must be a date, e.g. 2027-03-01",
    "datetime_type": "must be a date and time, e.g. 2027-03-01 08:30",
    "datetime_parsing": "must be a date and time, e.g. 2027-03-01 08:30",
    "datetime_from_date_parsing": "must be a date and time, e.g. 2027-03-01 08:30",
}


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be ≤ {ctx['le']}"
    if kind == "enum":
        return f"must be one of {ctx['expected']}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else error["msg"]
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} item(s)"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def _check_catalogue(spec: CatalogueSpec) -> Iterator[str]:
    """The rules across fields and entries: ranges, references, duplicates, generated sessions."""
    yield from _check_holidays(spec.holidays)
    tz = ZoneInfo(spec.structure.timezone)
    holidays = {holiday.name: holiday for holiday in spec.holidays}
    first_seen: dict[str, int] = {}
    for index, activity in enumerate(spec.activities):
        path = f"activities[{index}] ({activity.code})"
        if activity.code in first_seen:
            yield f"{path}.code: duplicate of activities[{first_seen[activity.code]}]"
        first_seen.setdefault(activity.code, index)
        yield from _check_activity(path, activity)
        errors, _ = _plan_activity(path, activity, holidays, tz)
        yield from errors


def _check_holidays(holidays: Sequence[HolidaySpec]) -> Iterator[str]:
    names: dict[str, int] = {}
    for index, holiday in enumerate(holidays):
        if holiday.to < holiday.from_:
            yield f"holidays[{index}].to: must be on or after from ({holiday.from_})"
        if holiday.name in names:
            yield f"holidays[{index}].name: duplicate of holidays[{names[holiday.name]}]"
        names.setdefault(holiday.name, index)


def _check_activity(path: str, activity: ActivitySpec) -> Iterator[str]:
    if activity.max_age is not None and activity.max_age <= activity.min_age:
        yield f"{path}.max_age: must be greater than min_age ({activity.min_age})"
    if activity.children_per_adult is not None and (
        activity.max_age is not None and activity.max_age <= rules.ADULT_AGE
    ):
        yield f"{path}.children_per_adult: needs adults, so max_age must be empty or above 18"
    for name in ("booking_deadline", "cancellation_deadline"):
        deadline: DeadlineSpec = getattr(activity, name)
        if deadline.days is not None and deadline.working_days is not None:
            yield f"{path}.{name}: give days or working_days, not both"
    coupons = activity.payment_mode is PaymentMode.COUPONS
    if coupons and activity.tariffs:
        yield f"{path}.tariffs: not used when payment_mode is coupons"
    for index, tariff in enumerate(activity.tariffs):
        yield from _check_tariff(f"{path}.tariffs[{index}]", tariff)
    yield from _duplicates(path, "aliases", activity.aliases)
    yield from _duplicates(path, "supplements", [s.code for s in activity.supplements], "code")
    yield from _duplicates(path, "bus_routes", [r.name for r in activity.bus_routes], "name")
    for index, route in enumerate(activity.bus_routes):
        names = [stop.name for stop in route.stops]
        yield from _duplicates(f"{path}.bus_routes[{index}]", "stops", names, "name")


def _check_tariff(path: str, tariff: TariffSpec) -> Iterator[str]:
    if (
        tariff.min_quotient is not None
        and tariff.max_quotient is not None
        and tariff.max_quotient < tariff.min_quotient
    ):
        yield f"{path}.max_quotient: must be ≥ min_quotient ({tariff.min_quotient})"
    if (
        tariff.min_age is not None
        and tariff.max_age is not None
        and tariff.max_age <= tariff.min_age
    ):
        yield f"{path}.max_age: must be greater than min_age ({tariff.min_age})"


def _duplicates(
    path: str, collection: str, keys: Sequence[str], key: str | None = None
) -> Iterator[str]:
    """Entries of `collection` whose `key` (or whose value, without `key`) came before."""
    seen: dict[str, int] = {}
    for index, value in enumerate(keys):
        if value in seen:
            suffix = f".{key}" if key else ""
            yield f"{path}.{collection}[{index}]{suffix}: duplicate of {collection}[{seen[value]}]"
        seen.setdefault(value, index)


# --- Sessions generated from the entries -----------------------------------------------------


@dataclass(frozen=True)
class PlannedSession:
    """One session as the file describes it, in the structure's time zone."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    label: str
    place: str
    capacity: int
    price_cents: int
    coupons: int

    def columns(self) -> dict[str, Any]:
        return {
            "ends_at": self.ends_at,
            "day": self.starts_at.date(),
            "label": self.label,
            "place": self.place,
            "capacity": self.capacity,
            "price_cents": self.price_cents,
            "coupons": self.coupons,
        }


Planned = tuple[list[str], list[PlannedSession]]


def _plan_activity(
    path: str, activity: ActivitySpec, holidays: Mapping[str, HolidaySpec], tz: ZoneInfo
) -> Planned:
    """The sessions of an activity, and what is wrong with its `sessions` entries."""
    errors: list[str] = []
    planned: list[PlannedSession] = []
    starts: dict[dt.datetime, int] = {}
    for index, entry in enumerate(activity.sessions):
        entry_path = f"{path}.sessions[{index}]"
        entry_errors, sessions = _plan_entry(entry_path, entry, activity, holidays, tz)
        errors += entry_errors
        for session in sessions:
            if session.starts_at in starts:
                errors.append(
                    f"{entry_path}: a session already starts at "
                    f"{session.starts_at:%Y-%m-%d %H:%M} (sessions[{starts[session.starts_at]}])"
                )
                break
            starts[session.starts_at] = index
        planned += sessions
    return errors, planned


def _plan_entry(
    path: str,
    entry: SessionEntry,
    activity: ActivitySpec,
    holidays: Mapping[str, HolidaySpec],
    tz: ZoneInfo,
) -> Planned:
    """Errors and sessions of one `sessions` entry, whichever of its four forms it takes."""
    forms = [
        name
        for name, value in (
            ("weekly", entry.weekly),
            ("weeks", entry.weeks),
            ("date", entry.day),
            ("starts_at", entry.starts_at),
        )
        if value is not None
    ]
    if len(forms) != 1:
        return [f"{path}: give exactly one of weekly, weeks, date or starts_at (got {forms})"], []
    if entry.weekly is not None:
        return _plan_pattern(path, "weekly", entry, entry.weekly, activity, holidays, tz)
    if entry.weeks is not None:
        return _plan_pattern(path, "weeks", entry, entry.weeks, activity, holidays, tz)
    if entry.day is not None:
        return _plan_day(path, entry, entry.day, activity, tz)
    return _plan_span(path, entry, activity, tz)


def _plan_pattern(
    path: str,
    form: str,
    entry: SessionEntry,
    pattern: WeeklySpec | WeeksSpec,
    activity: ActivitySpec,
    holidays: Mapping[str, HolidaySpec],
    tz: ZoneInfo,
) -> Planned:
    errors = [
        f"{path}.{name}: belongs inside {form}"
        for name in ("label", "place", "capacity", "price", "coupons", "start", "end")
        if name in entry.model_fields_set
    ]
    pattern_path = f"{path}.{form}"
    errors += _check_values(pattern_path, pattern, activity)
    if isinstance(pattern, WeeklySpec):
        more, days = _weekly_days(pattern_path, pattern, holidays)
        spans = [(day, day) for day in days]
    else:
        more, spans = _weeks_spans(pattern_path, pattern)
    if errors or more:
        return errors + more, []
    return [], [
        _planned(pattern, first, last, pattern.start, pattern.end, tz) for first, last in spans
    ]


def _plan_day(
    path: str, entry: SessionEntry, day: dt.date, activity: ActivitySpec, tz: ZoneInfo
) -> Planned:
    """`date` with `start` and `end`: a session within one day."""
    errors = _check_values(path, entry, activity)
    if entry.ends_at is not None:
        errors.append(f"{path}.ends_at: use start and end with date")
    if entry.start is None or entry.end is None:
        missing = [name for name in ("start", "end") if getattr(entry, name) is None]
        return errors + [f"{path}.{name}: is required with date" for name in missing], []
    if entry.end <= entry.start:
        errors.append(f"{path}.end: must be after start ({entry.start:%H:%M})")
    if errors:
        return errors, []
    return [], [_planned(entry, day, day, entry.start, entry.end, tz)]


def _plan_span(path: str, entry: SessionEntry, activity: ActivitySpec, tz: ZoneInfo) -> Planned:
    """`starts_at` and `ends_at`: any span, e.g. a stay from Monday to Friday."""
    errors = _check_values(path, entry, activity)
    errors += [
        f"{path}.{name}: use starts_at and ends_at"
        for name in ("start", "end")
        if getattr(entry, name) is not None
    ]
    if entry.starts_at is None or entry.ends_at is None:
        return errors + [f"{path}.ends_at: is required with starts_at"], []
    starts_at, ends_at = _localize(entry.starts_at, tz), _localize(entry.ends_at, tz)
    if ends_at <= starts_at:
        errors.append(f"{path}.ends_at: must be after starts_at ({starts_at:%Y-%m-%d %H:%M})")
    if errors:
        return errors, []
    return [], [_session(entry, starts_at, ends_at)]


def _check_values(path: str, values: _SessionValues, activity: ActivitySpec) -> list[str]:
    """Capacity is required; coupons for coupon activities, a price for every other one."""
    errors = []
    if values.capacity is None:
        errors.append(f"{path}.capacity: is required")
    if activity.payment_mode is PaymentMode.COUPONS:
        if values.coupons is None:
            errors.append(f"{path}.coupons: is required when payment_mode is coupons")
        if values.price is not None:
            errors.append(f"{path}.price: not used when payment_mode is coupons (give coupons)")
    else:
        if values.price is None:
            errors.append(f"{path}.price: is required")
        if values.coupons is not None:
            errors.append(f"{path}.coupons: only for payment_mode coupons")
    return errors


def _span_errors(path: str, pattern: WeeklySpec | WeeksSpec) -> list[str]:
    errors = []
    if pattern.to < pattern.from_:
        errors.append(f"{path}.to: must be on or after from ({pattern.from_})")
    elif (pattern.to - pattern.from_).days > MAX_SPAN_DAYS:
        errors.append(f"{path}.to: the pattern covers more than {MAX_SPAN_DAYS} days")
    return errors


def _weekly_days(
    path: str, pattern: WeeklySpec, holidays: Mapping[str, HolidaySpec]
) -> tuple[list[str], list[dt.date]]:
    errors = _span_errors(path, pattern)
    if pattern.end <= pattern.start:
        errors.append(f"{path}.end: must be after start ({pattern.start:%H:%M})")
    skipped_holidays: list[HolidaySpec] = []
    if pattern.except_holidays is True:
        skipped_holidays = list(holidays.values())
    elif isinstance(pattern.except_holidays, list):
        for index, name in enumerate(pattern.except_holidays):
            if name not in holidays:
                known = ", ".join(holidays) or "none defined"
                errors.append(
                    f"{path}.except_holidays[{index}]: unknown holiday {name!r} (known: {known})"
                )
            else:
                skipped_holidays.append(holidays[name])
    if errors:
        return errors, []
    excluded = set(pattern.except_)
    days = [
        day
        for day in _days(pattern.from_, pattern.to)
        if day.weekday() in pattern.weekdays
        and day not in excluded
        and not any(h.from_ <= day <= h.to for h in skipped_holidays)
        and not (pattern.except_public_holidays and day in rules.french_public_holidays(day.year))
    ]
    if not days:
        return [f"{path}: makes no session (every day is excluded)"], []
    return [], days


def _weeks_spans(path: str, pattern: WeeksSpec) -> tuple[list[str], list[tuple[dt.date, dt.date]]]:
    errors = _span_errors(path, pattern)
    length = (pattern.last_day - pattern.first_day) % 7
    if length == 0 and pattern.end <= pattern.start:
        errors.append(f"{path}.end: must be after start ({pattern.start:%H:%M})")
    if errors:
        return errors, []
    excluded = set(pattern.except_)
    spans = []
    for first in _days(pattern.from_, pattern.to):
        last = first + dt.timedelta(days=length)
        if first.weekday() != pattern.first_day or last > pattern.to:
            continue
        if not any(day in excluded for day in _days(first, last)):
            spans.append((first, last))
    if not spans:
        return [f"{path}: makes no session (no whole week between from and to)"], []
    return [], spans


def _days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def _localize(value: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


def _planned(
    values: _SessionValues,
    first: dt.date,
    last: dt.date,
    start: dt.time,
    end: dt.time,
    tz: ZoneInfo,
) -> PlannedSession:
    return _session(
        values,
        dt.datetime.combine(first, start, tzinfo=tz),
        dt.datetime.combine(last, end, tzinfo=tz),
    )


def _session(
    values: _SessionValues, starts_at: dt.datetime, ends_at: dt.datetime
) -> PlannedSession:
    return PlannedSession(
        starts_at=starts_at,
        ends_at=ends_at,
        label=values.label,
        place=values.place,
        capacity=values.capacity or 0,
        price_cents=values.price or 0,
        coupons=values.coupons or 0,
    )


def planned_sessions(spec: CatalogueSpec, activity: ActivitySpec) -> list[PlannedSession]:
    """The sessions an activity entry of a checked catalogue describes, in time order."""
    holidays = {holiday.name: holiday for holiday in spec.holidays}
    _, sessions = _plan_activity("", activity, holidays, ZoneInfo(spec.structure.timezone))
    return sorted(sessions, key=lambda session: session.starts_at)


# --- Import ----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did, in counts, with warnings for staff (nothing is lost silently)."""

    structure: str
    structure_created: bool = False
    activities_created: int = 0
    activities_updated: int = 0
    activities_unchanged: int = 0
    sessions_created: int = 0
    sessions_updated: int = 0
    sessions_unchanged: int = 0
    sessions_deleted: int = 0
    sessions_kept: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the command line."""
        lines = [
            f"structure {self.structure}: {'created' if self.structure_created else 'updated'}",
            f"activities: {self.activities_created} created, {self.activities_updated} updated, "
            f"{self.activities_unchanged} unchanged",
            f"sessions: {self.sessions_created} created, {self.sessions_updated} updated, "
            f"{self.sessions_unchanged} unchanged, {self.sessions_deleted} deleted, "
            f"{self.sessions_kept} kept (booked or past, no longer in the file)",
        ]
        return "\n".join(lines + [f"warning: {warning}" for warning in self.warnings])

    def __str__(self) -> str:
        return self.summary()


async def import_catalogue_file(
    database: Database, path: str | Path, now: dt.datetime
) -> ImportReport:
    """Read, check and import a YAML catalogue file in one transaction.

    Raises:
        CatalogueError: the file is wrong; nothing was written.
    """
    spec = await asyncio.to_thread(read_catalogue_file, path)
    async with database.writing() as db:
        return await load_catalogue(db, spec, now)


async def load_catalogue(
    db: AsyncSession, spec: CatalogueSpec | Mapping[str, Any], now: dt.datetime
) -> ImportReport:
    """Upsert a catalogue in the caller's transaction (the caller commits).

    Rules: the structure is matched by slug and activities by code; an activity code used by
    another structure is an error. Sessions are matched by activity and start: re-importing
    the same file changes nothing. Upcoming sessions no longer in the file are deleted unless
    they have bookings; past sessions are kept. Activities absent from the file are left as
    they are. Tariffs and opening waves are replaced by the file's; supplements, bus routes
    and stops are matched by code or name, and stops chosen by bookings are kept.

    Raises:
        CatalogueError: the data breaks the schema or its rules, or a code belongs to
            another structure; nothing was written by this call.
    """
    if not isinstance(spec, CatalogueSpec):
        spec = parse_catalogue(spec)
    await _check_codes_are_ours(db, spec)
    report = ImportReport(structure=spec.structure.slug)
    structure = await _upsert_structure(db, spec.structure, report)
    tz = ZoneInfo(structure.timezone)
    for activity_spec in spec.activities:
        activity, created, changed = await _upsert_activity(db, structure, activity_spec, tz)
        changed |= await _sync_waves(db, activity, activity_spec, tz)
        changed |= await _sync_tariffs(db, activity, activity_spec)
        changed |= await _sync_supplements(db, activity, activity_spec)
        changed |= await _sync_bus_routes(db, activity, activity_spec, report)
        await _sync_sessions(db, activity, planned_sessions(spec, activity_spec), now, report)
        if created:
            report.activities_created += 1
        elif changed:
            report.activities_updated += 1
        else:
            report.activities_unchanged += 1
    await db.flush()
    return report


def _assign(row: Any, values: Mapping[str, Any]) -> bool:
    """Set the columns that differ; True when one did (aware datetimes compare as instants)."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


async def _check_codes_are_ours(db: AsyncSession, spec: CatalogueSpec) -> None:
    codes = [activity.code for activity in spec.activities]
    if not codes:
        return
    rows = await db.execute(
        select(Activity.code, Structure.slug)
        .join(Structure, Structure.id == Activity.structure_id)
        .where(Activity.code.in_(codes), Structure.slug != spec.structure.slug)
    )
    owners = {code: slug for code, slug in rows}
    errors = [
        f"activities[{index}] ({code}).code: already used by structure {owners[code]!r}"
        for index, code in enumerate(codes)
        if code in owners
    ]
    if errors:
        raise CatalogueError(errors)


async def _upsert_structure(
    db: AsyncSession, spec: StructureSpec, report: ImportReport
) -> Structure:
    values = {
        "name": spec.name,
        "timezone": spec.timezone,
        "blocks_debtors": spec.blocks_debtors,
        "hold_minutes": spec.hold_minutes,
        "waitlist_hold_minutes": spec.waitlist_hold_minutes,
        "coupon_price_cents": spec.coupon_price,
        "reminder_hour": spec.reminder_hour,
        "refund_via_provider": spec.refund_via_provider,
        "school_zone": spec.school_zone,
        "payment_settings": spec.payment.model_dump(exclude_none=True),
    }
    structure = await db.scalar(select(Structure).where(Structure.slug == spec.slug))
    if structure is None:
        structure = Structure(slug=spec.slug, **values)
        db.add(structure)
        await db.flush()
        report.structure_created = True
    else:
        _assign(structure, values)
    return structure


def _deadline_columns(prefix: str, deadline: DeadlineSpec) -> dict[str, Any]:
    working = deadline.working_days is not None
    return {
        f"{prefix}_kind": DeadlineKind.WORKING_DAYS if working else DeadlineKind.DAYS,
        f"{prefix}_days": (deadline.working_days if working else deadline.days) or 0,
        f"{prefix}_time": deadline.at,
    }


async def _upsert_activity(
    db: AsyncSession, structure: Structure, spec: ActivitySpec, tz: ZoneInfo
) -> tuple[Activity, bool, bool]:
    """The activity with this code, created or brought up to date: (activity, created, changed)."""
    values = {
        "name": spec.name,
        "aliases": list(spec.aliases),
        "description": spec.description,
        "category": spec.category,
        "place": spec.place,
        "min_age": spec.min_age,
        "max_age": spec.max_age,
        "payment_mode": spec.payment_mode,
        "opens_at": _localize(spec.opens_at, tz) if spec.opens_at else None,
        **_deadline_columns("booking_deadline", spec.booking_deadline),
        **_deadline_columns("cancellation_deadline", spec.cancellation_deadline),
        "waitlist_enabled": spec.waitlist,
        "enrolment_required": spec.enrolment_required,
        "children_per_adult": spec.children_per_adult,
    }
    activity = await db.scalar(select(Activity).where(Activity.code == spec.code))
    if activity is None:
        activity = Activity(structure_id=structure.id, code=spec.code, **values)
        db.add(activity)
        await db.flush()
        return activity, True, True
    return activity, False, _assign(activity, values)


async def _sync_waves(
    db: AsyncSession, activity: Activity, spec: ActivitySpec, tz: ZoneInfo
) -> bool:
    wanted = {group: _localize(at, tz) for group, at in spec.opening_waves.items()}
    rows = await db.execute(
        select(OpeningWave.household_group, OpeningWave.opens_at).where(
            OpeningWave.activity_id == activity.id
        )
    )
    if {group: opens_at for group, opens_at in rows} == wanted:
        return False
    await db.execute(delete(OpeningWave).where(OpeningWave.activity_id == activity.id))
    db.add_all(
        OpeningWave(activity_id=activity.id, household_group=group, opens_at=at)
        for group, at in wanted.items()
    )
    return True


async def _sync_tariffs(db: AsyncSession, activity: Activity, spec: ActivitySpec) -> bool:
    """Bands are kept in file order: the first band that matches wins."""
    wanted = [
        (t.label, t.min_quotient, t.max_quotient, t.min_age, t.max_age, t.price)
        for t in spec.tariffs
    ]
    rows = await db.execute(
        select(
            Tariff.label,
            Tariff.min_quotient,
            Tariff.max_quotient,
            Tariff.min_age,
            Tariff.max_age,
            Tariff.price_cents,
        )
        .where(Tariff.activity_id == activity.id)
        .order_by(Tariff.id)
    )
    if [tuple(row) for row in rows] == wanted:
        return False
    await db.execute(delete(Tariff).where(Tariff.activity_id == activity.id))
    for label, min_q, max_q, min_age, max_age, price in wanted:
        db.add(
            Tariff(
                activity_id=activity.id,
                label=label,
                min_quotient=min_q,
                max_quotient=max_q,
                min_age=min_age,
                max_age=max_age,
                price_cents=price,
            )
        )
        await db.flush()  # one by one: ids (hence the order of the bands) follow the file
    return True


async def _sync_supplements(db: AsyncSession, activity: Activity, spec: ActivitySpec) -> bool:
    existing = {
        s.code: s
        for s in await db.scalars(select(Supplement).where(Supplement.activity_id == activity.id))
    }
    changed = False
    for wanted in spec.supplements:
        values = {"label": wanted.label, "price_cents": wanted.price}
        supplement = existing.pop(wanted.code, None)
        if supplement is None:
            db.add(Supplement(activity_id=activity.id, code=wanted.code, **values))
            changed = True
        else:
            changed |= _assign(supplement, values)
    if existing:
        ids = [supplement.id for supplement in existing.values()]
        await db.execute(delete(Supplement).where(Supplement.id.in_(ids)))
        changed = True
    return changed


async def _sync_bus_routes(
    db: AsyncSession, activity: Activity, spec: ActivitySpec, report: ImportReport
) -> bool:
    routes = {
        r.name: r
        for r in await db.scalars(select(BusRoute).where(BusRoute.activity_id == activity.id))
    }
    changed = False
    for wanted in spec.bus_routes:
        route = routes.pop(wanted.name, None)
        if route is None:
            route = BusRoute(activity_id=activity.id, name=wanted.name)
            db.add(route)
            await db.flush()
            changed = True
        changed |= await _sync_stops(db, activity, route, wanted.stops, report)
    for route in routes.values():
        changed |= await _sync_stops(db, activity, route, [], report)
        if not (await db.scalars(select(BusStop.id).where(BusStop.route_id == route.id))).first():
            await db.delete(route)
    return changed


async def _sync_stops(
    db: AsyncSession,
    activity: Activity,
    route: BusRoute,
    wanted: Sequence[BusStopSpec],
    report: ImportReport,
) -> bool:
    existing = {
        s.name: s for s in await db.scalars(select(BusStop).where(BusStop.route_id == route.id))
    }
    changed = False
    for position, stop_spec in enumerate(wanted):
        values = {"position": position, "pickup_time": stop_spec.pickup}
        stop = existing.pop(stop_spec.name, None)
        if stop is None:
            db.add(BusStop(route_id=route.id, name=stop_spec.name, **values))
            changed = True
        else:
            changed |= _assign(stop, values)
    for stop in existing.values():
        if await db.scalar(select(Booking.id).where(Booking.bus_stop_id == stop.id).limit(1)):
            report.warnings.append(
                f"{activity.code}: bus stop {stop.name!r} ({route.name}) is no longer in the "
                "file but bookings use it: kept"
            )
        else:
            await db.delete(stop)
            changed = True
    await db.flush()
    return changed


async def _sync_sessions(
    db: AsyncSession,
    activity: Activity,
    planned: Sequence[PlannedSession],
    now: dt.datetime,
    report: ImportReport,
) -> None:
    """Match sessions by start; create, update, or delete the unbooked upcoming leftovers."""
    existing = {
        session.starts_at.astimezone(dt.UTC): session
        for session in await db.scalars(select(Session).where(Session.activity_id == activity.id))
    }
    for plan in planned:
        session = existing.pop(plan.starts_at.astimezone(dt.UTC), None)
        if session is None:
            db.add(Session(activity_id=activity.id, starts_at=plan.starts_at, **plan.columns()))
            report.sessions_created += 1
        elif _assign(session, plan.columns()):
            report.sessions_updated += 1
            await _warn_if_overbooked(db, activity, session, report)
        else:
            report.sessions_unchanged += 1
    await _drop_leftovers(db, activity, list(existing.values()), now, report)


async def _warn_if_overbooked(
    db: AsyncSession, activity: Activity, session: Session, report: ImportReport
) -> None:
    taken = await places_taken(db, session.id)
    if taken > session.capacity:
        report.warnings.append(
            f"{activity.code}: session of {session.starts_at:%Y-%m-%d %H:%M} now has capacity "
            f"{session.capacity} but {taken} places are taken"
        )


async def _drop_leftovers(
    db: AsyncSession,
    activity: Activity,
    leftovers: Sequence[Session],
    now: dt.datetime,
    report: ImportReport,
) -> None:
    ids = [session.id for session in leftovers]
    if not ids:
        return
    with_history = set(
        (await db.scalars(select(Booking.session_id).where(Booking.session_id.in_(ids)))).all()
    ) | set(
        (
            await db.scalars(
                select(BookingEvent.session_id).where(BookingEvent.session_id.in_(ids))
            )
        ).all()
    )
    for session in leftovers:
        if session.id in with_history:
            report.sessions_kept += 1
            if session.starts_at > now:
                report.warnings.append(
                    f"{activity.code}: session of {session.starts_at:%Y-%m-%d %H:%M} is no "
                    "longer in the file but has bookings: kept"
                )
        elif session.starts_at <= now:
            report.sessions_kept += 1
        else:
            await db.delete(session)
            report.sessions_deleted += 1

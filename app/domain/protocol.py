"""An infusion protocol from the library: what to give, how fast, and what must be checked first.

Every clinical number comes from a protocol file (resources/protocols/*.toml), which cites its source.
This module turns the parsed mapping into validated, immutable objects and explains, per field,
anything it cannot accept. It does no I/O: reading files is `app.protocol_library`'s job.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

VOLUME_TOLERANCE_ML = 1e-6
# Sanity bounds on any number in a protocol file (not clinical limits: those live in the files).
MAX_VOLUME_ML = 10_000.0  # no infusion bag holds 10 L
MAX_NUMBER = 1e6
MAX_STEPS = 100  # rungs of a rate ladder

FILE_KEY = "file_key"


def in_file(key: str | None) -> dict[str, str | None]:
    """Field metadata: the field's key in a protocol file when it is not the field's name ("bag.diluent"
    for a key in the [bag] table); None for a field that does not come from the file."""
    return {FILE_KEY: key}


class ProtocolError(ValueError):
    """A protocol definition that cannot be used. Names the file, the field and what is wrong."""

    def __init__(self, source: str, field_name: str, problem: str) -> None:
        self.source = source
        self.field_name = field_name
        self.problem = problem
        super().__init__(f"{source}: field '{field_name}': {problem}")


class ReactionAction(Enum):
    """What the label says to do for a reaction of a given grade."""

    HALVE_RATE = "halve_rate"  # reduce to a fraction of the onset rate, hold, then escalate again
    STOP_THEN_RESTART = "stop_then_restart"  # stop; restart at a fraction of the onset rate once resolved
    DISCONTINUE = "discontinue"  # stop and permanently discontinue


@dataclass(frozen=True)
class RateStep:
    """One rung of the rate ladder. The last rung may run until the bag is empty (duration None)."""

    rate_ml_h: float = field(metadata=in_file("rate"))  # in the file's rate_unit
    duration_min: float | None


@dataclass(frozen=True)
class Escalation:
    """A rate ladder written as a rule: from start_rate, + increment every interval_min, up to until_rate
    (rates in the file's rate_unit)."""

    start_rate: float
    increment: float
    interval_min: float
    until_rate: float


@dataclass(frozen=True)
class Premedication:
    drug: str
    dose: str
    route: str
    min_lead_min: float
    max_lead_min: float
    required: bool
    dose_min_mg: float | None = None  # the template's dose range, to check the dose actually given
    dose_max_mg: float | None = None
    routes: tuple[str, ...] = ()  # the routes the template allows (empty: not checked)
    source: str = ""  # where the dose, route and timing come from (label section or institutional)
    max_daily_mg: float | None = None  # the most that may be given in 24 h (all doses together)
    max_daily_source: str = ""

    @property
    def suggested_dose(self) -> str:
        """What a dialog may pre-fill: a dose to confirm or edit, never the template's range."""
        return f"{self.dose_max_mg:g} mg" if self.dose_max_mg is not None else self.dose

    @property
    def suggested_route(self) -> str:
        return self.routes[0] if self.routes else self.route


class ScreeningOutcome(Enum):
    DELAY = "delay"  # the infusion should be postponed (e.g. active infection)
    CONTRAINDICATION = "contraindication"  # the infusion must not be given
    REFER = "refer"  # only under a specialist's guidance (e.g. a hepatologist for a hepatitis B carrier)


@dataclass(frozen=True)
class ScreeningItem:
    id: str
    question: str
    acceptable_answer: bool
    if_not: ScreeningOutcome
    source: str = ""  # where the item comes from (the label, the seeds, or "institutional")
    refer_to: str = ""  # for REFER: whose guidance the infusion needs


@dataclass(frozen=True)
class Eligibility:
    min_prior_infusions: int = 0
    requires_no_prior_serious_reaction: bool = False
    min_interval_days: int | None = None
    max_prior_infusions: int | None = None  # e.g. an initial-dose protocol: not after two infusions
    # The second infusion of a course (one prior infusion): due within this window after the first
    second_dose_min_days: int | None = None
    second_dose_max_days: int | None = None
    source: str = ""


@dataclass(frozen=True)
class Concentration:
    """The label's dilution range ([concentration]); a bag outside it is refused at check-in."""

    min_mg_ml: float
    max_mg_ml: float
    source: str

    def allows(self, concentration_mg_ml: float) -> bool:
        return self.min_mg_ml - 1e-9 <= concentration_mg_ml <= self.max_mg_ml + 1e-9


@dataclass(frozen=True)
class VitalSignSchedule:
    """When vital signs are due (minutes). Marked institutional where the label is silent."""

    baseline: bool  # before the infusion starts (the start is refused without them)
    first_hour_every_min: float  # during the first `first_period_min` of the infusion
    first_period_min: float
    then_every_min: float  # for the rest of the infusion
    at_end: bool  # when the infusion ends
    before_discharge_min: float  # within this long before the earliest discharge
    source: str
    after_reaction_every_min: float | None = None  # after a reaction's onset, this often...
    after_reaction_period_min: float = 0.0  # ...for this long


@dataclass(frozen=True)
class ReactionRule:
    grades: tuple[int, ...]
    action: ReactionAction
    rate_factor: float  # fraction of the onset rate to run at (halve: 0.5)
    hold_min: float  # how long to hold the reduced rate before escalating again

    def apply(self, rate_at_onset_ml_h: float, ceiling_ml_h: float) -> float:
        """The rate to run at after a reaction (halve) or to restart at once resolved (stop): the rule's
        fraction of the rate at onset, never above the ladder's top rung. 0 for discontinue.

        The one home of this arithmetic: `decide` (what the nurse is told) and the planner use it."""
        if self.action is ReactionAction.DISCONTINUE:
            return 0.0
        return max(0.0, min(rate_at_onset_ml_h * self.rate_factor, ceiling_ml_h))


@dataclass(frozen=True)
class InfusionProtocol:
    id: str
    name: str
    drug: str
    dose_mg: float
    bag_volume_ml: float
    max_rate_ml_h: float
    steps: tuple[RateStep, ...]
    premedications: tuple[Premedication, ...]
    observation_min: float
    bag_room_temperature_limit_h: float = field(metadata=in_file("bag.room_temperature_limit_h"))
    bag_refrigerated_limit_h: float = field(metadata=in_file("bag.refrigerated_limit_h"))
    screening: tuple[ScreeningItem, ...]
    eligibility: Eligibility
    reaction_rules: tuple[ReactionRule, ...]
    source: str
    notes: str = ""
    bag_diluent: str = field(default="", metadata=in_file("bag.diluent"))
    rate_unit: str = "mL/h"  # the unit of the file's rates; the steps are in mL/h whatever it is
    escalation: Escalation | None = None  # the file's ladder rule, when it gave one instead of steps
    # the rate ladder in `rate_unit` (mg/h protocols: converted to mL/h per session's concentration)
    ladder: tuple[RateStep, ...] = field(default=(), metadata=in_file(None))
    max_rate_mg_h: float | None = None  # mg/h-dosed protocols: the label's maximum
    concentration: Concentration | None = None  # the label's dilution range, when it gives one
    # the product codes (GTIN-14) of this protocol's drug, and where they come from
    bag_gtins: tuple[str, ...] = field(default=(), metadata=in_file("bag.gtins"))
    bag_gtins_source: str = field(default="", metadata=in_file("bag.gtins_source"))
    vital_signs: VitalSignSchedule | None = None
    # a label limit from dilution whatever the storage (natalizumab: use within 8 h of dilution)
    bag_total_limit_h: float | None = field(default=None, metadata=in_file("bag.total_limit_h"))
    definition: Mapping[str, Any] = field(
        default_factory=dict, compare=False, repr=False, metadata=in_file(None)
    )

    @property
    def concentration_mg_ml(self) -> float:
        return self.dose_mg / self.bag_volume_ml

    @property
    def dosed_in_mg_h(self) -> bool:
        return self.rate_unit == "mg/h"

    def session_concentration(self, bag_volume_ml: float | None, dose_mg: float | None) -> float:
        """mg/mL of a session's bag (the protocol's dose and bag when not given)."""
        volume = self.bag_volume_ml if bag_volume_ml is None else bag_volume_ml
        dose = self.dose_mg if dose_mg is None else dose_mg
        return dose / volume

    def steps_at(self, concentration_mg_ml: float) -> tuple[RateStep, ...]:
        """The ladder in mL/h for a bag of this concentration. An mL/h ladder is the label's mg/h at the
        label's concentration: a bag of another concentration runs the same mg/h, never more."""
        if self.dosed_in_mg_h:
            return ladder_in_ml_h(self.ladder, self.rate_unit, concentration_mg_ml)
        if abs(concentration_mg_ml - self.concentration_mg_ml) <= 1e-12 * self.concentration_mg_ml:
            return self.steps
        factor = self.concentration_mg_ml / concentration_mg_ml
        return tuple(RateStep(step.rate_ml_h * factor, step.duration_min) for step in self.steps)

    def max_rate_ml_h_at(self, concentration_mg_ml: float) -> float:
        return self.max_rate_mg_h_at(concentration_mg_ml) / concentration_mg_ml

    def max_rate_mg_h_at(self, concentration_mg_ml: float) -> float:
        """The label's maximum in mg/h, whatever the bag (an mL/h label: at the label's concentration)."""
        if self.dosed_in_mg_h and self.max_rate_mg_h is not None:
            return self.max_rate_mg_h
        return self.max_rate_ml_h * self.concentration_mg_ml

    def rule_for_grade(self, grade: int) -> ReactionRule:
        for rule in self.reaction_rules:
            if grade in rule.grades:
                return rule
        raise KeyError(f"protocol {self.id} has no reaction rule for grade {grade}")


# --------------------------------------------------------------------------------------------------
# The keys a protocol file may use, derived from the dataclasses above (one place to extend: add a field)


def _nested_dataclass(annotation: Any) -> type | None:
    if isinstance(annotation, type) and is_dataclass(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        found = _nested_dataclass(arg)
        if found is not None:
            return found
    return None


def _collect_keys(cls: type, section: str, table: dict[str, set[str]]) -> None:
    hints = typing.get_type_hints(cls)
    for item in fields(cls):
        key = item.metadata.get(FILE_KEY, item.name)
        if key is None:
            continue
        parent, _, leaf = key.rpartition(".")
        where = ".".join(part for part in (section, parent) if part)
        table.setdefault(where, set()).add(leaf)
        if parent:
            table.setdefault(section, set()).add(parent)
        nested = _nested_dataclass(hints[item.name])
        if nested is not None:
            _collect_keys(nested, f"{where}.{leaf}" if where else leaf, table)


def _file_keys() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    _collect_keys(InfusionProtocol, "", table)
    return {section: frozenset(keys) for section, keys in table.items()}


PROTOCOL_FILE_KEYS: Mapping[str, frozenset[str]] = _file_keys()
"""Table (section -> allowed keys): "" is the top level, "steps" each [[steps]] entry, "bag" the [bag]
table, and so on."""


def check_keys(data: Mapping[str, Any], source: str, section: str = "", where: str = "") -> None:
    """Refuse a key the protocol does not know (a typo would otherwise be silently ignored)."""
    allowed = PROTOCOL_FILE_KEYS[section]
    for key, value in data.items():
        name = f"{where}{key}"
        if key not in allowed:
            raise ProtocolError(
                source, name, f"is not a protocol key (known here: {', '.join(sorted(allowed))})"
            )
        child = f"{section}.{key}" if section else key
        if child not in PROTOCOL_FILE_KEYS:
            continue
        if isinstance(value, Mapping):
            check_keys(value, source, child, f"{name}.")
        elif isinstance(value, list):
            for index, entry in enumerate(value):
                if isinstance(entry, Mapping):
                    check_keys(entry, source, child, f"{name}[{index}].")


# --------------------------------------------------------------------------------------------------
# Parsing


class _Fields:
    """Typed access to a mapping that reports every problem as a ProtocolError naming the field."""

    def __init__(self, source: str, data: Mapping[str, Any], prefix: str = "") -> None:
        self.source = source
        self.data = data
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, problem: str) -> ProtocolError:
        return ProtocolError(self.source, self.name(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise self.fail(key, "is missing")
        return self.data[key]

    def text(self, key: str, default: str | None = None) -> str:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty text, got {value!r}")
        return value.strip()

    def number(
        self, key: str, *, positive: bool = True, default: float | None = None, maximum: float = MAX_NUMBER
    ) -> float:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(key, f"must be a number, got {value!r}")
        if value > maximum:
            raise self.fail(key, f"must be at most {maximum:g}, got {value!r}")
        if positive and value <= 0:
            raise self.fail(key, f"must be greater than zero, got {value!r}")
        if not positive and value < 0:
            raise self.fail(key, f"must not be negative, got {value!r}")
        return float(value)

    def integer(self, key: str, default: int | None = None) -> int:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, f"must be a whole number >= 0, got {value!r}")
        return value

    def flag(self, key: str, default: bool | None = None) -> bool:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def table(self, key: str) -> _Fields:
        value = self.raw(key)
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a table")
        return _Fields(self.source, value, f"{self.name(key)}.")

    def tables(self, key: str, *, allow_empty: bool = False) -> list[_Fields]:
        value = self.raw(key) if not allow_empty else self.data.get(key, [])
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.fail(key, "must be a list of tables")
        if not value and not allow_empty:
            raise self.fail(key, "must not be empty")
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise ProtocolError(self.source, f"{self.name(key)}[{index}]", "must be a table")
            out.append(_Fields(self.source, item, f"{self.name(key)}[{index}]."))
        return out


RATE_UNITS = ("mL/h", "mg/h")


def _texts(f: _Fields, key: str) -> tuple[str, ...]:
    if not f.has(key):
        return ()
    raw = f.raw(key)
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x.strip() for x in raw):
        raise f.fail(key, f"must be a list of texts, got {raw!r}")
    return tuple(x.strip() for x in raw)


def _parse_ladder(top: _Fields) -> tuple[RateStep, ...]:
    """The rate ladder in the protocol's own unit (mL/h or mg/h; `RateStep.rate_ml_h` holds that unit)."""
    if top.has("steps") and top.has("escalation"):
        raise top.fail("steps", "give either 'steps' or 'escalation', not both")
    steps: list[RateStep] = []
    if top.has("escalation"):
        esc = top.table("escalation")
        start = esc.number("start_rate")
        increment = esc.number("increment")
        interval = esc.number("interval_min")
        ceiling = esc.number("until_rate")
        if ceiling < start:
            raise esc.fail("until_rate", "is below start_rate")
        if (ceiling - start) / increment > MAX_STEPS:
            raise esc.fail("increment", f"makes more than {MAX_STEPS} steps from start_rate to until_rate")
        rate = start
        while rate < ceiling - 1e-9:
            steps.append(RateStep(rate, interval))
            rate += increment
        steps.append(RateStep(ceiling, None))
    elif top.has("steps"):
        entries = top.tables("steps")
        for index, entry in enumerate(entries):
            rate = entry.number("rate")
            last = index == len(entries) - 1
            if entry.has("duration_min"):
                duration: float | None = entry.number("duration_min")
            elif last:
                duration = None
            else:
                raise entry.fail(
                    "duration_min", "is missing (only the last step may run until the bag is empty)"
                )
            steps.append(RateStep(rate, duration))
    else:
        raise top.fail("steps", "is missing (give 'steps' or 'escalation')")
    return tuple(steps)


def ladder_in_ml_h(ladder: Sequence[RateStep], unit: str, concentration_mg_ml: float) -> tuple[RateStep, ...]:
    """The ladder in mL/h: mg/h rates divided by the session's concentration (mg/mL)."""
    if unit == "mL/h":
        return tuple(ladder)
    return tuple(RateStep(step.rate_ml_h / concentration_mg_ml, step.duration_min) for step in ladder)


def _check_max_rate(source: str, steps: Sequence[RateStep], max_rate: float, unit: str) -> None:
    for index, step in enumerate(steps):
        if step.rate_ml_h > max_rate + 1e-9:
            raise ProtocolError(
                source,
                f"steps[{index}].rate",
                f"{step.rate_ml_h:g} {unit} is above the maximum rate {max_rate:g} {unit}",
            )


def _escalation(top: _Fields) -> Escalation | None:
    if not top.has("escalation"):
        return None
    esc = top.table("escalation")
    return Escalation(
        esc.number("start_rate"),
        esc.number("increment"),
        esc.number("interval_min"),
        esc.number("until_rate"),
    )


def _check_steps_deliver_bag(source: str, steps: Sequence[RateStep], bag_volume_ml: float) -> None:
    if steps[-1].duration_min is None:
        return
    deliverable = sum(s.rate_ml_h * (s.duration_min or 0.0) / 60.0 for s in steps)
    if deliverable + VOLUME_TOLERANCE_ML < bag_volume_ml:
        minutes = sum(s.duration_min or 0.0 for s in steps)
        raise ProtocolError(
            source,
            "steps",
            f"deliver only {deliverable:g} mL in {minutes:g} min but the bag holds {bag_volume_ml:g} mL",
        )


def parse_protocol(data: Mapping[str, Any], source: str) -> InfusionProtocol:
    """Validate a protocol definition and build the protocol. Raises ProtocolError on any problem."""
    check_keys(data, source)
    top = _Fields(source, data)
    protocol_id = top.text("id")
    dose_mg = top.number("dose_mg")
    bag_volume_ml = top.number("bag_volume_ml", maximum=MAX_VOLUME_ML)
    max_rate_ml_h = top.number("max_rate_ml_h")
    unit = top.text("rate_unit", default="mL/h")
    if unit not in RATE_UNITS:
        raise top.fail("rate_unit", f"unknown unit {unit!r}; use one of {', '.join(RATE_UNITS)}")
    concentration = dose_mg / bag_volume_ml
    ladder = _parse_ladder(top)
    max_rate_mg_h: float | None = None
    if unit == "mg/h":
        max_rate_mg_h = top.number("max_rate_mg_h")
        _check_max_rate(source, ladder, max_rate_mg_h, unit)
    steps = ladder_in_ml_h(ladder, unit, concentration)
    _check_max_rate(source, steps, max_rate_ml_h, "mL/h")
    _check_steps_deliver_bag(source, steps, bag_volume_ml)
    # Every protocol gives the label's dilution: a bag outside it is refused, whatever the rate unit.
    conc = top.table("concentration")
    low, high = conc.number("min_mg_ml"), conc.number("max_mg_ml")
    if high < low:
        raise conc.fail("max_mg_ml", "is below min_mg_ml")
    concentration_range = Concentration(low, high, conc.text("source"))
    if not concentration_range.allows(concentration):
        raise conc.fail(
            "min_mg_ml",
            f"the protocol's own {dose_mg:g} mg in {bag_volume_ml:g} mL ({concentration:.3g} mg/mL) is outside",
        )

    premeds = []
    for p in top.tables("premedications", allow_empty=True):
        min_lead = p.number("min_lead_min", positive=False)
        max_lead = p.number("max_lead_min")
        if max_lead < min_lead:
            raise p.fail("max_lead_min", "is shorter than min_lead_min")
        premeds.append(
            Premedication(
                drug=p.text("drug"),
                dose=p.text("dose"),
                route=p.text("route"),
                min_lead_min=min_lead,
                max_lead_min=max_lead,
                required=p.flag("required"),
                dose_min_mg=p.number("dose_min_mg") if p.has("dose_min_mg") else None,
                dose_max_mg=p.number("dose_max_mg") if p.has("dose_max_mg") else None,
                routes=_texts(p, "routes"),
                source=p.text("source", default=" ").strip(),
                max_daily_mg=p.number("max_daily_mg") if p.has("max_daily_mg") else None,
                max_daily_source=p.text("max_daily_source") if p.has("max_daily_mg") else "",
            )
        )

    screening = []
    seen_ids: set[str] = set()
    for s in top.tables("screening"):
        item_id = s.text("id")
        if item_id in seen_ids:
            raise s.fail("id", f"{item_id!r} appears twice")
        seen_ids.add(item_id)
        outcome_text = s.text("if_not")
        try:
            outcome = ScreeningOutcome(outcome_text)
        except ValueError:
            choices = ", ".join(repr(o.value) for o in ScreeningOutcome)
            raise s.fail("if_not", f"must be one of {choices}, got {outcome_text!r}") from None
        refer_to = s.text("refer_to") if outcome is ScreeningOutcome.REFER else ""
        screening.append(
            ScreeningItem(
                id=item_id,
                question=s.text("question"),
                acceptable_answer=s.flag("acceptable_answer"),
                if_not=outcome,
                source=s.text("source"),
                refer_to=refer_to,
            )
        )

    eligibility = Eligibility()
    if top.has("eligibility"):
        e = top.table("eligibility")
        eligibility = Eligibility(
            min_prior_infusions=e.integer("min_prior_infusions", default=0),
            requires_no_prior_serious_reaction=e.flag("requires_no_prior_serious_reaction", default=False),
            min_interval_days=e.integer("min_interval_days") if e.has("min_interval_days") else None,
            max_prior_infusions=e.integer("max_prior_infusions") if e.has("max_prior_infusions") else None,
            second_dose_min_days=e.integer("second_dose_min_days") if e.has("second_dose_min_days") else None,
            second_dose_max_days=e.integer("second_dose_max_days") if e.has("second_dose_max_days") else None,
            source=e.text("source", default=" ").strip(),
        )
        if (eligibility.second_dose_min_days is None) != (eligibility.second_dose_max_days is None):
            raise e.fail("second_dose_max_days", "give both second_dose_min_days and second_dose_max_days")
        if (
            eligibility.second_dose_min_days is not None
            and eligibility.second_dose_max_days is not None
            and eligibility.second_dose_max_days < eligibility.second_dose_min_days
        ):
            raise e.fail("second_dose_max_days", "is before second_dose_min_days")

    rules = []
    covered: set[int] = set()
    for r in top.tables("reaction_rules"):
        raw_grades = r.raw("grades")
        if (
            not isinstance(raw_grades, list)
            or not raw_grades
            or not all(isinstance(g, int) and not isinstance(g, bool) and 1 <= g <= 4 for g in raw_grades)
        ):
            raise r.fail("grades", f"must be a list of grades 1 to 4, got {raw_grades!r}")
        action_text = r.text("action")
        try:
            action = ReactionAction(action_text)
        except ValueError:
            choices = ", ".join(a.value for a in ReactionAction)
            raise r.fail("action", f"unknown action {action_text!r}; use one of {choices}") from None
        factor = 0.0 if action is ReactionAction.DISCONTINUE else r.number("rate_factor")
        if factor > 1.0:
            raise r.fail("rate_factor", f"must not exceed 1, got {factor:g}")
        hold = 0.0 if action is ReactionAction.DISCONTINUE else r.number("hold_min", positive=False)
        for g in raw_grades:
            if g in covered:
                raise r.fail("grades", f"grade {g} has two rules")
            covered.add(g)
        rules.append(ReactionRule(tuple(raw_grades), action, factor, hold))
    missing = {1, 2, 3, 4} - covered
    if missing:
        raise top.fail("reaction_rules", f"no rule for grade(s) {sorted(missing)}")

    bag = top.table("bag")
    gtins: tuple[str, ...] = ()
    if bag.has("gtins"):
        raw = bag.raw("gtins")
        if not isinstance(raw, list) or not all(
            isinstance(g, str) and g.isdigit() and len(g) == 14 for g in raw
        ):
            raise bag.fail("gtins", f"must be a list of 14-digit GTINs, got {raw!r}")
        gtins = tuple(raw)
    gtins_source = bag.text("gtins_source") if gtins else bag.text("gtins_source", default=" ").strip()
    vital_signs: VitalSignSchedule | None = None
    if top.has("vital_signs"):
        v = top.table("vital_signs")
        vital_signs = VitalSignSchedule(
            baseline=v.flag("baseline"),
            first_hour_every_min=v.number("first_hour_every_min"),
            first_period_min=v.number("first_period_min"),
            then_every_min=v.number("then_every_min"),
            at_end=v.flag("at_end"),
            before_discharge_min=v.number("before_discharge_min", positive=False),
            source=v.text("source"),
            after_reaction_every_min=v.number("after_reaction_every_min")
            if v.has("after_reaction_every_min")
            else None,
            after_reaction_period_min=v.number("after_reaction_period_min", positive=False, default=0.0),
        )
    return InfusionProtocol(
        id=protocol_id,
        name=top.text("name"),
        drug=top.text("drug"),
        dose_mg=dose_mg,
        bag_volume_ml=bag_volume_ml,
        max_rate_ml_h=max_rate_ml_h,
        steps=steps,
        premedications=tuple(premeds),
        observation_min=top.number("observation_min", positive=False),
        bag_room_temperature_limit_h=bag.number("room_temperature_limit_h"),
        bag_refrigerated_limit_h=bag.number("refrigerated_limit_h"),
        bag_gtins=gtins,
        bag_total_limit_h=bag.number("total_limit_h") if bag.has("total_limit_h") else None,
        bag_gtins_source=gtins_source,
        vital_signs=vital_signs,
        screening=tuple(screening),
        eligibility=eligibility,
        reaction_rules=tuple(rules),
        source=top.text("source"),
        notes=top.text("notes", default=" ").strip(),
        bag_diluent=bag.text("diluent", default=" ").strip(),
        rate_unit=unit,
        escalation=_escalation(top),
        ladder=ladder,
        max_rate_mg_h=max_rate_mg_h,
        concentration=concentration_range,
        definition=dict(data),
    )

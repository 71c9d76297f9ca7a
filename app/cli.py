"""`chairside`: the GUI by default; subcommands for the protocol library, planning, status and checks."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.accounts.cli import register as register_users
from app.domain.chair import ChairState
from app.domain.clock_face import ClockFace
from app.domain.protocol import MAX_NUMBER, MAX_VOLUME_ML, InfusionProtocol, ProtocolError
from app.domain.rehearsal import PlanRefused, rehearse
from app.domain.schedule import Interruption, Pause, Plan, Reaction, plan_infusion
from app.domain.timeline import SessionTimeline
from app.errors import append_crash
from app.export.cli import register as register_export
from app.export.journal_check import check_journal
from app.export.keys_cli import public_key_argument
from app.export.keys_cli import register as register_keys
from app.export.seals import refuse_lost_entries
from app.export.verify import verify_export
from app.floor import load_reaction_terms, load_vital_limits
from app.floor_commands import register as register_floor
from app.launch_options import add_gui_arguments
from app.maintenance_options import register as register_maintenance
from app.paths import data_dir, default_config_path, default_db_path
from app.private_files import set_private_umask
from app.protocol_library import ProtocolLibrary
from app.station.check import register as register_config
from app.station.config import StationConfigError, load_display_zone, load_hl7_settings
from app.station.feed_cli import register as register_feed
from app.store.journal import Journal, JournalError
from app.store.schema import NewerDatabaseError
from app.ui.launch import run_gui
from app.witness.listen import register as register_witness
from app.witness.listen import witness_anchors
from app.witness.store import WitnessError
from drivers.base import DriverError
from drivers.command_line import OneLineParser, number_in, run_command
from drivers.probe import add_arguments as probe_arguments
from drivers.probe import run as run_probe

# Bad input, not bugs: each of these says what is wrong in one sentence.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    ProtocolError,
    JournalError,
    NewerDatabaseError,
    KeyError,
    DriverError,
    sqlite3.DatabaseError,
)
MAX_PLAN_MINUTES = 24 * 60.0  # a reaction or pause in `plan` happens within a day of the start
MAX_PLAN_INTERRUPTIONS = 50  # reactions and pauses in one `plan`: a real infusion has a handful


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "steps": [
            {
                "start_min": round(s.start_min, 4),
                "duration_min": round(s.duration_min, 4),
                "rate_ml_h": round(s.rate_ml_h, 4),
                "rate_mg_h": round(plan.rate_mg_h(s.rate_ml_h), 4),
                "kind": s.kind.value,
            }
            for s in plan.segments
        ],
        "total_volume_ml": round(plan.total_volume_ml, 4),
        "duration_min": None if plan.end_min is None else round(plan.end_min, 4),
        "end_min": None if plan.end_min is None else round(plan.end_min, 4),
        "outcome": plan.outcome.value,
        "bag_volume_ml": plan.bag_volume_ml,
    }


def protocol_to_json(protocol: InfusionProtocol) -> dict[str, Any]:
    return {
        "id": protocol.id,
        "name": protocol.name,
        "drug": protocol.drug,
        "dose_mg": protocol.dose_mg,
        "max_rate_ml_h": protocol.max_rate_ml_h,
        "observation_min": protocol.observation_min,
        "premedications": [
            {
                "drug": p.drug,
                "dose": p.dose,
                "route": p.route,
                "min_lead_min": p.min_lead_min,
                "max_lead_min": p.max_lead_min,
                "required": p.required,
            }
            for p in protocol.premedications
        ],
        "source": protocol.source,
        **plan_to_json(plan_infusion(protocol)),
    }


# Reactions and pauses happen within a day of the infusion's start.
_minutes = number_in(0.0, MAX_PLAN_MINUTES, unit="min")


def parse_reaction(text: str) -> Reaction:
    """GRADE@MINUTES[+RESOLVED_AFTER], e.g. 2@70 or 3@70+20."""
    try:
        grade_text, rest = text.split("@", 1)
        onset_text, _, resolved_text = rest.partition("+")
        grade = int(grade_text)
        if grade not in (1, 2, 3, 4):
            raise ValueError
        return Reaction(_minutes(onset_text), grade, _minutes(resolved_text) if resolved_text else None)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"reaction {text!r}: minutes {exc}") from None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"reaction {text!r}: use GRADE@MINUTES or GRADE@MINUTES+RESOLVED_AFTER"
        ) from None


def parse_pause(text: str) -> Pause:
    """MINUTES+DURATION, e.g. 45+10."""
    try:
        start_text, duration_text = text.split("+", 1)
        return Pause(_minutes(start_text), _minutes(duration_text))
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"pause {text!r}: minutes {exc}") from None
    except ValueError:
        raise argparse.ArgumentTypeError(f"pause {text!r}: use MINUTES+DURATION, e.g. 45+10") from None


def _print_plan(plan: Plan) -> None:
    print(f"{'from':>8} {'for':>8} {'rate mL/h':>10} {'mg/h':>8}  what")
    for s in plan.segments:
        print(
            f"{s.start_min:8.1f} {s.duration_min:8.1f} {s.rate_ml_h:10.1f} "
            f"{plan.rate_mg_h(s.rate_ml_h):8.1f}  {s.kind.value}"
        )
    end = "no end while stopped" if plan.end_min is None else f"ends at {plan.end_min:.1f} min"
    print(f"{plan.total_volume_ml:.1f} of {plan.bag_volume_ml:.1f} mL, {end} ({plan.outcome.value})")


def _library(args: argparse.Namespace) -> ProtocolLibrary:
    return ProtocolLibrary.load(args.protocols) if args.protocols else ProtocolLibrary.load()


def cmd_protocols(args: argparse.Namespace) -> int:
    library = _library(args)
    if args.action == "list":
        for protocol in library.values():
            plan = plan_infusion(protocol)
            print(
                f"{protocol.id:30} {protocol.name}  ({protocol.bag_volume_ml:g} mL, {plan.end_min:.0f} min)"
            )
        return 0
    protocol = library[args.id]
    if args.json:
        print(json.dumps(protocol_to_json(protocol), indent=2))
    else:
        print(f"{protocol.name} [{protocol.id}]\nsource: {protocol.source}\n{protocol.notes}\n")
        _print_plan(plan_infusion(protocol))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """The session rehearsed through the station's own guards (app.domain.rehearsal): refused in the
    station's words (exit 2), or planned with what the station would warn about."""
    if len(args.reaction) + len(args.pause) > MAX_PLAN_INTERRUPTIONS:
        print(
            f"chairside plan: at most {MAX_PLAN_INTERRUPTIONS} reactions and pauses in one plan, not "
            f"{len(args.reaction) + len(args.pause)}",
            file=sys.stderr,
        )
        return 2
    library = _library(args)
    protocol = library[args.id]
    interruptions: list[Interruption] = [*args.reaction, *args.pause]
    dose = getattr(args, "dose_mg", None)
    volume = protocol.bag_volume_ml if args.bag_volume is None else args.bag_volume
    try:
        rehearsal = rehearse(
            protocol, library, interruptions, volume, dose, load_vital_limits(), load_reaction_terms()
        )
    except PlanRefused as refused:
        print(f"chairside plan: {refused}", file=sys.stderr)
        return 2
    plan = rehearsal.state.plan()
    earliest = rehearsal.earliest_discharge_min
    warnings = [{"code": w.code, "message": w.message} for w in rehearsal.warnings]
    if args.json:
        print(
            json.dumps(
                {
                    "protocol": protocol.id,
                    **plan_to_json(plan),
                    "dose_mg": protocol.dose_mg if dose is None else dose,
                    "concentration_mg_ml": round(plan.concentration_mg_ml, 6),
                    "earliest_discharge_min": None if earliest is None else round(earliest, 4),
                    "warnings": warnings,
                },
                indent=2,
            )
        )
    else:
        _print_plan(plan)
        print(
            "earliest discharge: "
            + ("not while a reaction is unresolved" if earliest is None else f"{earliest:.1f} min")
        )
        for warning in warnings:
            print(f"warning ({warning['code']}): {warning['message']}")
    return 0


def session_summary(state: ChairState, now: datetime, face: ClockFace | None = None) -> dict[str, Any]:
    """A session's key times as ISO 8601 on the station's clock face (`face`; default this computer's
    zone): the same instants, with the display zone's offset."""
    face = face or ClockFace.of()

    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else face.iso(moment)

    return {
        "chair": state.chair,
        "session_id": state.session_id,
        "phase": state.phase.value,
        "patient_initials": state.patient_initials,
        "protocol": state.protocol.id if state.protocol else None,
        "checked_in_at": iso(state.checked_in_at),
        "infusion_started_at": iso(state.infusion_started_at),
        "projected_end": iso(state.projected_end(now)) if state.protocol else None,
        "infusion_completed_at": iso(state.completed_at),
        "observation_ends_at": iso(state.observation_ends_at),
        "reactions": len(state.reactions),
        "delivery": SessionTimeline.of(state).as_json(),  # segments and stop reasons (the one reading)
    }


def _open_journal(args: argparse.Namespace) -> Journal:
    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():
        raise JournalError(f"no database at {path}")
    if path.is_dir():
        raise JournalError(f"{path} is a directory, not a database")
    return Journal(path, read_only=True)


def cmd_status(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    try:
        face = ClockFace.of(load_display_zone(args.config))
    except StationConfigError as exc:
        print(f"chairside status: {exc}", file=sys.stderr)
        return 2
    with _open_journal(args) as journal:
        refuse_lost_entries(journal)
        states = [
            ChairState.replay(sid, journal.events(sid)) for sid in journal.session_ids(open_only=not args.all)
        ]
    ordered = sorted(states, key=lambda s: s.chair)
    if args.json:
        rows = [session_summary(s, now, face) for s in ordered]
        print(json.dumps({"now": face.iso(now), "display_tz": face.name, "chairs": rows}, indent=2))
        return 0
    if not ordered:
        print("no sessions" if args.all else "no open sessions")
    for state in ordered:
        ends = state.observation_ends_at or (state.projected_end(now) if state.protocol else None)
        protocol = state.protocol.id if state.protocol else "-"
        outcome = SessionTimeline.of(state).as_json()["outcome"]
        print(
            f"{state.chair:10} {state.patient_initials:4} {protocol:28} {state.phase.value:13} "
            f"{outcome:28} ends {face.at(ends, now, missing='-')}"
        )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """The journal against its anchors and a witness (app.export.journal_check); --export: an export
    against the journal (app.export.verify)."""
    if args.export:
        return int(verify_export(args))
    witness = None
    if args.witness:
        try:
            witness = witness_anchors(
                args.witness,
                args.station,
                ca_file=args.witness_ca_file,
                password_file=args.witness_password_file,
            )
        except WitnessError as exc:
            print(f"chairside verify: the witness {args.witness}: {exc}", file=sys.stderr)
            return 2
    with _open_journal(args) as journal:
        report = check_journal(journal, args.public_key, witness, args.witness or "", args.station)
    file_check = "file intact (SQLite integrity_check ok)" if not report.damage else "file DAMAGED"
    if report.problems:
        print(f"journal NOT intact: {report.problems[0]}; {file_check}", file=sys.stderr)
        for problem in report.problems[1:]:
            print(f"  and: {problem}", file=sys.stderr)
    elif report.unchecked:
        print(
            f"journal NOT confirmed: {report.entries} entries, head {report.head[:16]}, chain consistent; "
            f"{file_check}; could not check:",
            file=sys.stderr,
        )
        for what in report.unchecked:
            print(f"  - {what}", file=sys.stderr)
    else:
        print(f"journal intact: {report.entries} entries, head {report.head[:16]}; {file_check}")
    for held in report.confirmed:
        print(f"  checked: {held}", file=sys.stderr if report.exit_code else sys.stdout)
    if report.damage:
        damage = report.damage
        more = f" (and {len(damage) - 1} more)" if len(damage) > 1 else ""
        print(
            f"chairside: {journal.path} is damaged (SQLite integrity_check: {damage[0]}{more})",
            file=sys.stderr,
        )
    return report.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="chairside", description=__doc__)
    parser.add_argument("--protocols", type=Path, help="protocol library folder (default: the shipped one)")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("protocols", help="the protocol library")
    p_sub = p.add_subparsers(dest="action", required=True)
    p_sub.add_parser("list", help="every protocol")
    show = p_sub.add_parser("show", help="one protocol and its schedule")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_protocols)

    plan = sub.add_parser("plan", help="a protocol's schedule re-planned around reactions and pauses")
    plan.add_argument("id")
    plan.add_argument(
        "--reaction", type=parse_reaction, action="append", default=[], metavar="GRADE@MIN[+RESOLVED]"
    )
    plan.add_argument("--pause", type=parse_pause, action="append", default=[], metavar="MIN+DURATION")
    plan.add_argument(
        "--bag-volume",
        type=number_in(0.0, MAX_VOLUME_ML, unit="mL", above_low=True),
        help="the session's bag volume in mL",
    )
    plan.add_argument(
        "--dose-mg",
        type=number_in(0.0, MAX_NUMBER, unit="mg", above_low=True),
        help="the session's dose in mg (mg/h protocols: sets mL/h)",
    )
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=cmd_plan)

    status = sub.add_parser("status", help="every chair's session, phase and key times")
    status.add_argument("--db", help=f"database (default {default_db_path()})")
    status.add_argument("--json", action="store_true")
    status.add_argument("--all", action="store_true", help="include discharged sessions")
    status.add_argument(
        "--config",
        type=Path,
        help=f"station configuration: times in its display_tz (default {default_config_path()}, if present)",
    )
    status.set_defaults(func=cmd_status)

    verify = sub.add_parser("verify", help="check the journal's hash chain (or an export against it)")
    verify.add_argument("--db", help=f"database (default {default_db_path()})")
    verify.add_argument("--export", type=Path, help="an exported shift log to check against the journal")
    verify.add_argument(
        "--public-key", type=public_key_argument, help="the station's key (`chairside keys public`)"
    )
    verify.add_argument(
        "--witness",
        help="the witness's database (chairside witness --db) or the floor's broker mqtt(s)://URL",
    )
    verify.add_argument("--station", help="the station's topic level at the witness (default: the journal's)")
    verify.add_argument("--witness-ca-file", type=Path, help="the CA of the broker given as --witness")
    verify.add_argument(
        "--witness-password-file", type=Path, help="the password for the broker user in the URL"
    )
    verify.set_defaults(func=cmd_verify)

    probe = sub.add_parser("probe", help="connect to a pump, print its identity and one reading")
    probe_arguments(probe)
    probe.set_defaults(func=run_probe)
    register_export(sub, hl7_settings=load_hl7_settings, display_zone=load_display_zone)
    register_users(sub)
    register_keys(sub)
    register_maintenance(sub)
    register_floor(sub)
    register_config(sub)
    register_witness(sub)
    register_feed(sub)
    add_gui_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    set_private_umask()  # before anything is created: database, WAL, exports, crash log (app.private_files)
    parser = build_parser()
    args = parser.parse_args(argv)

    def body() -> int:
        if args.command is None:  # the station key: app.station.start.start_services
            return int(run_gui(args))
        return int(args.func(args))

    return run_command("chairside", body, EXPECTED_ERRORS, data_dir() / "crash.log", append_crash)


if __name__ == "__main__":
    raise SystemExit(main())

"""Random command lines for every subcommand, and random protocol and scenario files: whatever comes in,
the command ends with exit 0, 1 or 2, prints no traceback and does not hang (issue 12, point 7).

Runs in-process through the real `main` functions (`tests/cli_run.py` fails an example that is still
running after its time-out). The station GUI is exercised through its validation path only (parse the
options, then `gui_arguments_problem`), which runs before any window, pump or database is touched.
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.cli import build_parser
from app.cli import main as chairside
from app.protocol_library import DEFAULT_DIRECTORY
from app.ui.launch import gui_arguments_problem
from drivers.sim.cli import main as chairside_sim
from drivers.sim.scenario import SCENARIO_DIR
from tests.cli_run import Outcome, run_main
from tests.toml_text import dumps

EXAMPLES = int(os.environ.get("CHAIRSIDE_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

NASTY = [
    "nan", "NaN", "inf", "-inf", "1e309", "1e308", "-1", "0", "-0", "1", "2", "3", "7", "48", "49", "99",
    "1000", "100000", "0.5", "1e-300", "", " ", "x", "ö", "\x00", "--", "-", "2@70", "3@70+20", "2@nan",
    "5@10", "45+10", "10+nan", "10+inf", "nan+5", "0x0", "1920x1080", "-5x10", "99999x99999",
    "ocrevus-600-subsequent", "natalizumab-300", "nope", "2026-01-05/day", "2026-02-30/day",
    "2026-01-05T07:00", "2026-01-05T07:00+01:00", "garbage", "a4", "letter", "csv", "json", "hl7", "pdf",
]  # fmt: skip
WORD = st.one_of(
    st.sampled_from(NASTY),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.text(max_size=8),
)

_EDGE_NUMBERS = st.sampled_from(["nan", "inf", "-inf", "1e309", "-1", "0", "70", "500"])
NUMBER = st.one_of(
    _EDGE_NUMBERS,
    _EDGE_NUMBERS,  # twice: edges weigh more than random numbers
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-1000, max_value=10**6).map(str),
)
REACTION = st.builds(
    lambda grade, onset, resolved: f"{grade}@{onset}" + (f"+{resolved}" if resolved is not None else ""),
    st.integers(min_value=-1, max_value=5),
    NUMBER,
    st.none() | NUMBER,
)
PAUSE = st.builds(lambda start, length: f"{start}+{length}", NUMBER, NUMBER)


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory, qapp: object) -> Iterator[Path]:
    """A data folder with a real journal (one infusing chair), a folder, and the environment pointing
    at it, so that nothing touches the user's own files. (`qapp`: a PDF export in-process would
    otherwise create a bare QGuiApplication that the widget tests cannot use.)"""
    from datetime import date, timedelta

    from app.domain.clock import ManualClock
    from app.domain.commands import CheckIn, GivePremedication, RecordScreening, RecordVitals, StartInfusion
    from app.floor import Floor
    from app.protocol_library import ProtocolLibrary
    from app.store.journal import Journal

    root = tmp_path_factory.mktemp("fuzz")
    clock = ManualClock()
    library = ProtocolLibrary.load()
    with Journal(root / "chairside.sqlite", clock) as journal:
        floor = Floor(journal, library, clock)
        protocol = library["ocrevus-600-subsequent"]
        state = floor.check_in(
            CheckIn(
                chair="Chair 1",
                patient_mrn="MRN-1",
                patient_initials="JD",
                protocol_id=protocol.id,
                bag_volume_ml=protocol.bag_volume_ml,
                bag_lot="LOT-1",
                bag_expiry=date(2027, 6, 30),
                bag_prepared_at=clock.now() - timedelta(minutes=20),
                prior_infusions=2,
                prior_serious_reaction=False,
                last_dose_on=(clock.now() - timedelta(days=182)).date(),
            ),
            "AB",
        )
        floor.execute(state.session_id, RecordVitals({"systolic_mmhg": 124}), "AB")  # baseline
        floor.execute(
            state.session_id, RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}), "AB"
        )
        for premed in protocol.premedications:
            given = GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route)
            floor.execute(state.session_id, given, "AB")
        clock.advance(minutes=30)
        floor.execute(state.session_id, StartInfusion(), "AB")
    (root / "folder").mkdir()
    (root / "empty.sqlite").write_bytes(b"")
    (root / "garbage.sqlite").write_bytes(bytes(range(256)) * 20)
    (root / "out").mkdir()
    saved = {name: os.environ.get(name) for name in ("CHAIRSIDE_DATA_DIR", "CHAIRSIDE_CONFIG_DIR")}
    os.environ["CHAIRSIDE_DATA_DIR"] = str(root)
    os.environ["CHAIRSIDE_CONFIG_DIR"] = str(root / "config")
    yield root
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def check(outcome: Outcome, argv: Sequence[str]) -> None:
    event(f"exit {outcome.code}")
    problem = outcome.problem()
    assert problem is None, f"{list(argv)}: {problem}"


@st.composite
def options(draw: st.DrawFn, table: dict[str, st.SearchStrategy[str] | None]) -> list[str]:
    """Some of `table`'s options in random order; None: a flag without a value."""
    names = draw(st.lists(st.sampled_from(sorted(table)), max_size=5))
    argv: list[str] = []
    for name in names:
        argv.append(name)
        value = table[name]
        if value is not None:
            argv.append(draw(value))
    return argv


def paths(place: Path) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            str(place / "chairside.sqlite"),
            str(place / "folder"),
            str(place / "missing.sqlite"),
            str(place / "missing" / "deeper" / "x"),
            str(place / "empty.sqlite"),
            str(place / "garbage.sqlite"),
            "",
        ]
    )


def short_timeout() -> st.SearchStrategy[str]:
    """Probe time-outs: every bad one, but no valid one longer than half a second (no pump answers)."""

    def cap(text: str) -> str:
        try:
            value = float(text)
        except ValueError:
            return text
        return "0.2" if value == value and 0.5 < value < float("inf") else text

    return WORD.map(cap)


COMMANDS = ["protocols", "status", "verify", "export", "probe", "config", "maintenance", "junk"]


@st.composite
def chairside_argv(draw: st.DrawFn, place: Path, command: str) -> list[str]:
    db = paths(place)
    out = st.sampled_from(
        [str(place / "out" / "log.csv"), str(place / "folder"), str(place / "no" / "x.pdf")]
    )
    if command == "protocols":
        action = draw(st.sampled_from([["list"], ["show"], ["show", "ocrevus-600-short"], ["nope"]]))
        return ["protocols", *action, *draw(options({"--json": None, "ID": WORD}))]
    if command == "plan":
        protocol = draw(st.one_of(st.sampled_from(["ocrevus-600-subsequent", "rituximab-first"]), WORD))
        interruptions = draw(
            st.lists(
                st.tuples(st.just("--reaction"), REACTION) | st.tuples(st.just("--pause"), PAUSE), max_size=3
            )
        )
        more = draw(
            options({"--reaction": WORD, "--pause": WORD, "--bag-volume": NUMBER | WORD, "--json": None})
        )
        return ["plan", protocol, *(word for pair in interruptions for word in pair), *more]
    if command == "status":
        return ["status", *draw(options({"--db": db, "--json": None, "--all": None}))]
    if command == "verify":
        return ["verify", *draw(options({"--db": db, "--export": out}))]
    if command == "export":
        return [
            "export",
            "--format",
            draw(st.sampled_from(["pdf", "csv", "json", "hl7"])),
            "-o",
            draw(out),
            *draw(
                options(
                    {
                        "--db": db,
                        "--format": st.one_of(st.sampled_from(["pdf", "csv", "json", "hl7"]), WORD),
                        "-o": out,
                        "--from": WORD,
                        "--to": WORD,
                        "--shift": WORD,
                        "--shifts": out,
                        "--paper": WORD,
                        "--hl7-sample-minutes": WORD,
                        "--mllp-timeout": WORD,
                    }
                )
            ),
        ]
    if command == "probe":
        url = draw(
            st.one_of(st.sampled_from(["nonsense://x", "/nonexistent/tty", "socket://127.0.0.1:1"]), WORD)
        )
        argv = ["probe", url, *draw(options({"--protocol": WORD, "--json": None, "--no-handshake": None}))]
        return [*argv, "--timeout", draw(short_timeout())]
    if command == "maintenance":
        # a copy of the journal: maintenance compacts and vacuums the database it is given
        copy = place / "maintained.sqlite"
        if not copy.exists():
            shutil.copy(place / "chairside.sqlite", copy)
        target = st.sampled_from([str(copy), str(place / "folder"), str(place / "missing.sqlite")])
        return [
            "maintenance",
            *draw(
                options(
                    {"--db": target, "--retention-days": NUMBER | WORD, "--keep-every-min": NUMBER | WORD}
                )
            ),
        ]
    if command == "config":
        action = draw(st.sampled_from(["check", "show", ""]))
        return ["config", action, *draw(options({"--config": db | out, "--json": None}))]
    return [draw(WORD), *draw(options({"--protocols": db, "--json": None}))]


@given(data=st.data())
@settings(FUZZ, max_examples=3 * EXAMPLES)  # fast (no I/O), and the schedule is where a bad number hurts
def test_any_plan(place: Path, data: st.DataObject) -> None:
    argv = data.draw(chairside_argv(place, "plan"))
    check(run_main(chairside, argv, timeout_s=30), argv)


@pytest.mark.parametrize("command", COMMANDS)
@given(data=st.data())
@FUZZ
def test_any_command_line(place: Path, command: str, data: st.DataObject) -> None:
    argv = data.draw(chairside_argv(place, command))
    check(run_main(chairside, argv, timeout_s=30), argv)


GUI_OPTIONS: dict[str, st.SearchStrategy[str] | None] = {
    "--chairs": NUMBER | WORD,
    "--demo": NUMBER | WORD,
    "--speed": NUMBER | WORD,
    "--preroll": NUMBER | WORD,
    "--quit-after": NUMBER | WORD,
    "--chair": NUMBER | WORD,
    "--nurse": WORD,
    "--window-size": WORD,
    "--screenshot": WORD,
}


def validate_station_options(argv: Sequence[str] | None) -> int:
    """The station's options as `chairside` checks them before any window opens."""
    args = build_parser().parse_args(argv)
    if args.command is not None:
        return 0
    problem = gui_arguments_problem(args)
    if problem is not None:
        print(f"chairside: {problem}", file=sys.stderr)
        return 2
    return 0


@given(data=st.data())
@FUZZ
def test_any_station_options(place: Path, data: st.DataObject) -> None:
    argv = data.draw(options({**GUI_OPTIONS, "--db": paths(place)}))
    check(run_main(validate_station_options, argv), argv)


# --------------------------------------------------------------------------------------------------
# Files


def _mutations(document: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The document with one value replaced, one key removed or one unknown key added, anywhere."""
    spots: list[tuple[Any, Any]] = []  # (container, key)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                spots.append((node, key))
                walk(value)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                spots.append((node, index))
                walk(value)

    values = st.one_of(
        st.sampled_from([float("nan"), float("inf"), -1, 0, -0.5, 1e308, 10**18, "", "text", True, [], {}]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**9), max_value=10**9),
        st.text(max_size=6),
    )

    @st.composite
    def mutate(draw: st.DrawFn) -> dict[str, Any]:
        copy: dict[str, Any] = tomllib.loads(dumps(document))
        spots.clear()
        walk(copy)
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            container, key = draw(st.sampled_from(spots))
            how = draw(st.sampled_from(["replace", "delete", "add"]))
            if how == "replace":
                container[key] = draw(values)
            elif how == "delete" and isinstance(container, dict):
                del container[key]
            elif isinstance(container, dict):
                container[draw(st.text(min_size=1, max_size=6))] = draw(values)
            spots.clear()
            walk(copy)
            if not spots:
                break
        return copy

    return mutate()


def file_contents(originals: Sequence[Path]) -> st.SearchStrategy[bytes]:
    documents = [tomllib.loads(path.read_text(encoding="utf-8")) for path in originals]
    mutated = st.sampled_from(documents).flatmap(_mutations).map(lambda d: dumps(d).encode("utf-8"))
    raw = [path.read_bytes() for path in originals]
    return st.one_of(
        mutated,
        st.binary(max_size=200),
        st.sampled_from(raw).map(lambda b: b.replace(b'"', b'"\xff', 1)),  # invalid UTF-8 in a string
        st.sampled_from(raw).flatmap(
            lambda b: st.integers(min_value=0, max_value=len(b)).map(lambda n: b[:n])  # truncated
        ),
    )


DEEP_SHAPES = st.one_of(  # issue 19: shapes that crashed (recursion) or hung (quadratic keys) the parser
    st.integers(min_value=17, max_value=60_000).map(lambda n: b"deep = " + b"[" * n + b"]" * n),
    st.integers(min_value=17, max_value=4_000).map(lambda n: b"deep = " + b"{ a = " * n + b"1" + b" }" * n),
    st.integers(min_value=17, max_value=100_000).map(lambda n: b".".join([b"k"] * n) + b" = 1"),
    st.integers(min_value=201, max_value=100_000).map(lambda n: b"k" * n + b" = 1"),
)


@given(
    content=st.one_of(
        file_contents(sorted(DEFAULT_DIRECTORY.glob("*.toml"))),
        st.tuples(st.sampled_from(sorted(DEFAULT_DIRECTORY.glob("*.toml"))), DEEP_SHAPES).map(
            lambda pair: pair[0].read_bytes() + b"\n" + pair[1]
        ),
    ),
    data=st.data(),
)
@FUZZ
def test_any_protocol_file(place: Path, content: bytes, data: st.DataObject) -> None:
    folder = place / "protocols"
    if not folder.exists():
        shutil.copytree(DEFAULT_DIRECTORY, folder)
    target = data.draw(st.sampled_from(sorted(folder.glob("*.toml"))))
    original = target.read_bytes()
    target.write_bytes(content)
    try:
        for argv in (
            ["--protocols", str(folder), "protocols", "list"],
            ["--protocols", str(folder), "plan", target.stem, "--reaction", "2@70", "--json"],
            ["--protocols", str(folder), "protocols", "show", target.stem],
        ):
            check(run_main(chairside, argv, timeout_s=30), [*argv, content.decode("utf-8", "replace")])
    finally:
        target.write_bytes(original)


@given(content=file_contents(sorted(SCENARIO_DIR.glob("*.toml"))), data=st.data())
@FUZZ
def test_any_scenario_file_and_simulator_options(place: Path, content: bytes, data: st.DataObject) -> None:
    scenario = place / "scenario.toml"
    scenario.write_bytes(content)

    def small(text: str) -> str:  # keep the number of pumps served small
        return "2" if text.strip().isdigit() and 2 < int(text) <= 200 else text

    argv = [
        "--scenario",
        str(scenario),
        *data.draw(
            options(
                {
                    "--chairs": (NUMBER | WORD).map(small),
                    "--speed": NUMBER | WORD,
                    "--stagger-min": NUMBER | WORD,
                    "--tcp": None,
                    "--rfc2217": None,
                    "--host": st.sampled_from(["127.0.0.1", "nonsense.invalid", "", "::1", "300.1.1.1"]),
                    "--idle": None,
                    "--link-dir": paths(place),
                }
            )
        ),
        "--quit-after",
        "0",
    ]
    check(run_main(chairside_sim, argv, timeout_s=30), [*argv, content.decode("utf-8", "replace")])


SHIFTS = Path(__file__).resolve().parents[1] / "resources" / "shifts.toml"


@given(content=file_contents([SHIFTS]))
@FUZZ
def test_any_shift_file(place: Path, content: bytes) -> None:
    shifts = place / "shifts.toml"
    shifts.write_bytes(content)
    argv = ["export", "--shifts", str(shifts), "--format", "json", "-o", str(place / "out" / "log.json")]
    check(run_main(chairside, argv, timeout_s=30), [*argv, content.decode("utf-8", "replace")])

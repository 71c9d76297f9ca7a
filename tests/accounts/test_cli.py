"""`chairside users` through the real entry point, on a real SQLite file."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from app.accounts.store import STREAM
from app.cli import main as chairside
from app.store.journal import Journal

PIN = "482913"


def users(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db: Path,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = chairside(["users", *argv, "--db", str(db)])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_disable_reset(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "station.sqlite"
    code, out, err = users(
        capsys,
        monkeypatch,
        db,
        "add",
        "ADM-1",
        "--name",
        "Ann Admin",
        "--role",
        "admin",
        "--pin-stdin",
        stdin=f"{PIN}\n",
    )
    assert (code, out, err) == (0, "added ADM-1 (Ann Admin, administrator)\n", "")
    code, out, _ = users(
        capsys,
        monkeypatch,
        db,
        "add",
        "RN-AB",
        "--name",
        "Alice Brown",
        "--role",
        "nurse",
        "--badge",
        "0004411223",
        "--pin-stdin",
        stdin=f"{PIN}\n",
    )
    assert code == 0 and "with a badge" in out and "0004411223" not in out
    code, out, _ = users(capsys, monkeypatch, db, "list", "--json")
    listed = json.loads(out)
    assert [(a["id"], a["role"], a["badge"], a["disabled"]) for a in listed] == [
        ("ADM-1", "admin", False, False),
        ("RN-AB", "nurse", True, False),
    ]
    assert users(capsys, monkeypatch, db, "disable", "RN-AB")[:2] == (0, "disabled RN-AB\n")
    code, out, _ = users(capsys, monkeypatch, db, "list")
    assert "RN-AB  nurse   disabled  badge  Alice Brown" in out
    assert users(capsys, monkeypatch, db, "reset-pin", "ADM-1", "--pin-stdin", stdin="736251\n")[0] == 0
    with Journal(db, read_only=True) as journal:
        kinds = [(e.type, e.payload["account"]) for e in journal.entries(STREAM)]
        assert journal.verify().intact
    assert kinds == [
        ("account_added", "ADM-1"),
        ("account_added", "RN-AB"),
        ("account_disabled", "RN-AB"),
        ("account_pin_reset", "ADM-1"),
    ]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert PIN.encode() not in raw and b"736251" not in raw and b"0004411223" not in raw


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (
            ["add", "ADM-1", "--name", "Other", "--role", "admin", "--pin-stdin"],
            f"{PIN}\n",
            "already an account 'ADM-1'",
        ),
        (
            ["add", "RN-X", "--name", "Short", "--role", "nurse", "--pin-stdin"],
            "12345\n",
            "at least 6 digits",
        ),
        (
            ["add", "RN-X", "--name", "Matron", "--role", "matron", "--pin-stdin"],
            f"{PIN}\n",
            "unknown role 'matron'",
        ),
        (["disable", "RN-NOBODY"], "", "no account 'RN-NOBODY'"),
        (["disable", "ADM-1"], "", "last administrator"),
        (["reset-pin", "ADM-1", "--pin-stdin"], "12\n", "at least 6 digits"),
    ],
)
def test_refusals_are_one_line_exit_2_and_change_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    db = tmp_path / "station.sqlite"
    users(
        capsys,
        monkeypatch,
        db,
        "add",
        "ADM-1",
        "--name",
        "Ann",
        "--role",
        "admin",
        "--pin-stdin",
        stdin=f"{PIN}\n",
    )
    code, out, err = users(capsys, monkeypatch, db, *argv, stdin=stdin)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("chairside: ")
    assert "Traceback" not in err and "12345" not in err
    with Journal(db, read_only=True) as journal:
        assert len(list(journal.entries(STREAM))) == 1
        rows = journal.conn.execute(
            "SELECT id, name, disabled, updated_at = created_at FROM accounts"
        ).fetchall()
        assert [tuple(r) for r in rows] == [("ADM-1", "Ann", 0, 1)]


def test_list_of_a_missing_database_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert chairside(["users", "list", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "there is no database" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()


def _on_a_terminal(tmp_path: Path, argv: list[str], answers: list[str]) -> tuple[int, str]:
    """Run `chairside` on a pseudo-terminal, as an administrator would, answering each prompt in turn
    (after it appears: getpass flushes anything typed before it turns echo off)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        env={**os.environ, "CHAIRSIDE_DATA_DIR": str(tmp_path / "data")},
    )
    os.close(slave)
    screen = b""
    answered = 0
    pending = list(answers)
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
        if pending and screen[answered:].rstrip().endswith(b":"):  # a new prompt since the last answer
            os.write(master, f"{pending.pop(0)}\n".encode())
            answered = len(screen)
    os.close(master)
    return proc.wait(timeout=120), screen.decode(errors="replace")


def test_add_prompts_twice_without_echo(tmp_path: Path) -> None:
    db = tmp_path / "station.sqlite"
    argv = ["users", "add", "RN-AB", "--name", "Alice Brown", "--role", "nurse", "--db", str(db)]
    code, screen = _on_a_terminal(tmp_path, argv, [PIN, PIN])
    assert code == 0, screen
    assert "PIN (at least 6 digits):" in screen and "PIN again:" in screen
    assert PIN not in screen and "added RN-AB" in screen


def test_two_different_pins_change_nothing(tmp_path: Path) -> None:
    db = tmp_path / "station.sqlite"
    argv = ["users", "add", "RN-AB", "--name", "Alice Brown", "--role", "nurse", "--db", str(db)]
    code, screen = _on_a_terminal(tmp_path, argv, [PIN, "918273"])
    assert code == 2 and "the two PINs differ" in screen
    assert PIN not in screen and "918273" not in screen
    with Journal(db, read_only=True) as journal:
        assert list(journal.entries(STREAM)) == []

"""`chairside export --format hl7 --batch`: the file's messages in an FHS/BHS batch envelope whose
counts match, each message as hl7apy parses it, and `verify` checking the envelope too."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.export.hl7_batch import read_file
from app.export.hl7_check import parse_validated

from .conftest import SimulatedShift


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(folder))
    from app.export.seals import load_or_create_key

    load_or_create_key()  # the station's key, made when it first started (an export never makes one)
    return folder


def _export(sim: SimulatedShift, out: Path, *extra: str) -> int:
    sim.journal.close()
    return main(
        [
            "export",
            "--db",
            str(sim.db_path),
            "--format",
            "hl7",
            "-o",
            str(out),
            "--shift",
            "2026-01-05",
            *extra,
        ]
    )


def _without_msh7(messages: list[str]) -> list[str]:
    def cut(message: str) -> str:
        msh, _, rest = message.partition("\r")
        fields = msh.split("|")
        return "|".join([*fields[:6], *fields[7:]]) + "\r" + rest

    return [cut(m) for m in messages]


def test_batch_wraps_the_file_in_fhs_bhs_with_matching_counts_and_verifies(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, batch = tmp_path / "plain.hl7", tmp_path / "batch.hl7"
    assert _export(simulated, plain) == 0
    assert _export(simulated, batch, "--batch") == 0
    segments = batch.read_bytes().decode("utf-8").split("\r")
    assert segments[-1] == ""  # every segment ended by CR
    fhs, bhs, bts, fts = segments[0], segments[1], segments[-3], segments[-2]
    assert fhs.startswith("FHS|^~\\&|")
    fhs_fields, bhs_fields = fhs.split("|"), bhs.split("|")
    assert bhs_fields[0] == "BHS" and fhs_fields[2:10] == bhs_fields[2:10]  # one sender, one moment
    assert (
        fhs_fields[2].endswith("^EUI-64") and fhs_fields[10].endswith(".F") and bhs_fields[10].endswith(".B")
    )
    found = read_file(batch)
    # The same messages inside; MSH-7 is when each export made its messages (the two may be a second apart)
    assert _without_msh7(found.messages) == _without_msh7(read_file(plain).messages)
    assert bts == f"BTS|{len(found.messages)}" and fts == "FTS|1" and len(found.messages) > 10
    for message in found.messages[:20]:
        parse_validated(message)
    capsys.readouterr()
    assert main(["verify", "--db", str(simulated.db_path), "--export", str(batch)]) == 0, capsys.readouterr()


def test_a_batch_whose_envelope_was_removed_or_changed_fails_verification(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "batch.hl7"
    assert _export(simulated, batch, "--batch") == 0
    content = batch.read_bytes().decode("utf-8")
    count = len(read_file(batch).messages)
    for edited in (
        content.replace(f"BTS|{count}\r", f"BTS|{count - 1}\r"),  # a count that no longer matches
        "\r".join(s for s in content.split("\r") if s[:3] not in ("FHS", "BHS", "BTS", "FTS")),  # unwrapped
    ):
        batch.write_text(edited, encoding="utf-8", newline="")
        capsys.readouterr()
        assert main(["verify", "--db", str(simulated.db_path), "--export", str(batch)]) == 1
        assert "batch" in capsys.readouterr().err


def test_batch_is_for_an_hl7_file(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulated.journal.close()
    capsys.readouterr()
    code = main(
        [
            "export",
            "--db",
            str(simulated.db_path),
            "--format",
            "csv",
            "-o",
            str(tmp_path / "x.csv"),
            "--batch",
        ]
    )
    assert code == 2 and "--batch wraps an HL7 file" in capsys.readouterr().err

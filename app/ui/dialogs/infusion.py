"""Start, pause, resume, complete and discontinue an infusion by hand (the pump documents most of
these by itself; these are for a chair without a pump link, or to give the nurse's reason)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit, QWidget

from app.accounts.authority import release_cosigner
from app.accounts.store import Account
from app.chairs import ChairController
from app.domain.commands import (
    ChangeRate,
    Command,
    CompleteInfusion,
    Discharge,
    Discontinue,
    Override,
    PauseInfusion,
    PrescriberRelease,
    ReleaseCosigner,
    ResumeInfusion,
    StartInfusion,
)
from app.domain.decide import PRESCRIBER_MAX_CHARS, release_cosigner_refusal, start_failures
from app.station.status_text import dose_rate_text, rate_text
from app.ui.dialogs.common import CommandDialog, FormError, datetime_edit, edited_datetime
from app.ui.signin import ask_signer


class StartInfusionDialog(CommandDialog):
    title = "Start infusion"
    save_text = "Start"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        protocol = state.require_protocol()
        form = QFormLayout(self.form_area)
        info = QLabel(
            f"Set the pump to <b>{dose_rate_text(state, state.steps[0].rate_ml_h)}</b>, "
            f"VTBI {state.bag.volume_ml if state.bag else protocol.bag_volume_ml:g} mL, and start it."
        )
        info.setWordWrap(True)
        form.addRow(info)
        ready = state.premedication_ready_at
        if ready is not None:
            form.addRow("Premedication lead time over at", QLabel(chair.face.at(ready, chair.now())))
        self.at = datetime_edit(chair.now(), chair.face)
        form.addRow("Started at", self.at)
        # What the guard would refuse now, said before the nurse tries (with the override path)
        failures = start_failures(state, chair.now(), chair.floor.floor.display_tz)
        if failures:
            reasons = "\n".join(f"• {f.message}" for f in failures)
            self.show_problem(f"⚠ Not yet:\n{reasons}", overridable=True)

    def build_commands(self, override: Override | None) -> list[Command]:
        return [StartInfusion(edited_datetime(self.at), override)]


class RateDialog(CommandDialog):
    title = "Rate change"

    def __init__(self, chair: ChairController, rate_ml_h: float, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        form = QFormLayout(self.form_area)
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0, 999)
        self.rate.setSuffix(" mL/h")
        self.rate.setValue(rate_ml_h)
        self.reason = QLineEdit("step per protocol")
        form.addRow("New rate", self.rate)
        form.addRow("Reason", self.reason)

    def build_commands(self, override: Override | None) -> list[Command]:
        return [ChangeRate(self.rate.value(), source="nurse", reason=self.reason.text().strip())]


class PauseDialog(CommandDialog):
    title = "Pause infusion"
    save_text = "Pause"
    REASONS = ("patient request (bathroom)", "line problem", "symptoms: assessing", "pump alarm")

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        form = QFormLayout(self.form_area)
        self.reason = QComboBox()
        self.reason.setEditable(True)
        self.reason.addItems(self.REASONS)
        form.addRow("Reason", self.reason)
        self.at = datetime_edit(chair.now(), chair.face)
        form.addRow("Paused at", self.at)

    def build_commands(self, override: Override | None) -> list[Command]:
        reason = self.reason.currentText().strip()
        if not reason:
            raise FormError("Say why the infusion is paused")
        return [PauseInfusion(reason, "nurse", edited_datetime(self.at))]


class ResumeDialog(CommandDialog):
    title = "Resume infusion"
    save_text = "Resume"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        form = QFormLayout(self.form_area)
        stop = state.unresolved_stop_reaction
        if stop is not None:
            text = (
                f"Restart only when ALL symptoms of the grade {stop.grade} reaction have resolved, at "
                f"<b>{dose_rate_text(state, stop.restart_rate_ml_h)}</b> (half the rate at onset)."
            )
        else:
            text = (
                f"Resume at <b>{rate_text(state.planned_rate_ml_h(chair.now()) or state.pump_rate_ml_h)}</b>."
            )
        info = QLabel(text)
        info.setWordWrap(True)
        form.addRow(info)
        self.at = datetime_edit(chair.now(), chair.face)
        form.addRow("Resumed at", self.at)

    def build_commands(self, override: Override | None) -> list[Command]:
        return [ResumeInfusion("nurse", edited_datetime(self.at), override)]


class CompleteDialog(CommandDialog):
    title = "End of infusion"
    save_text = "Infusion complete"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        form = QFormLayout(self.form_area)
        self.volume = QDoubleSpinBox()
        self.volume.setRange(0, 5000)
        self.volume.setSuffix(" mL")
        state = chair.state
        if state is not None and state.bag is not None:
            self.volume.setValue(state.bag.volume_ml)
        telemetry = chair.telemetry
        if telemetry is not None:
            self.volume.setValue(telemetry.volume_infused_ml)
        self.at = datetime_edit(chair.now(), chair.face)
        self.reason = QLineEdit()
        form.addRow("Volume infused", self.volume)
        form.addRow("Ended at", self.at)
        form.addRow("Note", self.reason)

    def build_commands(self, override: Override | None) -> list[Command]:
        return [CompleteInfusion("nurse", self.volume.value(), edited_datetime(self.at), self.reason.text())]


class DiscontinueDialog(CommandDialog):
    title = "Discontinue (not given / stopped for good)"
    save_text = "Discontinue"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        form = QFormLayout(self.form_area)
        self.reason = QLineEdit()
        form.addRow("Reason", self.reason)

    def build_commands(self, override: Override | None) -> list[Command]:
        return [Discontinue(self.reason.text().strip())]


class DischargeDialog(CommandDialog):
    title = "Discharge"
    save_text = "Discharge"
    NOT_SIGNED = "signs in when you save (badge or ID, and PIN)"

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(chair, parent)
        state = chair.state
        assert state is not None
        form = QFormLayout(self.form_area)
        ends = state.observation_ends_at
        if ends is not None:
            form.addRow("Observation ends", QLabel(chair.face.at(ends, chair.now())))
        teaching = QLabel(
            "Discharge teaching: reactions can occur up to 24 h after the infusion; "
            "the patient knows whom to call."
        )
        teaching.setWordWrap(True)
        form.addRow(teaching)
        self.at = datetime_edit(chair.now(), chair.face)
        form.addRow("Discharged at", self.at)
        # After anaphylaxis: earlier than its observation only on a prescriber's release, co-signed by a
        # second nurse who signs in (never a typed name: anyone could type anyone)
        self.prescriber = QLineEdit()
        self.prescriber.setMaxLength(PRESCRIBER_MAX_CHARS)
        self.release_note = QLineEdit()
        self.cosigner: Account | None = None  # the second nurse, once signed in
        self.cosigner_label = QLabel(self.NOT_SIGNED)
        until = state.anaphylaxis_observation_until
        if until is not None:
            heading = QLabel(
                f"<b>After anaphylaxis: observed until {chair.face.at(until, chair.now())}</b>. Earlier only on a prescriber's "
                "documented release, co-signed by a second nurse."
            )
            heading.setWordWrap(True)
            form.addRow(heading)
            form.addRow("Prescriber", self.prescriber)
            form.addRow("Release documented", self.release_note)
            form.addRow("Co-signed by (second nurse)", self.cosigner_label)

    def build_commands(self, override: Override | None) -> list[Command]:
        release = None
        prescriber, note = self.prescriber.text().strip(), self.release_note.text().strip()
        if prescriber or note:
            release = PrescriberRelease(prescriber, self.release_cosigner(), note)
        return [Discharge(edited_datetime(self.at), override, release)]

    def release_cosigner(self) -> ReleaseCosigner | None:
        """The second nurse signs in (once per dialog); their account as the station's accounts hold it
        now. None: nobody signed (the domain refuses the release and says why)."""
        accounts = self.chair.floor.accounts
        if accounts is None:
            raise FormError("this station has no accounts: a second nurse cannot sign in to co-sign here")
        nurse = self.chair.floor.nurse

        def may_not(account: Account) -> str | None:
            refused = release_cosigner_refusal(release_cosigner(accounts, account.id), nurse)
            return None if refused is None else refused.message

        if self.cosigner is None:
            self.cosigner = ask_signer(
                self,
                accounts,
                heading="A second nurse co-signs the release",
                explanation="The prescriber's release is co-signed by a second nurse, not "
                f"{nurse or 'the nurse discharging'}. Sign with your badge or ID and PIN; the entry will "
                "carry your account.",
                refusal=may_not,
                purpose="co-sign release",
            )
            if self.cosigner is not None:
                self.cosigner_label.setText(f"{self.cosigner.id} ({self.cosigner.name}), signed in")
        return None if self.cosigner is None else release_cosigner(accounts, self.cosigner.id)

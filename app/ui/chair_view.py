"""The nurse's chair view: phase banner, the one next action, countdowns, the live plot, the timeline,
and the dialogs that record what happens. Everything is read from the chair controller; everything
recorded goes through it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.chairs import ChairController
from app.domain.phase import Phase
from app.domain.protocol import ReactionAction
from app.station.status_text import (
    ActionKind,
    NextAction,
    Priority,
    countdowns,
    dose_rate_text,
    link_text,
    next_action,
    phase_style,
    reaction_instruction,
)
from app.ui.dialogs.checkin import CheckInDialog
from app.ui.dialogs.common import CommandDialog
from app.ui.dialogs.correction import CorrectionDialog, NoteDialog
from app.ui.dialogs.infusion import (
    CompleteDialog,
    DischargeDialog,
    DiscontinueDialog,
    PauseDialog,
    RateDialog,
    ResumeDialog,
    StartInfusionDialog,
)
from app.ui.dialogs.nurse import AssignNurseDialog, HandOverDialog
from app.ui.dialogs.premedication import PremedicationDialog
from app.ui.dialogs.reaction import ReactionDialog
from app.ui.dialogs.reaction_outcome import NotToleratedDialog, ResolveDialog
from app.ui.dialogs.screening import ScreeningDialog
from app.ui.dialogs.vitals import VitalsDialog
from app.ui.elided import ElidedLabel, set_style_property, set_style_sheet, short_protocol_name
from app.ui.plot import InfusionPlot
from app.ui.signin import with_cosign
from app.ui.timeline import TimelineModel, TimelineView


class ChairView(QWidget):
    back_requested = Signal()
    dialog_opened = Signal(object)

    def __init__(self, chair: ChairController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chair = chair
        self._zone = chair.session.host.display_tz  # the configured display zone
        self._policy = chair.session.host.alarm_policy
        self.current_dialog: CommandDialog | None = None
        self.compact = False
        self.setObjectName("chairView")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 6, 10, 6)
        outer.setSpacing(6)

        # -- header and phase banner
        self.banner = QFrame()
        self.banner.setObjectName("phaseBanner")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 4, 14, 4)
        self.back_button = QPushButton("◀ Overview")
        self.back_button.setObjectName("backButton")
        self.back_button.clicked.connect(self.back_requested)
        # Short protocol name, cut with "…" if even that does not fit; the full name is the tooltip
        self.title_label = ElidedLabel()
        self.title_label.setObjectName("chairTitle")
        self.phase_label = QLabel()
        self.phase_label.setObjectName("phaseWord")
        self.link_label = QLabel()
        self.link_label.setObjectName("linkLabel")
        # The nurse responsible for this patient, and the menu to assign or hand over
        self.nurse_button = QToolButton()
        self.nurse_button.setObjectName("nurseAssigned")
        self.nurse_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.nurse_menu = QMenu(self.nurse_button)
        self.assign_action = self.nurse_menu.addAction("Assign responsible nurse…")
        self.assign_action.triggered.connect(self.open_assign)
        self.hand_over_action = self.nurse_menu.addAction("Hand over to another nurse…")
        self.hand_over_action.triggered.connect(self.open_hand_over)
        self.nurse_button.setMenu(self.nurse_menu)
        banner_layout.addWidget(self.back_button)
        banner_layout.addWidget(self.title_label, 1)
        banner_layout.addWidget(self.nurse_button)
        banner_layout.addWidget(self.link_label)
        banner_layout.addWidget(self.phase_label)
        outer.addWidget(self.banner)

        # -- what the pump must be set to now (after a reaction), big
        self.instruction = QLabel()
        self.instruction.setObjectName("instruction")
        self.instruction.setWordWrap(True)
        self.instruction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.instruction)

        # -- the one next action
        self.next_button = QPushButton()
        self.next_button.setObjectName("nextAction")
        self.next_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.next_button.clicked.connect(self.do_next_action)
        outer.addWidget(self.next_button)

        # -- countdowns, pump, alarms
        info = QHBoxLayout()
        self.countdown_box = QFrame()
        self.countdown_box.setObjectName("panel")
        self.countdown_grid = QGridLayout(self.countdown_box)
        self.countdown_labels: list[tuple[QLabel, QLabel]] = []
        for row in range(5):
            name, value = QLabel(), QLabel()
            name.setObjectName("countdownName")
            value.setObjectName("countdownValue")
            self.countdown_grid.addWidget(name, row, 0)
            self.countdown_grid.addWidget(value, row, 1)
            self.countdown_labels.append((name, value))
        info.addWidget(self.countdown_box, 4)  # names like "⚠ Vitals OVERDUE (during the infusion)"
        self.pump_box = QFrame()
        self.pump_box.setObjectName("panel")
        pump_layout = QVBoxLayout(self.pump_box)
        self.pump_rate_label = QLabel()
        self.pump_rate_label.setObjectName("pumpRate")
        self.pump_detail_label = QLabel()
        self.pump_detail_label.setObjectName("pumpDetail")
        self.pump_detail_label.setWordWrap(True)
        pump_layout.addWidget(self.pump_rate_label)
        pump_layout.addWidget(self.pump_detail_label)
        pump_layout.addStretch(1)
        info.addWidget(self.pump_box, 2)
        self.alarm_box = QFrame()
        self.alarm_box.setObjectName("panel")
        alarm_layout = QVBoxLayout(self.alarm_box)
        self.alarm_label = QLabel()
        self.alarm_label.setObjectName("chairAlarm")
        self.alarm_label.setWordWrap(True)
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.clicked.connect(self.acknowledge_top_alarm)
        self.notification_label = QLabel()
        self.notification_label.setObjectName("notification")
        self.notification_label.setWordWrap(True)
        alarm_layout.addWidget(self.alarm_label, 1)
        alarm_layout.addWidget(self.notification_label)
        alarm_layout.addWidget(self.ack_button)
        info.addWidget(self.alarm_box, 2)
        for panel in (self.countdown_box, self.pump_box, self.alarm_box):
            panel.setMaximumHeight(150)
            panel.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        # Long texts wrap or shrink rather than widen the window past a 1366-pixel screen
        for widget in (self.next_button, self.instruction, self.pump_rate_label, self.alarm_label):
            widget.setMinimumWidth(1)
        for name, value in self.countdown_labels:
            name.setMinimumWidth(1)
            value.setMinimumWidth(1)
        outer.addLayout(info)

        # -- plot and timeline
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.plot = InfusionPlot(chair)
        splitter.addWidget(self.plot)
        timeline_box = QWidget()
        timeline_layout = QVBoxLayout(timeline_box)
        timeline_layout.setContentsMargins(0, 0, 0, 0)
        timeline_heading = QLabel("Record")
        timeline_heading.setObjectName("sectionHeading")
        timeline_layout.addWidget(timeline_heading)
        self.timeline_model = TimelineModel(chair)
        self.timeline = TimelineView(self.timeline_model)
        timeline_layout.addWidget(self.timeline, 1)
        entry_buttons = QHBoxLayout()
        self.note_button = QPushButton("Note…")
        self.note_button.clicked.connect(self.open_note)
        self.correct_button = QPushButton("Correct…")
        self.correct_button.clicked.connect(self.open_correction)
        entry_buttons.addWidget(self.note_button)
        entry_buttons.addWidget(self.correct_button)
        timeline_layout.addLayout(entry_buttons)
        splitter.addWidget(timeline_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([620, 380])  # the record gets about 40 %: one line an entry at 1920
        self.splitter = splitter
        outer.addWidget(splitter, 1)

        # -- actions always at hand
        actions = QHBoxLayout()
        self.reaction_button = QPushButton("⚠ Reaction…")
        self.reaction_button.setObjectName("reactionButton")
        self.reaction_button.clicked.connect(lambda: self.open_dialog(ReactionDialog(self.chair, self)))
        self.resolved_button = QPushButton("✓ Symptoms resolved…")
        self.resolved_button.setObjectName("resolvedButton")
        self.resolved_button.clicked.connect(lambda: self.open_dialog(ResolveDialog(self.chair, self)))
        self.not_tolerated_button = QPushButton("✗ Not tolerated…")
        self.not_tolerated_button.setObjectName("notToleratedButton")
        self.not_tolerated_button.clicked.connect(
            lambda: self.open_dialog(NotToleratedDialog(self.chair, self))
        )
        self.vitals_button = QPushButton("Vitals…")
        self.vitals_button.clicked.connect(lambda: self.open_dialog(VitalsDialog(self.chair, self)))
        self.premed_button = QPushButton("Premeds…")
        self.premed_button.clicked.connect(lambda: self.open_dialog(PremedicationDialog(self.chair, self)))
        self.pause_button = QPushButton("❚❚ Pause…")
        self.pause_button.clicked.connect(self.open_pause_or_resume)
        self.complete_button = QPushButton("Complete…")
        self.complete_button.clicked.connect(lambda: self.open_dialog(CompleteDialog(self.chair, self)))
        self.discontinue_button = QPushButton("Discontinue…")
        self.discontinue_button.clicked.connect(lambda: self.open_dialog(DiscontinueDialog(self.chair, self)))
        self.discharge_button = QPushButton("Discharge…")
        self.discharge_button.clicked.connect(lambda: self.open_dialog(DischargeDialog(self.chair, self)))
        for button in (
            self.reaction_button,
            self.resolved_button,
            self.not_tolerated_button,
            self.vitals_button,
            self.premed_button,
            self.pause_button,
            self.complete_button,
            self.discontinue_button,
            self.discharge_button,
        ):
            button.setObjectName(button.objectName() or "actionButton")
            actions.addWidget(button)
        outer.addLayout(actions)

        # A view the nurse left stays built (the main window keeps it) but does no work until shown again
        self._stale = False
        chair.changed.connect(self._changed)
        chair.telemetry_received.connect(lambda _t: self._changed())
        chair.link_changed.connect(lambda _l: self._changed())
        chair.alarms_changed.connect(self._changed)
        chair.floor.ticked.connect(lambda _now: self._changed())
        self.refresh()

    def _changed(self) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def set_compact(self, compact: bool) -> None:
        """A short screen: the info panels give their spare height to the plot."""
        self.compact = compact
        for panel in (self.countdown_box, self.pump_box, self.alarm_box):
            panel.setMaximumHeight(124 if compact else 150)

    # -- reading --------------------------------------------------------------------------------------

    def _pump_rate(self) -> float | None:
        t = self.chair.telemetry
        if t is None or not self.chair.pump_connected:
            return None
        return t.rate_ml_h if t.state.is_delivering else 0.0

    def current_action(self) -> NextAction:
        return next_action(
            self.chair.state, self.chair.now(), self._pump_rate(), self._zone, policy=self._policy
        )

    def refresh(self) -> None:
        self._stale = False
        chair = self.chair
        state = chair.state
        now = chair.now()
        phase = state.phase if state is not None else Phase.EMPTY
        style = phase_style(state)
        set_style_sheet(
            self.banner,
            f"#phaseBanner {{ background:{style.colour}; border-radius:8px; }}"
            f"#phaseBanner QLabel {{ color:{style.text_colour}; }}",
        )
        if state is not None and state.protocol is not None:
            full = state.protocol.name
            self.title_label.setText(f"{chair.name} · {state.patient_initials} · {short_protocol_name(full)}")
            self.title_label.set_tooltip(f"{chair.name} · {state.patient_initials} · {full}")
        else:
            self.title_label.setText(f"{chair.name} · no patient")
            self.title_label.set_tooltip("")
        self.phase_label.setText(f"{style.symbol} {style.word.upper()}")
        self._refresh_link()

        instruction = (
            reaction_instruction(state, self._pump_rate(), self._zone, policy=self._policy)
            if state is not None
            else None
        )
        action = self.current_action()
        if instruction is None and action.urgent:
            instruction = action
        self.instruction.setVisible(instruction is not None)
        if instruction is not None:
            self.instruction.setText(instruction.text)
        self.next_button.setText(action.text)
        clickable = action.kind is not ActionKind.WAIT and not (
            action.kind is ActionKind.SET_RATE and chair.pump_connected
        )
        set_style_property(self.next_button, "waiting", not clickable)
        set_style_property(self.next_button, "urgent", action.urgent)

        items = countdowns(state, now)
        for row, (name_label, value_label) in enumerate(self.countdown_labels):
            shown = row < len(items)
            name_label.setVisible(shown)  # an empty row would still take a line's height
            value_label.setVisible(shown)
            if shown:
                name_label.setText(items[row].label)
                value_label.setText(items[row].text(now, self._zone))
                set_style_property(value_label, "overdue", items[row].remaining(now).total_seconds() < 0)
        self.countdown_box.setVisible(bool(items))
        self.plot.setVisible(state is not None and state.infusion_started_at is not None)

        in_session = state is not None and phase not in (Phase.EMPTY, Phase.DISCHARGED)
        running = phase in (Phase.INFUSING, Phase.PAUSED)
        self.reaction_button.setEnabled(phase in (Phase.INFUSING, Phase.PAUSED, Phase.OBSERVATION))
        self.vitals_button.setEnabled(in_session)
        # a reaction waiting for the nurse's word: resolved, or not tolerated at the reduced rate
        holding = state is not None and any(r.holds_until_resolved for r in state.reactions)
        self.resolved_button.setVisible(holding)
        self.not_tolerated_button.setVisible(
            state is not None
            and phase in (Phase.INFUSING, Phase.PAUSED)
            and any(r.action is ReactionAction.HALVE_RATE and r.resolved_at is None for r in state.reactions)
        )
        # premeds: before the start, and repeat doses later in the session
        self.premed_button.setEnabled(
            phase in (Phase.PREMEDICATION, Phase.INFUSING, Phase.PAUSED, Phase.OBSERVATION)
        )
        responsible = state.assigned_nurse if state is not None and in_session else ""
        self.nurse_button.setVisible(in_session)
        self.nurse_button.setText(f"Responsible: {responsible or '–'} ▾")
        self.pause_button.setEnabled(running)
        self.pause_button.setText("▶ Resume…" if phase is Phase.PAUSED else "❚❚ Pause…")
        self.complete_button.setEnabled(running)
        self.discontinue_button.setEnabled(
            phase in (Phase.SCREENING, Phase.PREMEDICATION, Phase.INFUSING, Phase.PAUSED)
        )
        self.discharge_button.setEnabled(phase in (Phase.OBSERVATION, Phase.DISCONTINUED))
        self.note_button.setEnabled(in_session)
        self.correct_button.setEnabled(in_session)
        self._refresh_alarms()

    def _refresh_link(self) -> None:
        chair = self.chair
        t = chair.telemetry
        link = chair.link
        text = link_text(
            chair.has_pump, link.status.value if link else None, chair.link_lost_since, self._zone
        )
        self.link_label.setText(text.long)
        # Its own sheet: the banner's phase colours would otherwise win over the theme's red
        self.link_label.setStyleSheet(
            "color: #b00020; font-weight: bold; font-size: 16pt;" if text.problem else ""
        )
        if not chair.has_pump:
            self.pump_rate_label.setText("Pump: none configured")
            self.pump_detail_label.setText("Rates are documented by the nurse.")
            return
        if t is None:
            self.pump_rate_label.setText("Pump: –" if chair.pump_connected else "Pump: no data")
            self.pump_detail_label.setText(link.reason if link is not None else "")
            return
        stale = "" if chair.pump_connected else f" (last seen {self.chair.face.at(t.at, self.chair.now())})"
        self.pump_rate_label.setText(f"Pump {dose_rate_text(chair.state, t.rate_ml_h)}{stale}")
        alarms = ", ".join(a.text or a.code for a in t.alarms)
        detail = f"{t.state.value} · {t.volume_infused_ml:.0f} mL infused"
        if t.vtbi_ml is not None:
            detail += f" · {t.vtbi_ml:.0f} mL to go"
        if alarms:
            detail += f"\nPump alarm: {alarms}"
        self.pump_detail_label.setText(detail)

    def _refresh_alarms(self) -> None:
        chair = self.chair
        if chair.journal_problem:
            text = f"!!! NOT RECORDED: the record cannot be written ({chair.journal_problem})"
            colour = Priority.HIGH.colour
            self.alarm_label.setText(text)
            set_style_sheet(self.alarm_box, f"#panel {{ background:{colour}; }} QLabel {{ color:white; }}")
            self.ack_button.hide()
            self.notification_label.hide()
            return
        notes = [a for a in chair.active_alarms if not a.category.is_alarm]
        # news, not an alarm: plain text, no colour, nothing to acknowledge
        self.notification_label.setText("\n".join(f"ℹ {a.message}" for a in notes[-2:]))
        self.notification_label.setVisible(bool(notes))
        alarms = [a for a in chair.active_alarms if a.category.is_alarm]
        if not alarms:
            self.alarm_label.setText("✓ No alarms for this chair")
            set_style_sheet(self.alarm_box, "")
            self.ack_button.hide()
            return
        lines = []
        for alarm in alarms[:3]:
            done = " (acknowledged)" if alarm.acknowledged else ""
            lines.append(f"{alarm.priority.symbol} {alarm.message}{done}")
        self.alarm_label.setText("\n".join(lines))
        top = Priority.parse(alarms[0].priority) or Priority.LOW
        set_style_sheet(
            self.alarm_box,
            f"#panel {{ background:{top.colour}; }} QLabel {{ color:{top.text_colour}; font-weight:bold; }}",
        )
        unacknowledged = [a for a in alarms if not a.acknowledged]
        self.ack_button.setVisible(bool(unacknowledged))

    # -- doing ----------------------------------------------------------------------------------------

    def open_dialog(self, dialog: CommandDialog) -> CommandDialog:
        """Window-modal but not blocking: tests and the event loop keep running."""
        self.current_dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: self._dialog_closed(dialog))
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _dialog_closed(self, dialog: QDialog) -> None:
        if self.current_dialog is dialog:
            self.current_dialog = None
        self.refresh()

    def do_next_action(self) -> CommandDialog | None:
        action = self.current_action()
        state = self.chair.state
        kind = action.kind
        dialog: CommandDialog | None = None
        if kind is ActionKind.CHECK_IN:
            dialog = CheckInDialog(self.chair, self)
        elif kind is ActionKind.SCREENING:
            dialog = ScreeningDialog(self.chair, self)
        elif kind is ActionKind.PREMEDICATION:
            dialog = PremedicationDialog(self.chair, self)
        elif kind is ActionKind.START:
            dialog = StartInfusionDialog(self.chair, self)
        elif kind is ActionKind.SET_RATE and not self.chair.pump_connected:
            dialog = RateDialog(self.chair, action.rate_ml_h or 0.0, self)
        elif kind is ActionKind.RESUME:
            dialog = ResumeDialog(self.chair, self)
        elif kind is ActionKind.VITALS:
            dialog = VitalsDialog(self.chair, self)
        elif kind is ActionKind.DISCHARGE or (
            kind is ActionKind.STOP_PUMP and state is not None and state.phase is Phase.DISCONTINUED
        ):
            dialog = DischargeDialog(self.chair, self)
        if dialog is None:
            return None
        return self.open_dialog(dialog)

    def open_pause_or_resume(self) -> CommandDialog:
        state = self.chair.state
        if state is not None and state.phase is Phase.PAUSED:
            return self.open_dialog(ResumeDialog(self.chair, self))
        return self.open_dialog(PauseDialog(self.chair, self))

    def open_assign(self) -> CommandDialog:
        return self.open_dialog(AssignNurseDialog(self.chair, self))

    def open_hand_over(self) -> CommandDialog:
        return self.open_dialog(HandOverDialog(self.chair, self))

    def open_note(self) -> CommandDialog:
        return self.open_dialog(NoteDialog(self.chair, self.timeline.selected_event(), self))

    def open_correction(self) -> CommandDialog | None:
        target = self.timeline.selected_event()
        if target is None:
            self.alarm_label.setText("Select the entry to correct in the record first.")
            return None
        return self.open_dialog(CorrectionDialog(self.chair, target, self))

    def acknowledge_top_alarm(self) -> None:
        unacknowledged = [a for a in self.chair.active_alarms if not a.acknowledged and a.category.is_alarm]
        if not unacknowledged:
            return
        from app.domain.decide import CommandRefused

        try:
            alarm_id = unacknowledged[0].id
            with_cosign(self, self.chair.floor, lambda c: self.chair.acknowledge(alarm_id, c))
        except CommandRefused as refused:
            self.alarm_label.setText(f"⚠ {refused}")

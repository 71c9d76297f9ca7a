"""The infusion floor: every chair's open session, the protocol library and the journal, bound together.

Commands go through here: decide -> journal (durable) -> fold. The in-memory state changes only after
the journal has the events on disk. On start, every open session is rebuilt by replaying its events.
No Qt here: the Qt facade (app.chairs) wraps this and re-emits changes as signals.
"""

from __future__ import annotations

import sqlite3
import tomllib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, tzinfo
from pathlib import Path

from app.domain.chair import ChairState
from app.domain.clock import Clock, SystemClock
from app.domain.clock_face import ClockFace, machine_zone
from app.domain.commands import CheckIn, Command
from app.domain.decide import CommandRefused, DecisionContext, GuardFailure, decide
from app.domain.events import SignOff
from app.domain.history import PatientHistory
from app.domain.protocol import InfusionProtocol
from app.domain.reactions import ReactionTerms
from app.domain.vitals import VitalSignLimits
from app.protocol_library import ProtocolLibrary
from app.resources import resource_path
from app.store.journal import Journal


def _occupied(chair: str) -> CommandRefused:
    return CommandRefused(
        [GuardFailure("chair_occupied", f"{chair} already has a patient: discharge them first")],
        overridable=False,
    )


def load_vital_limits(path: Path | None = None) -> VitalSignLimits:
    path = path or resource_path("vital-signs.toml")
    with path.open("rb") as handle:
        return VitalSignLimits.from_mapping(tomllib.load(handle), path.name)


def load_reaction_terms(path: Path | None = None) -> ReactionTerms:
    path = path or resource_path("reactions.toml")
    with path.open("rb") as handle:
        return ReactionTerms.from_mapping(tomllib.load(handle), path.name)


class Floor:
    def __init__(
        self,
        journal: Journal,
        protocols: Mapping[str, InfusionProtocol] | None = None,
        clock: Clock | None = None,
        vital_limits: VitalSignLimits | None = None,
        display_tz: tzinfo | None = None,
        reaction_terms: ReactionTerms | None = None,
    ) -> None:
        self.journal = journal
        self.display_tz: tzinfo = display_tz or machine_zone()
        """The zone people read (the station configuration sets it: app.station.start.configure_floor)."""
        self.reaction_terms = reaction_terms or load_reaction_terms()
        self.protocols = protocols if protocols is not None else ProtocolLibrary.load()
        self.clock = clock or journal.clock
        self.vital_limits = vital_limits or load_vital_limits()
        self.sessions: dict[str, ChairState] = {}
        for session_id in journal.session_ids(open_only=True):
            self.sessions[session_id] = ChairState.replay(session_id, journal.events(session_id))

    @property
    def face(self) -> ClockFace:
        """The clock face of this floor's display zone."""
        return ClockFace(self.display_tz)

    @classmethod
    def open(cls, db_path: Path, clock: Clock | None = None) -> Floor:
        return cls(Journal(db_path, clock or SystemClock()))

    def close(self) -> None:
        self.journal.close()

    def session_for_chair(self, chair: str) -> ChairState | None:
        """The chair's current session (not yet discharged), if any."""
        for state in self.sessions.values():
            if state.chair == chair and not state.phase.is_closed:
                return state
        return None

    def context(self, actor: str, history: PatientHistory | None = None) -> DecisionContext:
        return DecisionContext(
            self.clock.now(),
            actor,
            self.protocols,
            self.vital_limits,
            display_tz=self.display_tz,
            reaction_terms=self.reaction_terms,
            patient_history=history,
        )

    def pump_rate_at(self, session_id: str, moment: datetime) -> float:
        """The rate the chair's pump was recorded running at `moment` (start, documented rate changes,
        pauses): what a back-dated reaction's onset takes. The one lookup; `decide` uses the same."""
        state = self.sessions.get(session_id)
        if state is None:
            raise KeyError(f"no open session {session_id}")
        return state.pump_rate_at(moment)

    def patient_history(self, mrn: str) -> PatientHistory:
        """This journal's sessions for the MRN (open and closed): serious reactions, infusion dates."""
        mrn = mrn.strip()
        sessions = []
        for session_id in self.journal.session_ids_for_patient(mrn):
            try:
                sessions.append(ChairState.replay(session_id, self.journal.events(session_id)))
            except ValueError:
                continue  # a session the state machine cannot read says nothing reliable
        return PatientHistory.from_sessions(mrn, sessions)  # keeps only those whose MRN is this one now

    def check_in(self, command: CheckIn, actor: str, signoff: SignOff | None = None) -> ChairState:
        if self.session_for_chair(command.chair) is not None:
            raise _occupied(command.chair)

        def chair_free_in_database(conn: sqlite3.Connection) -> None:
            # Inside the append's write transaction: another process on this file cannot slip a
            # check-in on the same chair between this check and our entry.
            if self.journal.open_session_on(command.chair, conn) is not None:
                raise _occupied(command.chair)

        history = self.patient_history(command.patient_mrn)
        return self._run(
            ChairState(str(uuid.uuid4())), command, actor, history, chair_free_in_database, signoff
        )

    def execute(
        self, session_id: str, command: Command, actor: str, signoff: SignOff | None = None
    ) -> ChairState:
        """`signoff`: a two-person sign-off (`by`, `cosigned_by`) recorded with every event."""
        if isinstance(command, CheckIn):
            return self.check_in(command, actor, signoff)
        state = self.sessions.get(session_id)
        if state is None:
            raise KeyError(f"no open session {session_id}")
        return self._run(state, command, actor, signoff=signoff)

    def _run(
        self,
        state: ChairState,
        command: Command,
        actor: str,
        history: PatientHistory | None = None,
        guard: Callable[[sqlite3.Connection], None] | None = None,
        signoff: SignOff | None = None,
    ) -> ChairState:
        events = decide(state, command, self.context(actor, history))
        if signoff:
            events = [replace(e, signoff=signoff) for e in events]
        stored = self.journal.append(state.session_id, events, expected_last_seq=state.last_seq, guard=guard)
        for event in stored:
            state = state.apply(event)
        if state.phase.is_closed:
            self.sessions.pop(state.session_id, None)
        else:
            self.sessions[state.session_id] = state
        return state

"""The kinds of fact the journal records."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    CHECKED_IN = "checked_in"
    SCREENING_RECORDED = "screening_recorded"
    PREMEDICATION_GIVEN = "premedication_given"
    INFUSION_STARTED = "infusion_started"
    RATE_CHANGED = "rate_changed"
    INFUSION_PAUSED = "infusion_paused"
    INFUSION_RESUMED = "infusion_resumed"
    REACTION_RECORDED = "reaction_recorded"
    SYMPTOMS_RESOLVED = "symptoms_resolved"
    REACTION_NOT_TOLERATED = "reaction_not_tolerated"
    VITALS_RECORDED = "vitals_recorded"
    INFUSION_COMPLETED = "infusion_completed"
    DISCHARGED = "discharged"
    DISCONTINUED = "discontinued"
    CORRECTION_RECORDED = "correction_recorded"
    NOTE_ADDED = "note_added"
    NURSE_ASSIGNED = "nurse_assigned"
    HANDED_OVER = "handed_over"
    ALARM_RAISED = "alarm_raised"
    ALARM_ACKNOWLEDGED = "alarm_acknowledged"
    ALARM_CLEARED = "alarm_cleared"
    # Who is at the station (the accounts stream, app.accounts; never part of a chair session)
    ACCOUNT_ADDED = "account_added"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_PIN_RESET = "account_pin_reset"
    ACCOUNT_LOCKED = "account_locked"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGNED_IN = "signed_in"
    SIGNED_OUT = "signed_out"
    STATION_LOCKED = "station_locked"
    STATION_UNLOCKED = "station_unlocked"
    # The station signed its journal's head (app.export.seals): the chain records when anchors were made
    JOURNAL_ANCHORED = "journal_anchored"
    # At start the floor's broker held a signed anchor of this station that the journal no longer has
    # (app.station.anchor_check): entries were lost; everything after this entry sits over the loss
    JOURNAL_LOSS_FOUND = "journal_loss_found"
    # A command from the floor's overview that the station refused (the floor stream, app.station.publish)
    FLOOR_COMMAND_REFUSED = "floor_command_refused"

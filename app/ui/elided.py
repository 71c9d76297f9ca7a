"""Small widget helpers: a label that elides instead of clipping mid-word, and restyling only on change.

`QWidget.setStyleSheet` re-polishes the widget and all its children every time, even when the sheet is
the same; a tile or banner refreshed once a second must only restyle when what it shows changes.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


def short_protocol_name(name: str) -> str:
    """'Ocrevus 600 mg subsequent dose (every 6 months)' -> 'Ocrevus 600 mg subsequent dose'."""
    head, sep, _rest = name.partition(" (")
    return head.strip() if sep and head.strip() else name


def set_style_sheet(widget: QWidget, sheet: str) -> bool:
    """Set the sheet only when it differs. True when it changed."""
    if widget.styleSheet() == sheet:
        return False
    widget.setStyleSheet(sheet)
    return True


def set_style_property(widget: QWidget, name: str, value: object) -> bool:
    """Set a property the stylesheet selects on, re-polishing only when its value changed."""
    if widget.property(name) == value:
        return False
    widget.setProperty(name, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    return True


def wrap_and_elide(text: str, metrics: QFontMetrics, width: int, max_lines: int) -> list[str]:
    """Word-wrap `text` to `width` pixels in at most `max_lines` lines; the last one ends in '…' if cut."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < max_lines - 1:
        line = words.pop(0)
        while words and metrics.horizontalAdvance(f"{line} {words[0]}") <= width:
            line = f"{line} {words.pop(0)}"
        if metrics.horizontalAdvance(line) > width:  # one word longer than the line
            words.insert(0, line)
            break
        lines.append(line)
    if words:
        lines.append(metrics.elidedText(" ".join(words), Qt.TextElideMode.ElideRight, width))
    return lines


class FittedLabel(QLabel):
    """A label that lays its text out again to fit whenever its size, font or style changes (`_fit`)."""

    def _fit(self) -> None:
        raise NotImplementedError

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit()


class ElidedLabel(FittedLabel):
    """Text in at most `max_lines` lines (default one), the last ending in '…' when it does not fit,
    with the whole text as its tooltip.

    `text()` is the whole text; what is painted is cut to the width. `tooltip` (when given) is shown
    instead of the whole text, e.g. a protocol's full name behind its short one. Set `eliding` False to
    show the whole text again (word-wrapped)."""

    def __init__(
        self, text: str = "", parent: QWidget | None = None, *, tooltip: str = "", max_lines: int = 1
    ) -> None:
        super().__init__(parent)
        self._full = ""
        self._max_lines = max(1, max_lines)
        self._tooltip = tooltip
        self._eliding = True
        self.setMinimumWidth(1)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:
        if text == self._full and super().text():
            return
        self._full = text
        self._fit()

    def set_tooltip(self, tooltip: str) -> None:
        self._tooltip = tooltip
        self._fit()

    @property
    def eliding(self) -> bool:
        return self._eliding

    def set_eliding(self, eliding: bool) -> None:
        if eliding == self._eliding:
            return
        self._eliding = eliding
        self.setWordWrap(not eliding)
        policy = QSizePolicy.Policy.Ignored if eliding else QSizePolicy.Policy.Preferred
        self.setSizePolicy(policy, QSizePolicy.Policy.Preferred)
        self._fit()

    def set_max_lines(self, max_lines: int) -> None:
        if max(1, max_lines) != self._max_lines:
            self._max_lines = max(1, max_lines)
            self._fit()

    def is_elided(self) -> bool:
        return super().text().replace("\n", " ") != " ".join(self._full.split())

    def shown_text(self) -> str:
        """What is painted (cut to the width)."""
        return super().text()

    def _fit(self) -> None:
        shown = self._full
        if self._eliding:
            width = max(1, self.contentsRect().width() - 2 * self.margin() - 2)
            metrics = self.fontMetrics()
            if self._max_lines == 1:
                shown = metrics.elidedText(self._full, Qt.TextElideMode.ElideRight, width)
            else:
                shown = "\n".join(wrap_and_elide(self._full, metrics, width, self._max_lines))
        if super().text() != shown:
            super().setText(shown)
        cut = shown.replace("\n", " ") != " ".join(self._full.split())
        tip = self._tooltip or (self._full if cut else "")
        if self.toolTip() != tip:
            self.setToolTip(tip)

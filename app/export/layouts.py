"""The layout this Chairside lays each export format out in (one constant per format, kept next to the
code that lays it out). An export records the layout that made it (its manifest; a JSON or PDF export
inside too); `verify --export` re-lays out the content only when the layouts are the same. Exports
made before layouts were recorded count as layout 0."""

from __future__ import annotations

from app.export.hl7 import HL7_LAYOUT
from app.export.pdf import PDF_LAYOUT
from app.export.tabular import CSV_LAYOUT, JSON_LAYOUT

LAYOUTS = {"pdf": PDF_LAYOUT, "csv": CSV_LAYOUT, "json": JSON_LAYOUT, "hl7": HL7_LAYOUT}
UNRECORDED = 0
"""The layout of an export that records none (made before layouts were recorded)."""

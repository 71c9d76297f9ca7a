"""The station core: Qt-free code that runs the station (no PySide6, no pyqtgraph)."""

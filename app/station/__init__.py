"""The Qt-free station core: its configuration, the pumps it attaches, and what it runs headless."""

"""BD Alaris GH/CC ("Asena" protocol): codec, messages and the monitoring driver."""

from drivers.alaris.driver import AlarisDriver

__all__ = ["AlarisDriver"]

"""The protocol library: one TOML file per protocol in resources/protocols, each validated on load.

An invalid file never reaches a session: loading raises a ProtocolError naming the file, the field
and what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from app.bounded_input import BadInputFile, load_toml
from app.domain.protocol import InfusionProtocol, ProtocolError, parse_protocol
from app.resources import resource_path

DEFAULT_DIRECTORY = resource_path("protocols")


def load_protocol_file(path: Path) -> InfusionProtocol:
    name = path.name
    try:
        data = load_toml(path)  # bounded: a regular file, not too deep, keys not too long
    except BadInputFile as exc:
        problem = str(exc)
        raise ProtocolError(
            name, "(file)", f"is {problem}" if problem.startswith("not ") else problem
        ) from exc
    except OSError as exc:
        raise ProtocolError(name, "(file)", f"cannot be read: {exc.strerror or exc}") from exc
    protocol = parse_protocol(data, name)
    if protocol.id != path.stem:
        raise ProtocolError(name, "id", f"is {protocol.id!r} but the file is named {path.stem!r}")
    return protocol


class ProtocolLibrary(Mapping[str, InfusionProtocol]):
    """Validated protocols by id."""

    def __init__(self, protocols: Mapping[str, InfusionProtocol]) -> None:
        self._protocols = dict(sorted(protocols.items()))

    @classmethod
    def load(cls, directory: Path = DEFAULT_DIRECTORY) -> ProtocolLibrary:
        if not directory.is_dir():
            raise ProtocolError(str(directory), "(directory)", "is not a folder")
        files = sorted(directory.glob("*.toml"))
        if not files:
            raise ProtocolError(str(directory), "(directory)", "holds no protocol files (*.toml)")
        return cls({path.stem: load_protocol_file(path) for path in files})

    def __getitem__(self, protocol_id: str) -> InfusionProtocol:
        try:
            return self._protocols[protocol_id]
        except KeyError:
            known = ", ".join(self._protocols)
            raise KeyError(f"no protocol {protocol_id!r} in the library (known: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._protocols)

    def __len__(self) -> int:
        return len(self._protocols)

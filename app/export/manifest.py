"""The manifest written next to every export (FILE.manifest.json): which journal range the file
covers, that range's digest, and the SHA-256 of the file itself.

The range digest proves the journal still holds what was exported; the file hash proves the file is
the one that was written (a PDF cannot be re-derived byte for byte, so this is how an edited PDF is
caught). CSV and HL7 files have no room for the seal, so for them the manifest is required.
The manifest is signed with the station key and carries the journal anchors (app.export.seals), so
editing an export and recomputing its hash by hand is caught too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.export.model import ExportError, Seal
from app.export.seals import sign
from app.private_files import private_file

SUFFIX = ".manifest.json"


def manifest_path(export: Path) -> Path:
    return export.with_name(export.name + SUFFIX)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(
    export: Path, fmt: str, seal: Seal, extra: dict[str, Any], key: Ed25519PrivateKey | None = None
) -> Path:
    """The manifest, signed with the station key when one is given (app.export.seals)."""
    path = manifest_path(export)
    document: dict[str, Any] = {
        "format": fmt,
        "file": export.name,
        "file_sha256": file_sha256(export),
        "seal": seal.to_json(),
        **extra,
    }
    if key is not None:
        document["signature"] = sign(key, document)
    private_file(path).write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def read_manifest(export: Path) -> dict[str, Any] | None:
    path = manifest_path(export)
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"the manifest {path.name} cannot be read: {exc}") from exc
    if not isinstance(document, dict) or "seal" not in document or "file_sha256" not in document:
        raise ExportError(f"the manifest {path.name} is not a Chairside export manifest")
    return document

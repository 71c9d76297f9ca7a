"""Slow, salted hashes for PINs and badge codes (hashlib.scrypt: standard library, memory-hard).

A PIN hash carries its own salt and cost ("scrypt$n$r$p$salt$digest"), so raising the cost later still
verifies older PINs. A badge digest uses the station's badge salt instead of a per-account one: a scan
must find its account with one indexed look-up rather than one slow hash per account.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from app.accounts.settings import ScryptCost

_DIGEST_BYTES = 32
# A badge is looked up on every scan. Fixed here, not policy: changing it orphans every enrolled badge.
BADGE_COST = ScryptCost(2**14, 8, 1)


def _scrypt(secret: str, salt: bytes, cost: ScryptCost) -> bytes:
    # maxmem: 128 * n * r bytes plus headroom, so a raised cost never fails on the default 32 MiB cap
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=cost.n,
        r=cost.r,
        p=cost.p,
        maxmem=256 * cost.n * cost.r + 1024 * 1024,
        dklen=_DIGEST_BYTES,
    )


def hash_pin(pin: str, cost: ScryptCost) -> str:
    salt = os.urandom(16)
    digest = _scrypt(pin, salt, cost)
    return f"scrypt${cost.n}${cost.r}${cost.p}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        actual = _scrypt(pin, bytes.fromhex(salt), ScryptCost(int(n), int(r), int(p)))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def badge_digest(badge: str, station_salt: str) -> str:
    return _scrypt(badge.strip(), bytes.fromhex(station_salt), BADGE_COST).hex()

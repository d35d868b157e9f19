"""Human case references, e.g. ``SR-7KQ2-M9XD-3F8A``, derived from the case id.

Scheme: ``SHA-256(b"supportes/case-reference/v1:" + case_id.bytes)``, first 60 bits, written as
12 Crockford base32 symbols (``0-9`` and ``A-Z`` without ``I``, ``L``, ``O``, ``U``) in three groups
of four after ``SR-``. It is deterministic (no counter, no I/O, no randomness) so re-deciding a
command yields the same reference, and hashing spreads ids that are not random (UUIDv1/v7).

Collisions: for ``n`` cases the chance that any two share a reference is about
``n^2 / 2^61`` (birthday bound for 60 bits): ~4.3e-7 at 10^6 cases and ~4.3e-5 at 10^7 cases
(40 bits would give ~0.37 and ~1.0, which is why the reference is 12 symbols and not 8).
Unlikely is not impossible: the reference is *not* a key. The reference given to a customer is
recorded in the events, never recomputed. The event index / case view may put a unique index on
it to detect a duplicate; lookups by reference must then show every matching case (the customer
id disambiguates) rather than pick one. A collision cannot be "fixed" by the domain because the
reference was already given to the customer.

No check symbol is included (Crockford's check alphabet needs ``*~$=U``); :func:`parse_reference`
accepts the common misreadings (``O``->``0``, ``I``/``L``->``1``), lower case and missing dashes.
"""

from __future__ import annotations

import hashlib
import re
from uuid import UUID

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32: no I, L, O or U."""
PREFIX = "SR"
SYMBOLS = 12
BITS = SYMBOLS * 5
GROUP = 4
_DOMAIN = b"supportes/case-reference/v1:"
_PATTERN = re.compile(rf"^{PREFIX}(?:-[{ALPHABET}]{{{GROUP}}}){{{SYMBOLS // GROUP}}}$")
_MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1"})


def case_reference(case_id: UUID) -> str:
    """The reference given to the customer for ``case_id`` (deterministic)."""
    digest = hashlib.sha256(_DOMAIN + case_id.bytes).digest()
    number = int.from_bytes(digest[:8], "big") >> (64 - BITS)
    symbols = [ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(SYMBOLS))]
    groups = ["".join(symbols[i : i + GROUP]) for i in range(0, SYMBOLS, GROUP)]
    return "-".join([PREFIX, *groups])


def is_reference(text: str) -> bool:
    """Whether ``text`` is a reference in canonical form."""
    return bool(_PATTERN.match(text))


def parse_reference(text: str) -> str | None:
    """Canonical form of a reference as typed or read out by a person, or ``None``."""
    compact = re.sub(r"[\s-]", "", text.upper()).translate(_MISREAD)
    if compact.startswith(PREFIX.translate(_MISREAD)):
        compact = compact[len(PREFIX) :]
    if len(compact) != SYMBOLS or any(ch not in ALPHABET for ch in compact):
        return None
    groups = [compact[i : i + GROUP] for i in range(0, SYMBOLS, GROUP)]
    return "-".join([PREFIX, *groups])

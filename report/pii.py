"""A PII scan of every string in a record: phone numbers, emails, SSNs, cards, street addresses.

Reserved forms are allowed, because that is what synthetic data should use: 555-01xx phone
numbers and the example.com/.net/.org domains (RFC 2606). Card numbers count only when they
pass the Luhn check, so order numbers do not raise false alarms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["find_pii", "luhn_valid"]

# NANP numbers: area code and exchange start with 2-9, which keeps epoch seconds and other
# ten-digit ids out.
_PHONE = re.compile(
    r"(?<!\d)(?:\+?1[\s.-]?)?\(?([2-9]\d{2})\)?[\s.-]?([2-9]\d{2})[\s.-]?(\d{4})(?!\d)"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# Area 000, 666 and 9xx, group 00 and serial 0000 are never issued.
_SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?!\d)")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_STREET = re.compile(
    r"\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Terrace|Ter"
    r"|Place|Pl|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Trail|Trl|Square|Sq|Plaza|Loop)\b\.?"
)
_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
# RFC 2606 top-level names that can never reach a real mailbox.
_RESERVED_TLDS = ("test", "example", "invalid", "localhost")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def find_pii(record: Any) -> list[tuple[str, str]]:
    """(kind, matched text) for every PII-looking string in ``record``."""
    found: list[tuple[str, str]] = []
    for raw in _strings(record):
        # UUIDs (call ids, URLs built from them) are long digit runs that are not PII.
        text = _UUID.sub(" ", raw)
        for m in _EMAIL.finditer(text):
            domain = m.group(1).lower()
            reserved = domain.rsplit(".", 1)[-1] in _RESERVED_TLDS or any(
                domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS
            )
            if not reserved:
                found.append(("email", m.group(0)))
        for m in _SSN.finditer(text):
            found.append(("ssn", m.group(0)))
        for m in _PHONE.finditer(text):
            if m.group(2) == "555" and m.group(3).startswith("01"):
                continue
            found.append(("phone", m.group(0)))
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                found.append(("card", m.group(0)))
        for m in _STREET.finditer(text):
            found.append(("street_address", m.group(0)))
    return found

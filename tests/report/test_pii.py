"""The PII scan: each kind found in a crafted record; reserved forms and look-alikes are not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from voicelens.report.pii import find_pii, luhn_valid

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "vcp-0.3-examples"


def _record(text: str) -> dict[str, Any]:
    """A conversation-shaped record with ``text`` deep inside (custom notes, in a list)."""
    return {
        "call_id": "776c59b7-afa9-4652-bfad-2ad2a88e4753",
        "vcp_payload": {"custom": {"notes": ["caller said:", text]}},
    }


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("reach me on (312) 867-5309 after five", "phone"),
        ("cell +1 415-867-2671", "phone"),
        ("my number is 312.867.5309", "phone"),
        ("write to jane.doe@gmail.com please", "email"),
        ("ssn 123-45-6789 for the warranty", "ssn"),
        ("card 4111 1111 1111 1111 exp 12/29", "card"),
        ("card 5500-0000-0000-0004", "card"),
        ("we live at 742 Evergreen Terrace", "street_address"),
        ("send the tech to 1600 Pennsylvania Avenue", "street_address"),
        ("unit at 221 Baker St.", "street_address"),
    ],
)
def test_each_kind_is_found(text: str, kind: str) -> None:
    assert [k for k, _ in find_pii(_record(text))] == [kind]


def test_pii_in_a_key_is_found_too() -> None:
    assert find_pii({"custom": {"jane.doe@gmail.com": True}}) == [("email", "jane.doe@gmail.com")]


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112",  # a card-shaped run failing Luhn is an order number
        "ref 12345678901234",
        "call (312) 555-0142 or 800-555-0199",  # 555-0100..0199 are reserved for fiction
        "ops@example.com, billing@mail.example.org, a@b.test",  # RFC 2606
        "ssn 000-12-3456 and 666-12-3456",  # never issued
        "at 1760125510 seconds",  # epoch seconds: area code 176 is not a NANP area code
        "https://example.com/rec/776c59b7-afa9-4652-bfad-2ad2a88e4753.mp3",
        "2025-10-10T19:42:10.000Z took 180 s for 278.0 USD",
    ],
)
def test_reserved_forms_and_look_alikes_are_not_flagged(text: str) -> None:
    assert find_pii(_record(text)) == []


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("4111111111111112")


def test_the_reference_examples_and_generated_data_are_clean(
    make_dataset: Any,
) -> None:
    examples = [json.loads(p.read_text()) for p in sorted(REFERENCE.glob("*.json"))]
    assert len(examples) == 8
    conversations, _ = make_dataset(300)
    assert [find_pii(c) for c in examples + conversations if find_pii(c)] == []

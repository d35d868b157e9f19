"""Human case references: format, determinism, alphabet."""

from __future__ import annotations

import re
from uuid import UUID, uuid5

from domain_gwt import NS

from supportes.aggregates import case_reference, parse_reference
from supportes.aggregates.reference import ALPHABET, is_reference

FORMAT = re.compile(r"^SR-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
IDS = [uuid5(NS, str(n)) for n in range(2000)]


def test_alphabet_is_crockford_base32() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)


def test_format() -> None:
    for case_id in IDS:
        reference = case_reference(case_id)
        assert FORMAT.match(reference), reference
        assert is_reference(reference)


def test_deterministic_and_known_value() -> None:
    case_id = UUID("4aef421d-34cd-447f-a4fb-89dfd3f61e28")
    assert case_reference(case_id) == case_reference(UUID(str(case_id))) == "SR-BHRB-AE0B-FNTK"


def test_distinct_and_spread_over_the_alphabet() -> None:
    references = {case_reference(i) for i in IDS}
    assert len(references) == len(IDS)
    used = set("".join(r[3:].replace("-", "") for r in references))
    assert used == set(ALPHABET)


def test_parse_reference_accepts_what_people_type() -> None:
    reference = case_reference(IDS[0])
    assert parse_reference(reference) == reference
    assert parse_reference(reference.lower().replace("-", " ")) == reference
    assert parse_reference("sr-bhrb-aeob-fntk") == "SR-BHRB-AE0B-FNTK"  # O read as 0
    assert parse_reference("SR-1111-IIII-LLLL") == "SR-1111-1111-1111"
    assert parse_reference("SR-BHRB-AE0B") is None
    assert parse_reference("SR-BHRB-AE0B-FNT!") is None
    assert parse_reference("SR-BHRB-AE0B-FNTU") is None
    assert not is_reference("SR-BHRB-AE0B-FNTU")

"""The field cipher: sealed fields open only under their key, in their context."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportes.privacy.cipher import (
    FieldContext,
    UnreadableFieldError,
    is_sealed,
    key_fingerprint,
    new_data_key,
    seal,
    unseal,
    unwrap_key,
    wrap_key,
)

KEY = new_data_key()
CONTEXT = FieldContext(
    aggregate_id="0f83449b-59ee-4d04-aae0-4f4e5368d67d",
    command_id="a4a0c1c2-5b0e-4d3b-9a57-1f6f2f0c9b11",
    path="payload.summary",
    subject="cust-42",
)
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)


@given(texts)
def test_a_sealed_field_opens_to_its_plaintext(plaintext: str) -> None:
    sealed = seal(KEY, "k1", plaintext, CONTEXT)
    assert is_sealed(sealed)
    assert unseal(KEY, sealed, CONTEXT) == plaintext


@given(texts.filter(lambda t: len(t) >= 4))
def test_the_plaintext_is_not_in_the_sealed_field(plaintext: str) -> None:
    sealed = seal(KEY, "k1", plaintext, CONTEXT)
    encoded = repr(sealed).encode()
    assert plaintext.encode() not in encoded
    assert base64.b64encode(plaintext.encode()) not in encoded


@pytest.mark.parametrize("field", ["aggregate_id", "command_id", "path", "subject"])
def test_a_ciphertext_moved_to_another_context_does_not_open(field: str) -> None:
    sealed = seal(KEY, "k1", "my card was charged twice", CONTEXT)
    elsewhere = dataclasses.replace(CONTEXT, **{field: getattr(CONTEXT, field) + "x"})
    with pytest.raises(UnreadableFieldError):
        unseal(KEY, sealed, elsewhere)


def test_another_key_or_key_id_or_a_changed_byte_does_not_open() -> None:
    sealed = seal(KEY, "k1", "hello", CONTEXT)
    with pytest.raises(UnreadableFieldError):
        unseal(new_data_key(), sealed, CONTEXT)
    with pytest.raises(UnreadableFieldError):
        unseal(KEY, {**sealed, "kid": "k2"}, CONTEXT)
    ciphertext = bytearray(base64.b64decode(sealed["ct"]))
    ciphertext[0] ^= 1
    with pytest.raises(UnreadableFieldError):
        unseal(KEY, {**sealed, "ct": base64.b64encode(bytes(ciphertext)).decode()}, CONTEXT)
    for broken in ({**sealed, "nonce": "!!"}, {**sealed, "nonce": "AAAA"}, {"ct": "x"}, {}):
        with pytest.raises(UnreadableFieldError):
            unseal(KEY, broken, CONTEXT)


def test_every_different_field_takes_another_nonce() -> None:
    texts = {seal(KEY, "k1", f"text {n}", CONTEXT)["nonce"] for n in range(200)}
    places = {
        seal(KEY, "k1", "same text", dataclasses.replace(CONTEXT, command_id=str(n)))["nonce"]
        for n in range(200)
    }
    assert len(texts) == 200
    assert len(places) == 200


@given(texts)
def test_the_same_field_sealed_again_is_the_same_bytes(plaintext: str) -> None:
    assert seal(KEY, "k1", plaintext, CONTEXT) == seal(KEY, "k1", plaintext, CONTEXT)
    assert seal(KEY, "k1", plaintext, CONTEXT) != seal(new_data_key(), "k1", plaintext, CONTEXT)


def test_wrapped_data_keys_open_only_under_their_kek() -> None:
    kek = new_data_key()
    wrapped = wrap_key(kek, KEY)
    assert KEY not in wrapped
    assert unwrap_key(kek, wrapped) == KEY
    with pytest.raises(UnreadableFieldError):
        unwrap_key(new_data_key(), wrapped)


def test_fingerprints_tell_keys_apart_without_holding_them() -> None:
    other = new_data_key()
    assert key_fingerprint(KEY) == key_fingerprint(KEY)
    assert key_fingerprint(KEY) != key_fingerprint(other)
    assert KEY.hex() not in key_fingerprint(KEY)

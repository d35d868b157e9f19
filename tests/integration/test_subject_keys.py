"""Subject keys in a real PostgreSQL (migration 0010): made once, erased for good, a restored
backup fenced and destroyed again, and each component role limited to what it needs.

One migrated database for the module (no Kafka needed); every test uses its own subjects.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest

from supportes.db.connect import connect
from supportes.db.migrate import apply_migrations
from supportes.privacy.cipher import key_fingerprint, new_data_key
from supportes.privacy.kek import FileKeyWrapper, KeyUnwrapError, create_kek_file
from supportes.privacy.key_cache import CachedKeyStore
from supportes.privacy.keystore import (
    PgKeyStore,
    SubjectErasedError,
    SubjectKey,
)
from supportes.settings import PgComponent, Settings
from tests.conftest import fresh_database
from tests.support.roles import assert_allowed, assert_refused


@dataclass(frozen=True)
class KeyDb:
    """The module's database: the owner's DSN, each role's, and the KEK."""

    dsn: str
    role_dsns: dict[PgComponent, str]
    wrapper: FileKeyWrapper


@pytest.fixture(scope="module")
def key_db(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyDb]:
    path = tmp_path_factory.mktemp("kek") / "kek"
    create_kek_file(path)
    database = f"test_{uuid.uuid4().hex[:12]}"
    with fresh_database(stack, database) as dsn:
        roles: dict[PgComponent, str] = {}
        if stack.pg_is_local:
            roles = {
                c: psycopg2.extensions.make_dsn(stack.dsn_for(c), dbname=database)
                for c in PgComponent
                if c is not PgComponent.OWNER
            }
        yield KeyDb(dsn, roles, FileKeyWrapper(path))


@pytest.fixture
def store(key_db: KeyDb) -> Iterator[PgKeyStore]:
    owner = PgKeyStore(key_db.dsn, key_db.wrapper)
    yield owner
    owner.close()


def _subject() -> str:
    return f"customer:{uuid.uuid4().hex[:10]}"


def _rows(dsn: str, query: str, *params: object) -> list[tuple[object, ...]]:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def _key_rows(dsn: str, subject: str) -> list[tuple[object, ...]]:
    return _rows(
        dsn,
        "SELECT kid::text, subject, wrapped, kek_id, created_at FROM privacy.subject_keys"
        " WHERE subject = %s",
        subject,
    )


def test_a_key_is_made_once_and_stored_wrapped(key_db: KeyDb, store: PgKeyStore) -> None:
    subject = _subject()
    first = store.key_for(subject)
    assert first.subject == subject
    assert len(first.key) == 32
    assert str(uuid.UUID(first.kid)) == first.kid
    assert store.key_for(subject) == first
    other = PgKeyStore(key_db.dsn, FileKeyWrapper(key_db.wrapper.path))
    try:
        assert other.key_for(subject) == first
    finally:
        other.close()
    [(kid, _, wrapped, kek_id, _)] = _key_rows(key_db.dsn, subject)
    assert kid == first.kid
    assert kek_id == key_db.wrapper.kek_id
    assert isinstance(wrapped, memoryview)
    assert first.key not in bytes(wrapped)
    assert first.key.hex() not in repr(first)


def test_concurrent_first_use_makes_one_key(key_db: KeyDb) -> None:
    subject = _subject()
    stores = [PgKeyStore(key_db.dsn, key_db.wrapper) for _ in range(2)]
    barrier = threading.Barrier(8)
    found: list[SubjectKey] = []
    errors: list[BaseException] = []

    def first_use(store: PgKeyStore) -> None:
        try:
            barrier.wait()
            found.append(store.key_for(subject))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(stores[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for one in stores:
        one.close()
    assert not errors
    assert len(found) == 8
    assert len(set(found)) == 1
    assert len(_key_rows(key_db.dsn, subject)) == 1


def test_keys_by_kid_and_erased_answer_many_at_once(store: PgKeyStore) -> None:
    subjects = [_subject() for _ in range(3)]
    keys = [store.key_for(s) for s in subjects]
    asked = [k.kid for k in keys] + [str(uuid.uuid4()), "not-a-uuid", keys[0].kid.upper()]
    assert store.keys_by_kid(asked) == {k.kid: k for k in keys}
    assert store.keys_by_kid([]) == {}
    store.erase(subjects[1], "ticket 1")
    assert store.erased([*subjects, _subject()]) == {subjects[1]}
    assert store.erased([]) == set()
    assert store.keys_by_kid(asked) == {k.kid: k for k in (keys[0], keys[2])}


def test_erasure_destroys_the_key_for_good(key_db: KeyDb, store: PgKeyStore) -> None:
    subject, bystander = _subject(), _subject()
    key = store.key_for(subject)
    kept = store.key_for(bystander)
    status = store.status(subject)
    assert (status.erased_at, status.live_keys, status.fenced_keys) == (None, 1, 0)
    assert not status.complete

    assert store.erase(subject, "GDPR request 42") is True

    with pytest.raises(SubjectErasedError, match="erased") as caught:
        store.key_for(subject)
    assert caught.value.subject == subject
    assert subject not in str(caught.value)
    assert store.keys_by_kid([key.kid, kept.kid]) == {kept.kid: kept}
    status = store.status(subject)
    assert status.erased_at is not None
    assert (status.live_keys, status.fenced_keys, status.complete) == (0, 1, True)
    assert _key_rows(key_db.dsn, subject) == []
    fence = _rows(key_db.dsn, "SELECT * FROM privacy.erased_keys WHERE subject = %s", subject)
    assert [(f, k) for f, k, _, _ in fence] == [(key_fingerprint(key.key), key.kid)]

    before = _rows(key_db.dsn, "SELECT * FROM privacy.erased_subjects WHERE subject = %s", subject)
    assert store.erase(subject, "asked again") is False
    after = _rows(key_db.dsn, "SELECT * FROM privacy.erased_subjects WHERE subject = %s", subject)
    assert after == before
    assert before[0][2] == "GDPR request 42"
    assert store.status(subject) == status

    assert store.key_for(bystander) == kept
    assert not store.status(bystander).complete


def test_keys_remembered_by_one_store_die_with_an_erasure_by_another(key_db: KeyDb) -> None:
    """A reader keeps unwrapped keys in memory, but asks the store which are live every time:
    an erasure by another process (or a key re-made under the same kid) is seen at once."""
    reader, eraser = PgKeyStore(key_db.dsn, key_db.wrapper), PgKeyStore(key_db.dsn, key_db.wrapper)
    try:
        subject, bystander = _subject(), _subject()
        key, kept = reader.key_for(subject), reader.key_for(bystander)
        assert reader.keys_by_kid([key.kid, kept.kid]) == {key.kid: key, kept.kid: kept}
        assert reader.keys_by_kid([key.kid]) == {key.kid: key}  # from memory now

        assert eraser.erase(subject, "ticket 9") is True
        assert reader.keys_by_kid([key.kid, kept.kid]) == {kept.kid: kept}

        other = new_data_key()  # the bystander's row rewritten in place: not the old key
        _rows(
            key_db.dsn,
            "UPDATE privacy.subject_keys SET wrapped = %s WHERE kid = %s",
            key_db.wrapper.wrap(other),
            kept.kid,
        )
        assert reader.keys_by_kid([kept.kid]) == {kept.kid: SubjectKey(kept.kid, bystander, other)}
    finally:
        reader.close()
        eraser.close()


def test_every_statement_that_can_kill_a_key_moves_the_generation(key_db: KeyDb) -> None:
    """Readers keep keys while ``privacy.key_generation`` stands still (migration 0013): each
    kind of statement that can kill a key moves it (even one that touches no row), in its own
    transaction, rolled back here; making a key does not."""
    for statement, moves in [
        *((kill, True) for kill in ERASE),
        (INSERT_KEY, False),
        ("SELECT privacy.erase_subject('customer:no-such', 'r', '[]'::jsonb)", True),
    ]:
        conn = connect(key_db.dsn)
        try:
            with conn.cursor() as cur:
                cur.execute(GENERATION)
                (before,) = cur.fetchone()
                cur.execute(statement)
                cur.execute(GENERATION)
                (after,) = cur.fetchone()
            conn.rollback()
        finally:
            conn.close()
        assert (after != before) is moves, statement


def test_a_restored_key_is_fenced_and_reconciled(key_db: KeyDb, store: PgKeyStore) -> None:
    subject = _subject()
    key = store.key_for(subject)
    [backup] = _key_rows(key_db.dsn, subject)
    store.erase(subject, "ticket 7")
    restore = (
        "INSERT INTO privacy.subject_keys (kid, subject, wrapped, kek_id, created_at)"
        " VALUES (%s, %s, %s, %s, %s)"
    )
    _rows(key_db.dsn, restore, *backup)  # an old backup of subject_keys put back

    assert store.keys_by_kid([key.kid]) == {}
    with pytest.raises(SubjectErasedError):
        store.key_for(subject)
    status = store.status(subject)
    assert (status.live_keys, status.complete) == (1, False)

    assert store.reconcile() == [key.kid]
    assert _key_rows(key_db.dsn, subject) == []
    assert store.status(subject).complete
    assert store.reconcile() == []

    _rows(key_db.dsn, restore, *backup)  # restored again: erasing again destroys it too
    assert store.erase(subject, "ticket 7") is False
    assert store.status(subject).complete


def test_a_destroyed_key_restored_under_another_kid_is_found_by_fingerprint(
    key_db: KeyDb, store: PgKeyStore
) -> None:
    subject, alias = _subject(), _subject()
    key = store.key_for(subject)
    [(_, _, wrapped, kek_id, _)] = _key_rows(key_db.dsn, subject)
    store.erase(subject, "ticket 8")
    relabelled = str(uuid.uuid4())
    _rows(
        key_db.dsn,
        "INSERT INTO privacy.subject_keys (kid, subject, wrapped, kek_id) VALUES (%s, %s, %s, %s)",
        relabelled,
        alias,
        wrapped,
        kek_id,
    )
    bystander = store.key_for(_subject())
    assert store.reconcile() == [relabelled]
    assert _key_rows(key_db.dsn, alias) == []
    assert store.keys_by_kid([bystander.kid]) == {bystander.kid: bystander}
    assert key.kid not in store.keys_by_kid([key.kid, relabelled])


@pytest.mark.parametrize(
    ("reason", "message"),
    [("", "reason must not be empty"), ("   ", "reason must not be empty"), ("x" * 501, "500")],
)
def test_erase_needs_a_short_reason(store: PgKeyStore, reason: str, message: str) -> None:
    subject = _subject()
    with pytest.raises(ValueError, match=message):
        store.erase(subject, reason)
    assert store.status(subject).erased_at is None
    assert store.erase(subject, "x" * 500) is True


@pytest.mark.parametrize("subject", ["", "  ", "c" * 201])
def test_a_bad_subject_is_refused(store: PgKeyStore, subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        store.key_for(subject)


def test_another_kek_is_named_not_guessed(key_db: KeyDb, store: PgKeyStore, tmp_path: Path) -> None:
    subject = _subject()
    key = store.key_for(subject)
    path = tmp_path / "other-kek"
    create_kek_file(path)
    stranger = PgKeyStore(key_db.dsn, FileKeyWrapper(path))
    try:
        with pytest.raises(KeyUnwrapError) as caught:
            stranger.key_for(subject)
        with pytest.raises(KeyUnwrapError):
            stranger.keys_by_kid([key.kid])
    finally:
        stranger.close()
    message = str(caught.value)
    assert "SUPPORTES_KEK_FILE" in message
    assert key.kid in message
    assert key_db.wrapper.kek_id in message
    assert key.key.hex() not in message


def test_the_cache_remembers_until_forgotten(key_db: KeyDb, store: PgKeyStore) -> None:
    now = [0.0]
    calls: list[str] = []

    class Counting(PgKeyStore):
        def key_for(self, subject: str) -> SubjectKey:
            calls.append("key_for")
            return super().key_for(subject)

        def keys_by_kid(self, kids: Iterable[str]) -> dict[str, SubjectKey]:
            calls.append("keys_by_kid")
            return super().keys_by_kid(kids)

    inner = Counting(key_db.dsn, key_db.wrapper)
    cached = CachedKeyStore(inner, ttl_s=1.0, clock=lambda: now[0])
    try:
        subject = _subject()
        key = cached.key_for(subject)
        assert cached.key_for(subject) == key
        assert calls == ["key_for"]
        now[0] = 1.5
        assert cached.key_for(subject) == key
        assert calls == ["key_for", "key_for"]
        assert cached.keys_by_kid([key.kid]) == {key.kid: key}  # always asks the store
        assert calls == ["key_for", "key_for", "keys_by_kid"]

        store.erase(subject, "ticket 9")  # elsewhere: this cache has not heard of it
        assert cached.keys_by_kid([key.kid]) == {}  # the read side never uses it again
        assert cached.key_for(subject) == key  # the front door: within its ttl
        cached.forget(subject)
        with pytest.raises(SubjectErasedError):
            cached.key_for(subject)
    finally:
        inner.close()


def test_the_cache_is_bounded(key_db: KeyDb, store: PgKeyStore) -> None:
    cached = CachedKeyStore(store, max_entries=2)
    keys = [cached.key_for(_subject()) for _ in range(3)]
    assert cached.keys_by_kid([k.kid for k in keys]) == {k.kid: k for k in keys}
    assert len(cached._by_subject) == 2


# Grants (local cluster only: its component roles are made by `stack up`).


def _dsn(key_db: KeyDb, component: PgComponent) -> str:
    if component not in key_db.role_dsns:
        pytest.skip("the component roles are made by `stack up` on the local cluster")
    return key_db.role_dsns[component]


def _refused(key_db: KeyDb, component: PgComponent, statement: str) -> None:
    assert_refused(_dsn(key_db, component), component, statement)


def _allowed(key_db: KeyDb, component: PgComponent, statement: str) -> None:
    assert_allowed(_dsn(key_db, component), component, statement)


TABLES = [
    "privacy.subject_keys",
    "privacy.erased_subjects",
    "privacy.erased_keys",
    "privacy.key_generation",
]
GENERATION = "SELECT generation FROM privacy.key_generation"
INSERT_KEY = (
    "INSERT INTO privacy.subject_keys (kid, subject, wrapped, kek_id)"
    " VALUES (gen_random_uuid(), 'customer:grant-test', '\\x00', 'kek')"
)
ERASE = [
    "DELETE FROM privacy.subject_keys WHERE false",
    "UPDATE privacy.subject_keys SET kek_id = kek_id WHERE false",
    "TRUNCATE privacy.subject_keys",
    "INSERT INTO privacy.erased_subjects (subject, reason) VALUES ('c', 'r')",
    "INSERT INTO privacy.erased_keys (fingerprint, kid, subject)"
    " VALUES (repeat('0', 64), gen_random_uuid(), 'c')",
    "DELETE FROM privacy.erased_subjects WHERE false",
    "DELETE FROM privacy.erased_keys WHERE false",
    "UPDATE privacy.erased_subjects SET reason = reason WHERE false",
    "TRUNCATE privacy.erased_keys",
]
FORGE_GENERATION = "UPDATE privacy.key_generation SET generation = 0"


ERASE_SIGNATURE = "privacy.erase_subject(text, text, jsonb)"
ERASE_FUNCTION = "SELECT privacy.erase_subject('customer:grant-test', 'r', '[]'::jsonb)"


def test_the_api_reads_makes_and_erases_through_the_function_only(key_db: KeyDb) -> None:
    if PgComponent.API not in key_db.role_dsns:
        pytest.skip("the component roles are made by `stack up` on the local cluster")
    for table in TABLES:
        _allowed(key_db, PgComponent.API, f"SELECT count(*) FROM {table}")
    _allowed(key_db, PgComponent.API, INSERT_KEY)
    for statement in [*ERASE, FORGE_GENERATION]:
        _refused(key_db, PgComponent.API, statement)
    api = PgKeyStore(key_db.role_dsns[PgComponent.API], key_db.wrapper)
    try:
        subject = _subject()
        key = api.key_for(subject)
        assert api.keys_by_kid([key.kid]) == {key.kid: key}
        assert api.erased([subject]) == set()
        assert api.erase(subject, "ticket 10") is True
        assert api.keys_by_kid([key.kid]) == {}
        fence = _rows(
            key_db.dsn, "SELECT kid::text FROM privacy.erased_keys WHERE subject = %s", subject
        )
        assert fence == [(key.kid,)]
        assert api.erase(subject, "ticket 10") is False
    finally:
        api.close()


def test_the_erase_function_never_deletes_a_key_without_its_fence(key_db: KeyDb) -> None:
    subject = _subject()
    owner = PgKeyStore(key_db.dsn, key_db.wrapper)
    try:
        key = owner.key_for(subject)
    finally:
        owner.close()
    for fences in (
        "[]",
        f'[{{"kid": "{uuid.uuid4()}", "fingerprint": "{"0" * 64}"}}]',
        f'[{{"kid": "{key.kid}", "fingerprint": "not hex"}}]',
    ):
        with pytest.raises(psycopg2.errors.SerializationFailure, match="fingerprint"):
            _rows(key_db.dsn, "SELECT privacy.erase_subject(%s, 'r', %s::jsonb)", subject, fences)
    assert len(_key_rows(key_db.dsn, subject)) == 1
    for bad, field in (("''", "subject"), ("repeat('c', 201)", "subject")):
        with pytest.raises(psycopg2.errors.InvalidParameterValue, match=field):
            _rows(key_db.dsn, f"SELECT privacy.erase_subject({bad}, 'r', '[]'::jsonb)")
    with pytest.raises(psycopg2.errors.InvalidParameterValue, match="reason"):
        _rows(key_db.dsn, "SELECT privacy.erase_subject(%s, '  ', '[]'::jsonb)", subject)
    with pytest.raises(psycopg2.errors.InvalidParameterValue, match="fences"):
        _rows(key_db.dsn, "SELECT privacy.erase_subject(%s, 'r', '{}'::jsonb)", subject)
    assert len(_key_rows(key_db.dsn, subject)) == 1


def test_the_projector_only_reads(key_db: KeyDb) -> None:
    for table in TABLES:
        _allowed(key_db, PgComponent.PROJECTOR, f"SELECT count(*) FROM {table}")
    _refused(key_db, PgComponent.PROJECTOR, INSERT_KEY)
    for statement in [*ERASE, ERASE_FUNCTION, FORGE_GENERATION]:
        _refused(key_db, PgComponent.PROJECTOR, statement)


def test_the_writer_reads_erased_subjects_only(key_db: KeyDb) -> None:
    _allowed(key_db, PgComponent.WRITER, "SELECT count(*) FROM privacy.erased_subjects")
    _refused(key_db, PgComponent.PROJECTOR, ERASE_FUNCTION)
    probe = f"SELECT has_function_privilege('supportes_api', '{ERASE_SIGNATURE}', 'EXECUTE')"
    assert _rows(key_db.dsn, probe) == [(True,)]
    _refused(key_db, PgComponent.WRITER, "SELECT count(*) FROM privacy.subject_keys")
    _refused(key_db, PgComponent.WRITER, "SELECT count(*) FROM privacy.erased_keys")
    _refused(key_db, PgComponent.WRITER, GENERATION)
    _refused(key_db, PgComponent.WRITER, INSERT_KEY)
    for statement in [*ERASE, ERASE_FUNCTION]:
        _refused(key_db, PgComponent.WRITER, statement)


def test_analytics_sees_nothing_of_privacy(key_db: KeyDb) -> None:
    for table in TABLES:
        _refused(key_db, PgComponent.ANALYTICS, f"SELECT count(*) FROM {table}")
    _refused(key_db, PgComponent.ANALYTICS, INSERT_KEY)
    _refused(key_db, PgComponent.ANALYTICS, ERASE_FUNCTION)
    _refused(key_db, PgComponent.ANALYTICS, "SELECT public.supportes_apply_privacy_grants()")
    _refused(
        key_db, PgComponent.ANALYTICS, "SELECT public.supportes_apply_privacy_function_grants()"
    )


def test_migrating_again_restores_exactly_the_grants(key_db: KeyDb) -> None:
    if PgComponent.API not in key_db.role_dsns:
        pytest.skip("the component roles are made by `stack up` on the local cluster")
    _rows(key_db.dsn, "GRANT DELETE ON privacy.subject_keys TO supportes_api")
    _rows(key_db.dsn, "GRANT SELECT ON privacy.subject_keys TO supportes_analytics")
    _rows(key_db.dsn, "REVOKE SELECT ON privacy.erased_subjects FROM supportes_writer")
    _rows(key_db.dsn, f"GRANT EXECUTE ON FUNCTION {ERASE_SIGNATURE} TO supportes_projector")
    _rows(key_db.dsn, f"REVOKE EXECUTE ON FUNCTION {ERASE_SIGNATURE} FROM supportes_api")
    _allowed(key_db, PgComponent.API, "DELETE FROM privacy.subject_keys WHERE false")
    conn = connect(key_db.dsn)
    try:
        assert apply_migrations(conn) == []
    finally:
        conn.close()
    _refused(key_db, PgComponent.API, "DELETE FROM privacy.subject_keys WHERE false")
    _refused(key_db, PgComponent.ANALYTICS, "SELECT count(*) FROM privacy.subject_keys")
    _allowed(key_db, PgComponent.WRITER, "SELECT count(*) FROM privacy.erased_subjects")
    _refused(key_db, PgComponent.PROJECTOR, ERASE_FUNCTION)
    probe = f"SELECT has_function_privilege('supportes_api', '{ERASE_SIGNATURE}', 'EXECUTE')"
    assert _rows(key_db.dsn, probe) == [(True,)]

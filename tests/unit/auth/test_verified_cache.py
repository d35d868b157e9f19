"""The verified-token cache's rules without I/O: a fake clock, the listener's state set by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from supportes.auth.principal import Principal, Role
from supportes.auth.verified_cache import MAX_ENTRIES, VerifiedTokenCache

AGENT = Principal("agent:maria", frozenset({Role.AGENT}))
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class Clocks:
    def __init__(self) -> None:
        self.monotonic = 100.0
        self.utc = T0

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.utc += timedelta(seconds=seconds)


def _cache(ttl_s: float = 30.0, *, listening: bool = True) -> tuple[VerifiedTokenCache, Clocks]:
    clocks = Clocks()
    cache = VerifiedTokenCache(ttl_s, clock=lambda: clocks.monotonic, now=lambda: clocks.utc)
    cache._set_listening(listening)  # what the listener thread does once LISTEN succeeded
    return cache, clocks


def test_an_api_token_is_remembered_for_the_ttl_only() -> None:
    cache, clocks = _cache(ttl_s=30)
    assert cache.put_api_token("spt_a", "a" * 16, AGENT, None, cache.epoch())
    assert cache.get("spt_a") == AGENT
    assert cache.get("spt_a_other") is None  # only the very same bearer string
    clocks.advance(29.9)
    assert cache.get("spt_a") == AGENT
    clocks.advance(0.1)
    assert cache.get("spt_a") is None


def test_never_past_the_tokens_expiry() -> None:
    cache, clocks = _cache(ttl_s=30)
    cache.put_api_token("spt_a", "a" * 16, AGENT, T0 + timedelta(seconds=5), cache.epoch())
    clocks.advance(4.9)
    assert cache.get("spt_a") == AGENT
    clocks.advance(0.1)
    assert cache.get("spt_a") is None


def test_api_tokens_are_not_remembered_without_the_listener() -> None:
    cache, _ = _cache(listening=False)
    assert not cache.put_api_token("spt_a", "a" * 16, AGENT, None, cache.epoch())
    assert cache.get("spt_a") is None


def test_losing_the_listener_forgets_every_api_token() -> None:
    cache, _ = _cache()
    cache.put_api_token("spt_a", "a" * 16, AGENT, None, cache.epoch())
    cache._set_listening(False)
    assert cache.get("spt_a") is None
    cache._set_listening(True)
    assert cache.get("spt_a") is None  # forgotten, not just hidden


def test_a_notification_forgets_that_token_only() -> None:
    cache, _ = _cache()
    cache.put_api_token("spt_a", "a" * 16, AGENT, None, cache.epoch())
    cache.put_api_token("spt_b", "b" * 16, AGENT, None, cache.epoch())
    cache.forget("a" * 16)
    assert cache.get("spt_a") is None
    assert cache.get("spt_b") == AGENT


def test_a_verification_that_raced_a_notification_is_not_remembered() -> None:
    cache, _ = _cache()
    before = cache.epoch()  # the lookup starts, reads the row (not yet revoked) ...
    cache.forget("a" * 16)  # ... the revocation's notification arrives meanwhile
    assert not cache.put_api_token("spt_a", "a" * 16, AGENT, None, before)
    assert cache.get("spt_a") is None


def test_oidc_tokens_are_remembered_until_exp_without_a_listener() -> None:
    cache, clocks = _cache(listening=False)
    cache.put_oidc("eyJ.a.b", AGENT, T0 + timedelta(seconds=10))
    assert cache.get("eyJ.a.b") == AGENT
    clocks.advance(10)
    assert cache.get("eyJ.a.b") is None


def test_ttl_zero_remembers_nothing() -> None:
    cache, _ = _cache(ttl_s=0)
    assert not cache.put_api_token("spt_a", "a" * 16, AGENT, None, cache.epoch())
    cache.put_oidc("eyJ.a.b", AGENT, T0 + timedelta(hours=1))
    assert cache.get("spt_a") is None
    assert cache.get("eyJ.a.b") is None


def test_memory_is_bounded() -> None:
    cache, _ = _cache()
    for i in range(MAX_ENTRIES + 5):
        cache.put_oidc(f"eyJ.{i}", AGENT, T0 + timedelta(hours=1))
    assert len(cache._entries) <= MAX_ENTRIES


@given(
    st.lists(
        st.tuples(st.sampled_from(["verify", "notify", "lose", "regain"]), st.integers(0, 3)),
        max_size=40,
    )
)
def test_a_token_changed_after_its_last_verification_is_never_answered(
    steps: list[tuple[str, int]],
) -> None:
    """Whatever the interleaving of verifications, notifications and listener losses, a hit is
    only ever a token verified after its last change."""
    cache, _ = _cache()
    changed_since_verified = dict.fromkeys(range(4), False)
    for action, n in steps:
        token, token_id = f"spt_{n}", f"{n:016x}"
        if action == "verify":
            epoch = cache.epoch()
            if cache.put_api_token(token, token_id, AGENT, None, epoch):
                changed_since_verified[n] = False
        elif action == "notify":
            cache.forget(token_id)
            changed_since_verified[n] = True
        elif action == "lose":
            cache._set_listening(False)
        else:
            cache._set_listening(True)
        for m in range(4):
            if cache.get(f"spt_{m}") is not None:
                assert not changed_since_verified[m]

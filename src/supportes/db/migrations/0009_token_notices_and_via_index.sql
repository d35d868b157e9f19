-- Issue 15, speed of the API:
-- 1. Every change to an API token row (revocation, a hand edit, a delete) is announced on the
--    channel `supportes_api_tokens` with the token id, so an API process that remembers
--    verified tokens forgets that one at once (supportes.auth.token_cache).
-- 2. The cases an integration acted on are found by `via_id` (list filter and visibility of
--    the `acted_on` read scope) without a scan of the whole timeline. Shadow copies made by
--    `projections rebuild` take the index along (LIKE ... INCLUDING ALL).

CREATE OR REPLACE FUNCTION auth.announce_api_token_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('supportes_api_tokens', OLD.token_id);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION auth.announce_api_token_change() IS
    'NOTIFY supportes_api_tokens with the token id of a changed or deleted API token row.';

DROP TRIGGER IF EXISTS api_token_changed ON auth.api_tokens;
CREATE TRIGGER api_token_changed
    AFTER UPDATE OF roles, customer_id, principal_id, secret_sha256, expires_at, revoked_at
          OR DELETE ON auth.api_tokens
    FOR EACH ROW EXECUTE FUNCTION auth.announce_api_token_change();

CREATE INDEX IF NOT EXISTS case_timeline_via_idx
    ON proj.case_timeline (via_id, case_id) WHERE via_id IS NOT NULL;

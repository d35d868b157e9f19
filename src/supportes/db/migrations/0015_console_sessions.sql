-- Console sessions (issue 19): a signed-in ops engineer's or auditor's browser session. The
-- cookie holds a 256-bit random secret; only its SHA-256 is kept here. A session made with an
-- API token ends when that token is revoked (the console joins auth.api_tokens on every page).
-- In schema auth, so the API role's grants of migration 0008 (and its default privileges)
-- cover it: SELECT, INSERT, UPDATE, DELETE for supportes_api, nothing for anyone else.
CREATE TABLE IF NOT EXISTS auth.console_sessions (
    session_sha256 bytea       PRIMARY KEY CHECK (length(session_sha256) = 32),
    principal_id   text        NOT NULL CHECK (length(principal_id) BETWEEN 1 AND 200),
    roles          text[]      NOT NULL,
    source         text        NOT NULL CHECK (source IN ('api_token', 'oidc')),
    token_id       text        CHECK (token_id IS NULL OR token_id ~ '^[0-9a-f]{16}$'),
    csrf_token     text        NOT NULL CHECK (length(csrf_token) BETWEEN 32 AND 100),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX IF NOT EXISTS console_sessions_expires_at ON auth.console_sessions (expires_at);
COMMENT ON TABLE auth.console_sessions IS
    'Web console sessions: who a session cookie signs in as, until when. Never holds a secret.';
COMMENT ON COLUMN auth.console_sessions.session_sha256 IS
    'SHA-256 of the session cookie''s secret (256 random bits: a fast hash suffices).';
COMMENT ON COLUMN auth.console_sessions.principal_id IS 'The signed-in principal (agent:maria).';
COMMENT ON COLUMN auth.console_sessions.roles IS 'Its roles when it signed in.';
COMMENT ON COLUMN auth.console_sessions.source IS 'api_token or oidc: what it signed in with.';
COMMENT ON COLUMN auth.console_sessions.token_id IS
    'The API token it signed in with (its public id); NULL for OIDC.';
COMMENT ON COLUMN auth.console_sessions.csrf_token IS
    'The token every form and console POST of this session must carry (synchronizer token).';
COMMENT ON COLUMN auth.console_sessions.created_at IS 'When the session was made (the sign-in).';
COMMENT ON COLUMN auth.console_sessions.expires_at IS
    'End of the session: the sign-in plus SUPPORTES_CONSOLE_SESSION_TTL_S, never after the '
    'credential''s own expiry.';
SELECT public.supportes_apply_grants();

-- API tokens (design section 8, issue 15): bearer secrets for integrations and local use,
-- created with `supportes tokens create`. Only a SHA-256 of each secret is kept.
CREATE SCHEMA IF NOT EXISTS auth;
COMMENT ON SCHEMA auth IS 'Credentials the HTTP API accepts (API tokens).';

CREATE TABLE IF NOT EXISTS auth.api_tokens (
    token_id      text        PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{16}$'),
    principal_id  text        NOT NULL CHECK (length(principal_id) BETWEEN 1 AND 200),
    roles         text[]      NOT NULL,
    customer_id   text        CHECK (customer_id IS NULL OR customer_id LIKE 'customer:_%'),
    secret_sha256 bytea       NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
COMMENT ON TABLE auth.api_tokens IS
    'API tokens: who a bearer secret authenticates as. The secret itself is never stored.';
COMMENT ON COLUMN auth.api_tokens.token_id IS
    'Public id of the token (16 hex digits); the secret is spt_<token_id>_<random>.';
COMMENT ON COLUMN auth.api_tokens.principal_id IS
    'The principal the token authenticates (agent:maria, integration:mail, customer:00042).';
COMMENT ON COLUMN auth.api_tokens.roles IS 'Roles of design section 8 the principal holds.';
COMMENT ON COLUMN auth.api_tokens.customer_id IS
    'For a customer principal: the customer it is (its actor id); NULL otherwise.';
COMMENT ON COLUMN auth.api_tokens.secret_sha256 IS
    'SHA-256 of the whole secret (a 256-bit random secret needs no slow hash).';
COMMENT ON COLUMN auth.api_tokens.created_at IS 'When the token was created.';
COMMENT ON COLUMN auth.api_tokens.expires_at IS 'When the token stops working; NULL: never.';
COMMENT ON COLUMN auth.api_tokens.revoked_at IS
    'When the token was revoked (supportes tokens revoke); NULL: not revoked.';
COMMENT ON COLUMN auth.api_tokens.last_used_at IS
    'Last successful authentication (updated at most once a minute); NULL: never used.';

-- Crypto-shredding (design section 9, issue 16): one data key per data subject (the case's
-- customer), stored wrapped by the key-encryption key (KEK); erasing a subject destroys its key
-- and keeps only a fingerprint of it, so a key restored from an old backup is recognised.
--
-- Grants (least privilege, table by table): public.supportes_apply_privacy_grants() below,
-- run here and by apply_migrations after every run (like supportes_apply_grants of 0008), so
-- roles created later get them. It first revokes everything the component roles hold in this
-- schema, then grants exactly:
--   supportes_api        subject_keys: SELECT, INSERT (creates a subject's key on first use);
--                        case_subjects: SELECT, INSERT (binds an opened case to its customer);
--                        erased_subjects, erased_keys: SELECT
--   supportes_projector  all four: SELECT (decrypts; never creates nor destroys keys)
--   supportes_writer     erased_subjects: SELECT (rejects personal data of erased subjects)
--   supportes_analytics  nothing
-- Erasure (DELETE on subject_keys, INSERT into erased_*) is the owner's alone (admin CLI).
-- A table added to this schema later gets no grant until a migration re-creates the function.
CREATE SCHEMA IF NOT EXISTS privacy;
COMMENT ON SCHEMA privacy IS
    'Crypto-shredding: wrapped per-subject data keys and the record of erased subjects.';

CREATE TABLE IF NOT EXISTS privacy.subject_keys (
    kid         uuid        PRIMARY KEY,
    subject     text        NOT NULL UNIQUE CHECK (length(subject) BETWEEN 1 AND 200),
    wrapped     bytea       NOT NULL CHECK (length(wrapped) > 0),
    kek_id      text        NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE privacy.subject_keys IS
    'The live data key of each data subject (one per subject), wrapped by the KEK. Deleting a '
    'row is the erasure: what was sealed under the key can no longer be read.';
COMMENT ON COLUMN privacy.subject_keys.kid IS
    'Key id, named by every sealed field ({"$enc": "v1", "kid": ...}).';
COMMENT ON COLUMN privacy.subject_keys.subject IS 'The data subject: the case''s customer id.';
COMMENT ON COLUMN privacy.subject_keys.wrapped IS
    'The AES-256 data key wrapped by the KEK (RFC 3394 for a KEK file). Never the plain key.';
COMMENT ON COLUMN privacy.subject_keys.kek_id IS
    'Which KEK wrapped it: a fingerprint of the KEK (not the KEK), or a KMS key name.';
COMMENT ON COLUMN privacy.subject_keys.created_at IS 'When the key was made (first use).';

CREATE TABLE IF NOT EXISTS privacy.erased_subjects (
    subject     text        PRIMARY KEY CHECK (length(subject) BETWEEN 1 AND 200),
    erased_at   timestamptz NOT NULL DEFAULT now(),
    reason      text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 500)
);
COMMENT ON TABLE privacy.erased_subjects IS
    'Data subjects erased (GDPR Art. 17): no key is made for them again, and commands with '
    'personal data for them are rejected.';
COMMENT ON COLUMN privacy.erased_subjects.subject IS 'The erased customer id.';
COMMENT ON COLUMN privacy.erased_subjects.erased_at IS 'When the subject was first erased.';
COMMENT ON COLUMN privacy.erased_subjects.reason IS
    'Why (e.g. a ticket reference); must hold no personal data.';

CREATE TABLE IF NOT EXISTS privacy.erased_keys (
    fingerprint text        PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    kid         uuid        NOT NULL UNIQUE,
    subject     text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    erased_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE privacy.erased_keys IS
    'The fence: one row per destroyed data key, so a subject_keys row restored from an old '
    'backup is recognised (by kid or by fingerprint), never used, and destroyed again.';
COMMENT ON COLUMN privacy.erased_keys.fingerprint IS
    'One-way SHA-256 fingerprint of the unwrapped data key (cipher.key_fingerprint), not the key.';
COMMENT ON COLUMN privacy.erased_keys.kid IS 'Id of the destroyed key.';
COMMENT ON COLUMN privacy.erased_keys.subject IS 'Whose key it was.';
COMMENT ON COLUMN privacy.erased_keys.erased_at IS 'When the key was destroyed.';

CREATE TABLE IF NOT EXISTS privacy.case_subjects (
    case_id     uuid        PRIMARY KEY,
    subject     text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    bound_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS case_subjects_subject ON privacy.case_subjects (subject);
COMMENT ON TABLE privacy.case_subjects IS
    'The data subject (customer) of each case, bound by the front door that seals its OpenCase '
    'before sending it, so the case''s next command finds whose key to seal with at once (the '
    'event index is written after the writer''s commit). Cases from before encryption have no '
    'row (their CaseOpened in the event index names the customer).';
COMMENT ON COLUMN privacy.case_subjects.case_id IS 'The case (aggregate id).';
COMMENT ON COLUMN privacy.case_subjects.subject IS 'Its customer id: whose key seals its text.';
COMMENT ON COLUMN privacy.case_subjects.bound_at IS 'When the binding was made.';

CREATE OR REPLACE FUNCTION public.supportes_apply_privacy_grants() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    grant_row record;
    role_name text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'privacy') THEN
        RETURN;
    END IF;
    FOREACH role_name IN ARRAY ARRAY['supportes_writer', 'supportes_projector', 'supportes_api',
                                     'supportes_analytics'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM %I', role_name);
            EXECUTE format('REVOKE ALL ON SCHEMA privacy FROM %I', role_name);
        END IF;
    END LOOP;
    FOR grant_row IN
        SELECT * FROM (VALUES
            ('supportes_api',       'privacy.subject_keys',    'SELECT, INSERT'),
            ('supportes_api',       'privacy.erased_subjects', 'SELECT'),
            ('supportes_api',       'privacy.erased_keys',     'SELECT'),
            ('supportes_api',       'privacy.case_subjects',   'SELECT, INSERT'),
            ('supportes_projector', 'privacy.subject_keys',    'SELECT'),
            ('supportes_projector', 'privacy.erased_subjects', 'SELECT'),
            ('supportes_projector', 'privacy.erased_keys',     'SELECT'),
            ('supportes_projector', 'privacy.case_subjects',   'SELECT'),
            ('supportes_writer',    'privacy.erased_subjects', 'SELECT')
        ) AS g (role_name, table_name, privileges)
        WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = g.role_name)
          AND to_regclass(g.table_name) IS NOT NULL
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA privacy TO %I', grant_row.role_name);
        EXECUTE format('GRANT %s ON TABLE %s TO %I', grant_row.privileges, grant_row.table_name,
                       grant_row.role_name);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION public.supportes_apply_privacy_grants() FROM PUBLIC;
COMMENT ON FUNCTION public.supportes_apply_privacy_grants() IS
    'Grants the component roles exactly their privileges in schema privacy (idempotent; run '
    'after migrations).';
SELECT public.supportes_apply_privacy_grants();

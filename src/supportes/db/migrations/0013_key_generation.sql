-- A generation number for the liveness of subject keys, so a reader that keeps unwrapped keys in
-- memory asks one cheap question per batch ("did any key die since?") instead of asking for the
-- liveness of every key the batch names.
--
-- privacy.key_generation holds one row. A statement-level trigger bumps it whenever a key can
-- have died: a row of privacy.subject_keys deleted, updated or truncated, or a row of
-- privacy.erased_subjects / privacy.erased_keys (the fences) inserted, updated, deleted or
-- truncated. Inserting a key does not bump it (a new key kills none, and readers ask for keys
-- they do not know). It bumps in the transaction that changes the keys, so a reader that sees
-- the old number reads keys as they were before that transaction committed, exactly as the
-- per-batch liveness query did. Readers compare for inequality (a database restored from a
-- backup may go back to an older number; any change drops every key kept).
--
-- SELECT: supportes_api and supportes_projector (the key readers), through
-- public.supportes_apply_privacy_grants(), redefined here with that one row more.

CREATE TABLE IF NOT EXISTS privacy.key_generation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL DEFAULT 0
);
INSERT INTO privacy.key_generation (singleton, generation) VALUES (true, 0)
ON CONFLICT (singleton) DO NOTHING;
COMMENT ON TABLE privacy.key_generation IS
    'One row: bumped in every transaction that may kill a subject key (a key deleted or '
    'changed, a fence or an erased subject written). Readers that keep unwrapped keys drop them '
    'all when it changes.';
COMMENT ON COLUMN privacy.key_generation.generation IS
    'Changes (grows) with every statement that may kill a key; compare for inequality.';

CREATE OR REPLACE FUNCTION privacy.bump_key_generation() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE privacy.key_generation SET generation = generation + 1 WHERE singleton;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION privacy.bump_key_generation() FROM PUBLIC;
COMMENT ON FUNCTION privacy.bump_key_generation() IS
    'Trigger: bumps privacy.key_generation (a subject key may have died).';

DROP TRIGGER IF EXISTS key_generation_on_keys ON privacy.subject_keys;
CREATE TRIGGER key_generation_on_keys
    AFTER UPDATE OR DELETE ON privacy.subject_keys
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.bump_key_generation();
DROP TRIGGER IF EXISTS key_generation_on_keys_truncated ON privacy.subject_keys;
CREATE TRIGGER key_generation_on_keys_truncated
    AFTER TRUNCATE ON privacy.subject_keys
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.bump_key_generation();
DROP TRIGGER IF EXISTS key_generation_on_erased_subjects ON privacy.erased_subjects;
CREATE TRIGGER key_generation_on_erased_subjects
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.erased_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.bump_key_generation();
DROP TRIGGER IF EXISTS key_generation_on_erased_keys ON privacy.erased_keys;
CREATE TRIGGER key_generation_on_erased_keys
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.erased_keys
    FOR EACH STATEMENT EXECUTE FUNCTION privacy.bump_key_generation();

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
            ('supportes_api',       'privacy.key_generation',  'SELECT'),
            ('supportes_projector', 'privacy.subject_keys',    'SELECT'),
            ('supportes_projector', 'privacy.erased_subjects', 'SELECT'),
            ('supportes_projector', 'privacy.erased_keys',     'SELECT'),
            ('supportes_projector', 'privacy.case_subjects',   'SELECT'),
            ('supportes_projector', 'privacy.key_generation',  'SELECT'),
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
SELECT public.supportes_apply_privacy_grants();

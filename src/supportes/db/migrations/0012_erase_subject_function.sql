-- Erasure through one function, so the API may erase (admin only, checked by the API's policy)
-- without the API's role being able to delete keys or write the fence by itself.
--
-- privacy.erase_subject(subject, reason, fences) runs with its owner's rights (SECURITY DEFINER,
-- search_path pinned) and does in the caller's transaction what PgKeyStore.erase did with the
-- owner's: record the subject as erased, fence every key of the subject (kid + fingerprint:
-- the fingerprint is a hash of the unwrapped key, which only the caller, holding the KEK, can
-- compute), and delete the keys. It refuses (SQLSTATE 40001, "try again") when a key of the
-- subject has no fence in `fences`: no key is ever deleted without its fingerprint kept.
-- Callers take the subject's advisory lock first (as key creation does), so the keys they read
-- are the keys the function finds.
--
-- EXECUTE: the owner and supportes_api only (public.supportes_apply_privacy_function_grants(),
-- run after every migration like the other grant functions). The projector, the writer and
-- analytics cannot erase. Reconciling (destroying restored keys) stays the owner's.

CREATE OR REPLACE FUNCTION privacy.erase_subject(p_subject text, p_reason text, p_fences jsonb)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    erased_now boolean := false;
    unfenced integer;
BEGIN
    IF p_subject IS NULL OR length(p_subject) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'subject: must be 1 to 200 characters' USING ERRCODE = '22023';
    END IF;
    IF p_reason IS NULL OR length(btrim(p_reason)) NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'reason: must be 1 to 500 characters' USING ERRCODE = '22023';
    END IF;
    IF p_fences IS NULL OR jsonb_typeof(p_fences) <> 'array' THEN
        RAISE EXCEPTION 'fences: must be a JSON array of {kid, fingerprint}' USING ERRCODE = '22023';
    END IF;
    INSERT INTO privacy.erased_subjects (subject, reason) VALUES (p_subject, btrim(p_reason))
    ON CONFLICT (subject) DO NOTHING
    RETURNING true INTO erased_now;
    SELECT count(*) INTO unfenced
    FROM privacy.subject_keys AS k
    WHERE k.subject = p_subject
      AND NOT EXISTS (
          SELECT 1 FROM jsonb_to_recordset(p_fences) AS f (kid uuid, fingerprint text)
          WHERE f.kid = k.kid AND f.fingerprint ~ '^[0-9a-f]{64}$');
    IF unfenced > 0 THEN
        RAISE EXCEPTION 'a key of the subject came without its fingerprint; read the keys again'
            USING ERRCODE = '40001';
    END IF;
    INSERT INTO privacy.erased_keys (fingerprint, kid, subject)
    SELECT f.fingerprint, f.kid, p_subject
    FROM jsonb_to_recordset(p_fences) AS f (kid uuid, fingerprint text)
    JOIN privacy.subject_keys AS k ON k.kid = f.kid AND k.subject = p_subject
    ON CONFLICT DO NOTHING;
    DELETE FROM privacy.subject_keys WHERE subject = p_subject;
    RETURN coalesce(erased_now, false);
END
$$;
REVOKE ALL ON FUNCTION privacy.erase_subject(text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION privacy.erase_subject(text, text, jsonb) IS
    'Erase a data subject: record it, fence (kid, fingerprint) and delete each of its keys; true '
    'when this call erased it. fences: [{"kid": uuid, "fingerprint": 64 hex}] covering every key '
    'of the subject (else SQLSTATE 40001). Runs as its owner; EXECUTE for supportes_api.';

CREATE OR REPLACE FUNCTION public.supportes_apply_privacy_function_grants() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    role_name text;
BEGIN
    IF to_regprocedure('privacy.erase_subject(text, text, jsonb)') IS NULL THEN
        RETURN;
    END IF;
    FOREACH role_name IN ARRAY ARRAY['supportes_writer', 'supportes_projector', 'supportes_api',
                                     'supportes_analytics'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('REVOKE ALL ON FUNCTION privacy.erase_subject(text, text, jsonb) FROM %I',
                           role_name);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supportes_api') THEN
        GRANT EXECUTE ON FUNCTION privacy.erase_subject(text, text, jsonb) TO supportes_api;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION public.supportes_apply_privacy_function_grants() FROM PUBLIC;
COMMENT ON FUNCTION public.supportes_apply_privacy_function_grants() IS
    'Grants EXECUTE on privacy.erase_subject to supportes_api alone (idempotent; run after '
    'migrations).';
SELECT public.supportes_apply_privacy_function_grants();

-- Least privilege in PostgreSQL, one login role per component (design section 8):
--   supportes_writer     event_index: read and write (the event index, answers, positions)
--   supportes_projector  proj: read and write rows (the live projector, parked retries), and
--                        temporary tables (its COPY staging tables)
--   supportes_api        proj and event_index: read; auth: read and write (API tokens)
--   supportes_analytics  proj: read. Nothing else.
-- The owner (the role running migrations) owns every object; it alone does DDL, projection
-- rebuilds included (a rebuild carries each table's grants over to its replacement).
--
-- The roles themselves (LOGIN, password) are created by `supportes stack up` on the local
-- cluster, or by the administrator of an external one: the owner is deliberately not allowed to
-- create roles (no CREATEROLE). supportes_apply_grants() grants to the roles that exist and
-- says which are missing; apply_migrations runs it again after every run, so roles created
-- later, and schemas that later migrations add (auth), get their grants without a new file.
-- Future tables are covered by default privileges of the owner in each schema.
CREATE OR REPLACE FUNCTION public.supportes_apply_grants() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    grant_row record;
    role_name text;
BEGIN
    -- Only the roles granted below (and the owner) may connect; only the projector may make
    -- temporary tables (projections/_pg.py stages COPY rows in them).
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    FOREACH role_name IN ARRAY ARRAY['supportes_writer', 'supportes_projector', 'supportes_api',
                                     'supportes_analytics'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), role_name);
            IF role_name = 'supportes_projector' THEN
                EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(),
                               role_name);
            END IF;
        ELSE
            RAISE NOTICE 'role % does not exist: no grants for it (create it, then migrate again)',
                role_name;
        END IF;
    END LOOP;
    FOR grant_row IN
        SELECT * FROM (VALUES
            ('supportes_writer',    'event_index', 'SELECT, INSERT, UPDATE, DELETE'),
            ('supportes_projector', 'proj',        'SELECT, INSERT, UPDATE, DELETE'),
            ('supportes_api',       'proj',        'SELECT'),
            ('supportes_api',       'event_index', 'SELECT'),
            ('supportes_api',       'auth',        'SELECT, INSERT, UPDATE, DELETE'),
            ('supportes_analytics', 'proj',        'SELECT')
        ) AS g (role_name, schema_name, privileges)
        WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = g.role_name)
          AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = g.schema_name)
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', grant_row.schema_name,
                       grant_row.role_name);
        EXECUTE format('GRANT %s ON ALL TABLES IN SCHEMA %I TO %I', grant_row.privileges,
                       grant_row.schema_name, grant_row.role_name);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT %s ON TABLES TO %I',
                       grant_row.schema_name, grant_row.privileges, grant_row.role_name);
        IF grant_row.privileges <> 'SELECT' THEN  -- writers may draw from sequences
            EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I',
                           grant_row.schema_name, grant_row.role_name);
            EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT'
                           ' ON SEQUENCES TO %I', grant_row.schema_name, grant_row.role_name);
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION public.supportes_apply_grants() FROM PUBLIC;
COMMENT ON FUNCTION public.supportes_apply_grants() IS
    'Grants each supportes component role the least it needs (idempotent; run after migrations).';
SELECT public.supportes_apply_grants();

"""Carrying table privileges over to a replacement table (projection rebuilds)."""

from __future__ import annotations

import psycopg2.extensions
from psycopg2 import sql


def copy_table_privileges(
    cur: psycopg2.extensions.cursor, source: sql.Identifier, target: sql.Identifier
) -> int:
    """Grant on ``target`` every privilege others hold on ``source`` (``LIKE ... INCLUDING ALL``
    copies no privileges); return the grants made. Run as the owner of both tables."""
    cur.execute(
        sql.SQL(
            "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN NULL"
            " ELSE pg_get_userbyid(a.grantee) END"
            " FROM pg_class AS c, aclexplode(c.relacl) AS a"
            " WHERE c.oid = {}::regclass AND a.grantee <> c.relowner"
        ).format(sql.Literal(source.as_string(cur)))
    )
    grants = cur.fetchall()
    for privilege, grantee in grants:
        cur.execute(
            sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                sql.SQL(privilege),  # a keyword from the catalog: SELECT, INSERT, ...
                target,
                sql.Identifier(grantee) if grantee is not None else sql.SQL("PUBLIC"),
            )
        )
    return len(grants)

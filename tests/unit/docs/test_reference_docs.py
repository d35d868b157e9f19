"""The reference documentation under ``docs/`` is in step with the code.

Two kinds of check:

* **Generated blocks.** Parts of the pages are generated from the code (settings from the
  pydantic model, ``proj`` and other tables from the migrations' SQL, metrics from the metrics
  catalog, topic configs from ``topic_specs``, each command's payload and each event's fields).
  They sit between ``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->``; a test
  fails when one differs from what the code generates now. Regenerate them all with::

      python -m tests.unit.docs.test_reference_docs

* **Coverage.** Every command type, event type, error code, CLI verb and option, HTTP route,
  topic, table and column, metric and setting the code defines is named in its page (and no
  page documents a command or event type the code does not have).

Pure Python: no broker, no database (the SQL files are parsed, not run).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import tempfile
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast
from uuid import UUID

import pytest
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from supportes.aggregates.commands import COMMAND_PAYLOADS, CommandEnvelope, CommandPayload
from supportes.aggregates.dispatch import ROUTES
from supportes.aggregates.errors import ErrorCode
from supportes.aggregates.personal import personal_fields
from supportes.aggregates.wire import ENVELOPE_KEYS, EVENT_TYPES, OPTIONAL_KEYS
from supportes.auth.policy import PRIVACY_COMMANDS, ROLE_TABLE, SYSTEM_COMMANDS
from supportes.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
MIGRATIONS = ROOT / "src" / "supportes" / "db" / "migrations"
PAGES = (
    "topics.md",
    "envelopes.md",
    "commands.md",
    "events.md",
    "tables.md",
    "cli.md",
    "http-api.md",
    "configuration.md",
    "personal-data.md",
    "metrics.md",
)
REGENERATE = "python -m tests.unit.docs.test_reference_docs"

_BLOCK = re.compile(
    r"<!-- generated: (?P<name>[\w:.-]+) -->\n(?P<body>.*?)<!-- end generated: (?P=name) -->",
    re.DOTALL,
)
_HEADING = re.compile(r"^(?P<level>#{1,6}) +(?P<text>.+?) *$", re.MULTILINE)


# --- reading the pages ---------------------------------------------------------------------


def page(name: str) -> str:
    """The text of ``docs/<name>``."""
    return (DOCS / name).read_text(encoding="utf-8")


def headings(text: str, level: int | None = None) -> list[str]:
    """The headings of a Markdown text (backticks removed), optionally of one level only."""
    return [
        m["text"].replace("`", "").strip()
        for m in _HEADING.finditer(text)
        if level is None or len(m["level"]) == level
    ]


def sections(text: str, level: int) -> dict[str, str]:
    """Heading (backticks removed) -> its text up to the next heading of that level or above."""
    found: dict[str, str] = {}
    matches = [m for m in _HEADING.finditer(text) if len(m["level"]) <= level]
    for n, match in enumerate(matches):
        if len(match["level"]) != level:
            continue
        end = matches[n + 1].start() if n + 1 < len(matches) else len(text)
        found[match["text"].replace("`", "").strip()] = text[match.end() : end]
    return found


def blocks(text: str) -> dict[str, str]:
    """Generated block name -> its body as it stands in the page."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(text)}


# --- describing types ----------------------------------------------------------------------


def _count(number: float) -> str:
    return f"{number:,}" if isinstance(number, int) else f"{number:g}"


def _json_type(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    """A JSON schema (of a payload field) in words."""
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return " or ".join(_json_type(s, defs) for s in options)
    if "$ref" in schema:
        target = defs[str(schema["$ref"]).rsplit("/", 1)[-1]]
        return "one of " + ", ".join(f"`{v}`" for v in target["enum"])
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "uuid":
            return "UUID"
        if schema.get("format") == "date-time":
            return "RFC 3339 date-time with offset"
        if "maxLength" in schema:
            return f"text, 1 to {_count(schema['maxLength'])} characters"
        return "text"
    if kind == "integer":
        return f"integer {schema['minimum']} to {schema['maximum']}"
    if kind == "array":
        items = _json_type(schema["items"], defs)
        most = f", at most {_count(schema['maxItems'])}" if "maxItems" in schema else ""
        return f"list of ({items}){most}"
    raise AssertionError(f"no words for the JSON schema {schema!r}")


def _python_type(hint: Any) -> str:
    """An event field's type hint in words."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _python_type(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        text = " or ".join(_python_type(a) for a in options)
        return f"{text}, or null" if len(options) < len(typing.get_args(hint)) else text
    if origin is tuple:
        return f"list of {_python_type(typing.get_args(hint)[0])}"
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in hint)
    words: dict[Any, str] = {
        str: "text",
        int: "integer",
        bool: "boolean",
        UUID: "UUID",
        datetime: "RFC 3339 date-time (UTC, `Z`)",
    }
    if hint in words:
        return words[hint]
    raise AssertionError(f"no words for the type {hint!r}")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


# --- commands ------------------------------------------------------------------------------


def command_roles(command_type: str) -> str:
    """Who may send ``command_type`` through the API, from the policy's role table."""
    if command_type in SYSTEM_COMMANDS:
        return "nobody: supportes writes it itself (the writer's compensation)"
    roles: list[str] = []
    for role, grant in ROLE_TABLE.items():
        if command_type in grant.commands:
            roles.append(
                f"`{role.value}` (on behalf of a customer only)"
                if grant.on_behalf_only
                else f"`{role.value}`"
            )
    text = ", ".join(roles) if roles else "nobody"
    if command_type in PRIVACY_COMMANDS:
        text += " (with the `manage_privacy` permission; never through `POST /v1/commands`)"
    return text


def command_block(command_type: str) -> str:
    """The generated part of a command's section: aggregate, roles, payload fields."""
    route = ROUTES[command_type]
    model: type[CommandPayload] = COMMAND_PAYLOADS[command_type]
    aggregate = f"`{route.aggregate_class.aggregate_type}`"
    creates = " (creates it)" if route.creates else ""
    lines = [
        f"- Aggregate: {aggregate}{creates}",
        f"- Who may send it (API): {command_roles(command_type)}",
        "",
    ]
    schema = model.model_json_schema()
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    personal = personal_fields(model)
    if not properties:
        lines.append("Payload: none (`{}`).")
        return "\n".join(lines) + "\n"
    lines += ["| field | type | required | personal |", "|---|---|---|---|"]
    for name, prop in properties.items():
        kind = _json_type(prop, schema.get("$defs", {}))
        if name in model.FUTURE_FIELDS:
            kind += ", after `issued_at`"
        lines.append(
            f"| `{name}` | {_cell(kind)} | {'yes' if name in required else 'no'} "
            f"| {'yes' if name in personal else ''} |"
        )
    return "\n".join(lines) + "\n"


def permissions_block() -> str:
    """Every permission (``supportes.auth.policy.Action``) and the roles that hold it."""
    from supportes.auth.policy import Action

    lines = ["| permission | roles holding it |", "|---|---|"]
    for action in Action:
        roles = [f"`{r.value}`" for r, grant in ROLE_TABLE.items() if action in grant.actions]
        lines.append(f"| `{action.value}` | {', '.join(roles) or 'none'} |")
    return "\n".join(lines) + "\n"


def role_table_block() -> str:
    """The role table as the policy prints it."""
    from supportes.auth.policy import role_table_markdown

    return role_table_markdown()


# --- events --------------------------------------------------------------------------------

_BASE_EVENT_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic"}
)


def event_fields(event_class: type) -> dict[str, Any]:
    """The payload fields of an event class and their type hints, in declaration order."""
    hints = typing.get_type_hints(event_class, include_extras=True)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(cast(Any, event_class))
        if f.name not in _BASE_EVENT_FIELDS
    }


def event_block(event_type: str) -> str:
    """The generated part of an event's section: aggregate, schema version, payload fields."""
    registered = next(t for t in EVENT_TYPES if t.name == event_type)
    fields = event_fields(registered.event_class)
    personal = personal_fields(registered.event_class)
    lines = [
        f"- Aggregate: `{registered.aggregate_class.aggregate_type}`; "
        f"current `schema_version`: {registered.schema_version}",
        "",
    ]
    if not fields:
        lines.append("Payload: none (`{}`).")
        return "\n".join(lines) + "\n"
    lines += ["| field | type | personal |", "|---|---|---|"]
    for name, hint in fields.items():
        mark = "yes" if name in personal else ""
        lines.append(f"| `{name}` | {_cell(_python_type(hint))} | {mark} |")
    return "\n".join(lines) + "\n"


# --- settings ------------------------------------------------------------------------------

SETTING_MEANINGS: dict[str, str] = {
    "topic_prefix": "Prefix of every topic name: `<prefix>.commands`, `<prefix>.events`, "
    "`<prefix>.results`, `<prefix>.dead-letters`.",
    "kafka_version": "Apache Kafka version of the local broker (its jars come from Maven Central).",
    "kafka_port": "Client port of the local broker (its first node).",
    "kafka_controller_port": "KRaft controller port of the local broker (its first node).",
    "kafka_heap": "Java heap of each local Kafka node.",
    "pg_port": "Port of the local PostgreSQL cluster.",
    "pg_database": "The database (local cluster).",
    "pg_user": "The owner's login role on the local cluster (migrations, rebuilds, tooling).",
    "startup_timeout_s": "Seconds `stack up` waits for a local server to start.",
    "connect_timeout_s": "Seconds to wait for Kafka or PostgreSQL to answer before failing "
    "with a one-line error.",
    "kafka_sasl_mechanism": "SASL mechanism, when the security protocol is a SASL one.",
    "log_level": "Least level logged.",
    "log_format": "`json` lines, `console` text, or `auto`: console on a terminal, else JSON.",
    "sla_acknowledge": "Service level: an open case not acknowledged is an `acknowledge` item "
    "due this long after opening.",
    "sla_acknowledge_urgent": "The same for `urgent` cases.",
    "sla_update_customer": "Service level: an open, acknowledged case is an `update_customer` "
    "item due this long after the last customer update (or opening, or reopening).",
    "sla_update_customer_urgent": "The same for `urgent` cases.",
    "sla_follow_up_after_resolution": "A resolved case is a `follow_up` item due this long "
    "after resolution unless a follow-up was scheduled; a closed, unrated case a "
    "`satisfaction` item due this long after closing.",
}
"""Meanings of the settings whose field has no ``description``."""


def _iso_duration(value: timedelta) -> str:
    """``value`` as an ISO 8601 duration (``PT1H``, ``P2D``, ``PT0S``)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "PT0S"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, rest = divmod(rest, 60)
    clock = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (rest, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")


def _setting_type(info: FieldInfo) -> str:
    hint = info.annotation
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(options) < len(typing.get_args(hint))
        hint = options[0]
    if typing.get_origin(hint) is Literal:
        text = "one of " + ", ".join(f"`{v}`" for v in typing.get_args(hint))
    else:
        words: dict[Any, str] = {
            str: "text",
            int: "integer",
            float: "number",
            bool: "boolean (`true`/`false`)",
            Path: "path",
            SecretStr: "secret text",
            timedelta: "duration (ISO 8601, e.g. `PT1H`)",
        }
        text = words[hint]
    limits: list[str] = []
    for item in info.metadata:
        for attribute, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            bound = getattr(item, attribute, None)
            if bound is not None:
                shown = _iso_duration(bound) if isinstance(bound, timedelta) else _count(bound)
                limits.append(f"{sign} {shown}")
        pattern = getattr(item, "pattern", None)
        if pattern is not None:
            limits.append(f"matching `{pattern}`")
    if limits:
        text += ", " + ", ".join(limits)
    return text + (", optional" if optional else "")


def _setting_default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, timedelta):
        return f"`{_iso_duration(value)}`"
    return f"`{value}`"


def settings_block() -> str:
    """Every setting: environment variable, type and limits, default, meaning."""
    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        meaning = info.description or SETTING_MEANINGS.get(name)
        assert meaning, f"setting {name} has no description and no entry in SETTING_MEANINGS"
        default = _setting_default(info.default)
        if name == "replication_factor":
            default = "`min(3, SUPPORTES_KAFKA_BROKERS)`"
        lines.append(
            f"| `{env_name(name)}` | {_cell(_setting_type(info))} | {_cell(default)} "
            f"| {_cell(meaning)} |"
        )
    return "\n".join(lines) + "\n"


# --- topics --------------------------------------------------------------------------------


def topics_block() -> str:
    """The topics and their configs as ``topic_specs`` creates them, on one broker and on three."""
    from supportes.stack.kafka_admin import topic_specs

    single = topic_specs(Settings(topic_prefix="supportes", kafka_brokers=1, replication_factor=1))
    cluster = topic_specs(Settings(topic_prefix="supportes", kafka_brokers=3, replication_factor=3))
    lines = [
        "| topic | configs (1 broker, RF 1) | configs (3 brokers, RF 3) |",
        "|---|---|---|",
    ]
    for one, three in zip(single, cluster, strict=True):
        shown = [", ".join(f"`{k}={v}`" for k, v in spec.configs.items()) for spec in (one, three)]
        lines.append(f"| `{one.name}` | {shown[0]} | {shown[1]} |")
    return "\n".join(lines) + "\n"


def acls_block() -> str:
    """The Kafka ACLs ``stack up`` creates per component for the default prefix."""
    from supportes.stack.kafka_acls import acl_rules

    lines = ["| component | resource | name | pattern | operation |", "|---|---|---|---|---|"]
    for component, kind, name, pattern, operation in acl_rules(Settings(topic_prefix="supportes")):
        lines.append(
            f"| `{component.value}` | {kind.name.lower()} | `{name}` | {pattern.name.lower()} "
            f"| {operation.name} |"
        )
    return "\n".join(lines) + "\n"


# --- tables (parsed from the migrations) ---------------------------------------------------


@dataclass
class Column:
    """A column of a table as the migrations leave it."""

    name: str
    type: str
    comment: str | None = None


@dataclass
class Table:
    """A table as the migrations leave it."""

    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    comment: str | None = None


@dataclass
class Schema:
    """What the migrations define: tables and schema comments, in order of appearance."""

    tables: dict[str, Table] = field(default_factory=dict)
    schema_comments: dict[str, str] = field(default_factory=dict)


_NOT_COLUMNS = ("PRIMARY", "UNIQUE", "CHECK", "CONSTRAINT", "FOREIGN", "EXCLUDE", "LIKE")
_TYPE_ENDS = {"NOT", "NULL", "PRIMARY", "UNIQUE", "CHECK", "DEFAULT", "REFERENCES", "COLLATE"}
_NAME = r'(?:"[^"]+"|[\w]+)'


def _statements(sql: str) -> Iterator[str]:
    """SQL statements without comments, split at top-level semicolons (string literals, quoted
    names and ``$$`` bodies kept whole)."""
    out: list[str] = []
    i = 0
    while i < len(sql):
        if sql.startswith("--", i):
            i = sql.find("\n", i) if "\n" in sql[i:] else len(sql)
            continue
        if sql.startswith("$$", i):
            end = sql.index("$$", i + 2) + 2
            out.append(sql[i:end])
            i = end
            continue
        char = sql[i]
        if char in "'\"":
            end = i + 1
            while True:
                end = sql.index(char, end)
                if sql.startswith(char * 2, end):
                    end += 2
                    continue
                break
            out.append(sql[i : end + 1])
            i = end + 1
            continue
        if char == ";":
            statement = "".join(out).strip()
            if statement:
                yield statement
            out = []
        else:
            out.append(char)
        i += 1
    rest = "".join(out).strip()
    if rest:
        yield rest


def _split_top(text: str) -> list[str]:
    """``text`` split at commas outside parentheses and quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    for i, char in enumerate(text):
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _literal(text: str) -> str:
    """The value of one or more adjacent SQL string literals (``'a' 'b'`` is ``ab``)."""
    return "".join(m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", text))


def _unquote(name: str) -> str:
    return name.strip('"')


def _column(definition: str) -> Column | None:
    """A column definition (``name type constraints``), or None for a table constraint."""
    match = re.match(rf"({_NAME})\s+(.*)$", definition, re.DOTALL)
    if match is None or match[1].upper() in _NOT_COLUMNS:
        return None
    words: list[str] = []
    for word in match[2].split():
        if word.upper() in _TYPE_ENDS:
            break
        words.append(word)
    return Column(_unquote(match[1]), " ".join(words))


def parse_migrations(directory: Path = MIGRATIONS) -> Schema:
    """The tables, columns and comments the migrations define, applied in file order."""
    schema = Schema()
    for path in sorted(directory.glob("*.sql")):
        for statement in _statements(path.read_text(encoding="utf-8")):
            _apply(schema, " ".join(statement.split()) if "$$" not in statement else statement)
    return schema


def _apply(schema: Schema, statement: str) -> None:
    tables = schema.tables
    create = re.match(
        r"CREATE TABLE (?:IF NOT EXISTS )?(\w+\.\w+) \((.*)\)(?: WITH \(.*\))?$", statement
    )
    if create:
        table = Table(create[1])
        for definition in _split_top(create[2]):
            column = _column(definition)
            if column is not None:
                table.columns[column.name] = column
        tables.setdefault(table.name, table)
        return
    alter = re.match(r"ALTER TABLE (?:IF EXISTS )?(\w+\.\w+) (.*)$", statement)
    if alter:
        table = tables[alter[1]]
        for action in _split_top(alter[2]):
            added = re.match(r"ADD COLUMN (?:IF NOT EXISTS )?(.*)$", action)
            dropped = re.match(rf"DROP COLUMN (?:IF EXISTS )?({_NAME})", action)
            renamed = re.match(rf"RENAME COLUMN ({_NAME}) TO ({_NAME})", action)
            if added:
                column = _column(added[1])
                assert column is not None, action
                table.columns.setdefault(column.name, column)
            elif dropped:
                table.columns.pop(_unquote(dropped[1]), None)
            elif renamed:
                old = table.columns.pop(_unquote(renamed[1]))
                old.name = _unquote(renamed[2])
                table.columns[old.name] = old
        return
    dropped_table = re.match(r"DROP TABLE (?:IF EXISTS )?(\w+\.\w+)", statement)
    if dropped_table:
        tables.pop(dropped_table[1], None)
        return
    comment = re.match(r"COMMENT ON (TABLE|COLUMN|SCHEMA) ([\w.\"]+) IS (.*)$", statement)
    if comment:
        what, target, text = comment[1], comment[2], _literal(comment[3])
        if what == "SCHEMA":
            schema.schema_comments[target] = text
        elif what == "TABLE":
            tables[target].comment = text
        else:
            table_name, _, column_name = target.rpartition(".")
            tables[table_name].columns[_unquote(column_name)].comment = text


TABLE_SCHEMAS = ("proj", "event_index", "auth", "privacy")
"""The schemas documented, in order (``proj`` first: what analytics jobs read)."""
COLUMN_MEANINGS: dict[str, str] = {
    "proj.offsets.projection": "The projection (see `supportes projections status`).",
    "proj.offsets.topic": "The events topic.",
    "proj.offsets.partition": "Partition of the events topic.",
    "proj.offsets.next_offset": "Next offset to apply (everything before it is applied).",
    "proj.offsets.updated_at": "When the row last moved (database clock).",
    "proj.parked_events.projection": "The projection that could not apply the event.",
    "proj.parked_events.topic": "Topic of the event.",
    "proj.parked_events.partition": "Its partition.",
    "proj.parked_events.offset": "Its offset.",
    "proj.parked_events.aggregate_id": "Its aggregate.",
    "proj.parked_events.version": "Its aggregate version.",
    "proj.parked_events.type": "Its event type.",
    "proj.parked_events.envelope": "The envelope, when jsonb can hold it.",
    "proj.parked_events.error": "Why it was parked.",
    "proj.parked_events.parked_at": "When it was parked (database clock).",
    "proj.parked_events.raw": "The record's raw bytes.",
    "event_index.events.aggregate_id": "The aggregate (case, root cause or data subject).",
    "event_index.events.version": "Aggregate version of the event (from 1).",
    "event_index.events.aggregate_type": "`Case`, `RootCause` or `DataSubject`.",
    "event_index.events.event_id": "The event id.",
    "event_index.events.type": "Event wire type.",
    "event_index.events.occurred_at": "When it happened (the command's `issued_at`).",
    "event_index.events.command_id": "The command that caused it.",
    "event_index.events.topic": "The events topic.",
    "event_index.events.partition": "Partition of the events topic holding it.",
    "event_index.events.offset": "Offset in that partition.",
    "event_index.events.hash": "The envelope's `hash`.",
    "event_index.events.envelope": "The whole envelope as stored on the log.",
    "event_index.processed_commands.command_id": "The command (idempotency key).",
    "event_index.processed_commands.topic": "The results topic.",
    "event_index.processed_commands.partition": "Partition of its result.",
    "event_index.processed_commands.status": "`accepted` or `rejected`.",
    "event_index.processed_commands.result": "The result envelope (answered again on a resend).",
    "event_index.processed_commands.results_offset": "Offset of the result record.",
    "event_index.processed_commands.processed_at": "When it was indexed (database clock).",
    "event_index.processed_commands.digest": "Digest of the command as first submitted (a "
    "resend with another body is `idempotency_key_reused`); null for commands answered before "
    "migration 0005.",
    "event_index.log_positions.topic": "The events or results topic.",
    "event_index.log_positions.partition": "Its partition.",
    "event_index.log_positions.next_offset": "Next offset to index.",
    "event_index.log_positions.updated_at": "When the row last moved (database clock).",
    "event_index.parked_records.topic": "Topic of the record.",
    "event_index.parked_records.partition": "Its partition.",
    "event_index.parked_records.offset": "Its offset.",
    "event_index.parked_records.kind": "`event` or `result`.",
    "event_index.parked_records.aggregate_id": "The event's aggregate (events).",
    "event_index.parked_records.version": "The event's version (events).",
    "event_index.parked_records.command_id": "The command answered (results).",
    "event_index.parked_records.raw": "The record's raw bytes.",
    "event_index.parked_records.reason": "Why jsonb could not hold it.",
    "event_index.parked_records.parked_at": "When it was parked (database clock).",
    "privacy.key_generation.singleton": "Always true: the table has one row.",
}
"""Meanings of the columns the migrations give no ``COMMENT ON COLUMN``."""
TABLE_MEANINGS: dict[str, str] = {
    "event_index.events": "Every committed event of the log with its Kafka position; primary key "
    "(aggregate_id, version). Writers load aggregates from it; `case history` and the API's "
    "history read it.",
    "event_index.processed_commands": "One row per command the writer answered (accepted or "
    "rejected): a resent command_id gets this first result again. Rows older than the commands "
    "topic's retention may be pruned.",
    "event_index.log_positions": "Next offset to index per partition of the events and results "
    "topics.",
}
"""Meanings of the tables the migrations give no ``COMMENT ON TABLE``."""
INTERNAL = "(internal state of the projection)"


def tables_block() -> str:
    """Every table of the documented schemas: comment, then its columns with type and meaning."""
    schema = parse_migrations()
    out: list[str] = []
    for name in TABLE_SCHEMAS:
        out.append(f"## Schema `{name}`\n")
        if name in schema.schema_comments:
            out.append(schema.schema_comments[name] + "\n")
        for table in schema.tables.values():
            if not table.name.startswith(f"{name}."):
                continue
            comment = table.comment or TABLE_MEANINGS.get(table.name)
            assert comment, f"{table.name} has no comment and no entry in TABLE_MEANINGS"
            internal = comment.startswith("Internal")
            out.append(f"### `{table.name}`\n")
            out.append(comment + "\n")
            out += ["| column | type | meaning |", "|---|---|---|"]
            for column in table.columns.values():
                meaning = column.comment or COLUMN_MEANINGS.get(f"{table.name}.{column.name}")
                if meaning is None:
                    assert internal, f"{table.name}.{column.name} has no comment and no meaning"
                    meaning = INTERNAL
                out.append(f"| `{column.name}` | {column.type} | {_cell(meaning)} |")
            out.append("")
    return "\n".join(out)


# --- metrics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One metric family as Prometheus sees it."""

    name: str
    type: str
    labels: tuple[str, ...]
    documentation: str
    source: str


def catalog_metrics() -> list[Metric]:
    """Every metric of ``supportes.observability.metrics`` (its module-level collectors)."""
    from prometheus_client.metrics import MetricWrapperBase

    from supportes.observability import metrics

    found: list[Metric] = []
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            found.append(
                Metric(
                    str(getattr(value, "_name")),  # noqa: B009 - no public accessor
                    str(getattr(value, "_type")),  # noqa: B009
                    tuple(getattr(value, "_labelnames")),  # noqa: B009
                    str(getattr(value, "_documentation")),  # noqa: B009
                    "processes",
                )
            )
    return found


def audit_metrics() -> list[Metric]:
    """The metrics ``audit verify --metrics-file`` writes (read back from a written file)."""
    from supportes.observability.audit_textfile import write_audit_metrics
    from supportes.ops.audit_verify import AuditReport

    report = cast(AuditReport, SimpleNamespace(ok=True, failures_total=0, events=0, seconds=0.0))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "audit.prom"
        write_audit_metrics(path, report, now=0.0)
        text = path.read_text(encoding="utf-8")
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.MULTILINE))
    kinds = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    return [Metric(n, kinds[n], (), helps[n], "audit verify --metrics-file") for n in helps]


def _exposed(metric: Metric) -> str:
    suffixes = {
        "counter": ["_total"],
        "histogram": ["_bucket", "_sum", "_count"],
        "info": ["_info"],
    }.get(metric.type, [""])
    return ", ".join(f"`{metric.name}{s}`" if s == suffixes[0] else f"`{s}`" for s in suffixes)


def _metrics_table(metrics: list[Metric]) -> str:
    lines = ["| metric | type | labels | series | meaning |", "|---|---|---|---|---|"]
    for metric in metrics:
        labels = ", ".join(f"`{label}`" for label in metric.labels) or "-"
        lines.append(
            f"| `{metric.name}` | {metric.type} | {labels} | {_exposed(metric)} "
            f"| {_cell(metric.documentation)} |"
        )
    return "\n".join(lines) + "\n"


def metrics_block() -> str:
    """Every metric of the catalog: name, type, labels, series exposed, meaning."""
    return _metrics_table(catalog_metrics())


def audit_metrics_block() -> str:
    """The metrics of ``audit verify --metrics-file``."""
    return _metrics_table(audit_metrics())


# --- all generated blocks ------------------------------------------------------------------

FIXED_BLOCKS: dict[str, Callable[[], str]] = {
    "settings": settings_block,
    "topics": topics_block,
    "acls": acls_block,
    "tables": tables_block,
    "metrics": metrics_block,
    "audit-metrics": audit_metrics_block,
    "permissions": permissions_block,
    "roles": role_table_block,
}


def generate(name: str) -> str:
    """The text the code gives the block ``name`` now."""
    kind, _, argument = name.partition(":")
    if kind == "command":
        return command_block(argument)
    if kind == "event":
        return event_block(argument)
    return FIXED_BLOCKS[name]()


def regenerate(text: str) -> str:
    """``text`` with every generated block replaced by what the code gives it now."""

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        return f"<!-- generated: {name} -->\n{generate(name)}<!-- end generated: {name} -->"

    return _BLOCK.sub(fill, text)


# --- the tests -----------------------------------------------------------------------------


def test_the_index_links_every_page_and_every_link_resolves() -> None:
    index = page("README.md")
    for name in PAGES:
        assert f"]({name})" in index, f"docs/README.md does not link {name}"
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", index):
        if not target.startswith(("http:", "https:")):
            assert (DOCS / target).exists(), f"docs/README.md links a missing {target}"


@pytest.mark.parametrize("name", PAGES)
def test_generated_blocks_match_the_code(name: str) -> None:
    text = page(name)
    for block, body in blocks(text).items():
        assert body == generate(block), (
            f"docs/{name}: the generated block {block!r} is out of date; run {REGENERATE}"
        )


FIXED_BLOCK_PAGES = {
    "settings": "configuration.md",
    "topics": "topics.md",
    "acls": "topics.md",
    "tables": "tables.md",
    "metrics": "metrics.md",
    "audit-metrics": "metrics.md",
    "permissions": "http-api.md",
    "roles": "http-api.md",
}
"""Where each generated block that is not per command or event lives."""


def test_every_generated_block_is_in_its_page() -> None:
    assert set(FIXED_BLOCK_PAGES) == set(FIXED_BLOCKS)
    for name, where in FIXED_BLOCK_PAGES.items():
        assert name in blocks(page(where)), f"docs/{where} lacks the generated block {name!r}"


def test_every_command_type_has_its_section_and_no_other() -> None:
    documented = set(sections(page("commands.md"), 3))
    commands = {h for h in documented if re.fullmatch(r"[A-Z][A-Za-z]+", h)}
    assert commands == set(ROUTES), (
        f"missing: {sorted(set(ROUTES) - commands)}; not commands: {sorted(commands - set(ROUTES))}"
    )
    assert set(ROUTES) == set(COMMAND_PAYLOADS)


def test_every_command_section_holds_its_generated_block_and_rejections() -> None:
    for command_type, text in sections(page("commands.md"), 3).items():
        if command_type not in ROUTES:
            continue
        assert f"generated: command:{command_type} -->" in text, command_type
        assert "Rejected with" in text, f"{command_type}: say which codes reject it"
        listed = re.sub(r"\([^)]*\)", "", text.split("Rejected with", 1)[1])  # no asides
        codes = set(re.findall(r"`([a-z_]+)`", listed))
        assert codes, f"{command_type}: no code after 'Rejected with'"
        unknown = codes - {c.value for c in ErrorCode}
        assert not unknown, f"{command_type}: not error codes: {sorted(unknown)}"


def test_every_error_code_is_documented() -> None:
    text = page("commands.md")
    table = sections(text, 2)["Error codes"]
    for code in ErrorCode:
        assert re.search(rf"^\| `{code.value}` \|", table, re.MULTILINE), (
            f"error code {code.value} is not in the table of docs/commands.md"
        )


def test_every_event_type_has_its_section_and_no_other() -> None:
    found = sections(page("events.md"), 3)
    documented = {h for h in found if re.fullmatch(r"[A-Z][A-Za-z]+", h)}
    names = {t.name for t in EVENT_TYPES}
    assert documented == names, (
        f"missing: {sorted(names - documented)}; not events: {sorted(documented - names)}"
    )
    for name in names:
        assert f"generated: event:{name} -->" in found[name], name


def test_every_envelope_field_is_documented() -> None:
    text = page("envelopes.md")
    parts = sections(text, 2)
    for key in (*ENVELOPE_KEYS, *OPTIONAL_KEYS):
        assert f"`{key}`" in parts["Event envelope"], f"event envelope field {key}"
    for key in CommandEnvelope.model_fields:
        assert f"`{key}`" in parts["Command envelope"], f"command envelope field {key}"
    from supportes.api.schemas import CommandResult

    for key in CommandResult.model_fields:
        assert f"`{key}`" in parts["Result"], f"result field {key}"


def test_every_setting_is_documented() -> None:
    text = page("configuration.md")
    for name in Settings.model_fields:
        assert f"`{env_name(name)}`" in text, f"{env_name(name)} is not in docs/configuration.md"
    assert "generated: settings -->" in text


def _verbs(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _verbs(sub, (*path, name))


def cli_verbs() -> dict[str, argparse.ArgumentParser]:
    """``supportes <verb> [<action>]`` -> its parser, for every verb the parser knows."""
    from supportes.cli.main import build_parser

    return {" ".join(("supportes", *path)): sub for path, sub in _verbs(build_parser())}


def test_every_cli_verb_and_option_is_documented() -> None:
    found = sections(page("cli.md"), 3)
    verbs = cli_verbs()
    for verb, parser in verbs.items():
        has_actions = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        if has_actions:
            continue  # a verb of actions: each action has its own section
        assert verb in found, f"{verb} has no section in docs/cli.md"
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert f"`{option}" in found[verb], f"{verb}: option {option} is not documented"
            if not action.option_strings and action.choices:
                for choice in action.choices:
                    assert f"{verb} {choice}" in found[verb], f"{verb} {choice} is not documented"


def test_every_cli_exit_code_is_documented() -> None:
    from supportes.cli import (
        audit_cmd,
        case_cmd,
        demo_cmd,
        privacy_cmd,
        projections_cmd,
        submit_cmd,
    )
    from supportes.cli.main import EXIT_INFRA, EXIT_USAGE

    table = sections(page("cli.md"), 2)["Exit codes"]
    for code in (
        0,
        EXIT_INFRA,
        EXIT_USAGE,
        submit_cmd.EXIT_REJECTED,
        audit_cmd.EXIT_BROKEN,
        case_cmd.EXIT_LOG_DIFFERS,
        projections_cmd.EXIT_TIMEOUT,
        demo_cmd.EXIT_TIMEOUT,
        privacy_cmd.EXIT_INCOMPLETE,
        130,
    ):
        assert re.search(rf"^\| {code} \|", table, re.MULTILINE), f"exit code {code}"


def http_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the API, those left out of the OpenAPI document too."""
    from starlette.routing import BaseRoute

    from supportes.api.app import create_app

    app = create_app(Settings())
    found = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }

    def walk(routes: list[BaseRoute]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None) or getattr(route, "app", None)
            if hasattr(route, "methods") and hasattr(route, "path"):
                methods = cast(set[str], route.methods or set())
                for method in methods - {"HEAD"}:
                    found.add((method, str(route.path)))
            elif inner is not None and hasattr(inner, "routes"):
                walk(list(inner.routes))

    walk(list(app.routes))
    return found


def test_every_http_route_is_documented() -> None:
    text = page("http-api.md")
    routes = http_routes()
    assert ("GET", "/metrics") in routes, "the walk over the app's routes found no hidden route"
    for method, path in sorted(routes):
        if path.startswith("/docs/"):
            continue  # the interactive docs' own helper (OAuth2 redirect)
        assert f"`{method} {path}`" in text, f"{method} {path} is not in docs/http-api.md"


def test_every_topic_is_documented() -> None:
    from supportes.stack.kafka_admin import topic_specs

    text = page("topics.md")
    for spec in topic_specs(Settings(topic_prefix="supportes")):
        assert f"### `{spec.name}`" in text, f"topic {spec.name} has no section"
        for key in spec.configs:
            assert f"`{key}=" in text, f"{spec.name}: config {key}"
    for header in ("supportes-command-digest", "supportes-replayed", "supportes-writer"):
        assert f"`{header}`" in text, f"result header {header}"
    for header in ("reason", "source.topic", "source.partition", "source.offset"):
        assert f"`{header}`" in text, f"dead-letter header {header}"


def test_every_proj_table_and_column_is_documented() -> None:
    text = page("tables.md")
    schema = parse_migrations()
    proj = [t for t in schema.tables.values() if t.name.startswith("proj.")]
    assert len(proj) >= 10, "the SQL parser found too few proj tables"
    documented = sections(text, 3)
    for table in proj:
        assert table.name in documented, f"{table.name} has no section in docs/tables.md"
        for column in table.columns:
            assert f"| `{column}` |" in documented[table.name], f"{table.name}.{column}"


def test_the_sql_parser_reads_comments_and_later_columns() -> None:
    schema = parse_migrations()
    case_view = schema.tables["proj.case_view"]
    assert case_view.columns["follow_up_of"].type == "uuid"  # added by 0006
    assert "opening_suggested_owner_id" in (case_view.columns["suggested_owner_id"].comment or "")
    assert schema.tables["proj.case_timeline"].columns["offset"].type == "bigint"
    assert "customer''s" not in (case_view.columns["previous_case_id"].comment or "")


def test_every_metric_of_the_catalog_is_documented() -> None:
    text = page("metrics.md")
    metrics = [*catalog_metrics(), *audit_metrics()]
    assert len(metrics) > 10
    for metric in metrics:
        assert metric.name.startswith("supportes_"), metric.name
        assert f"| `{metric.name}` |" in text, f"metric {metric.name} is not in docs/metrics.md"


def main() -> int:
    """Rewrite every generated block of every page; print the pages changed."""
    for name in PAGES:
        path = DOCS / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        new = regenerate(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"docs/{name}: regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

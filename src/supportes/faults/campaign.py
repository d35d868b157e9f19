"""The fault campaign (issue 17): a bounded workload against a deployment of three Kafka nodes,
three writers, two projectors and two API replicas, while the nemesis injects every fault on a
schedule; then everything is healed, the log is read back by the checker, and the projections
are compared with a rebuild from the log. :func:`run_campaign` returns the table's rows.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg2 import sql

from supportes.db.connect import connect
from supportes.faults.analysis import analyse
from supportes.faults.deployment import Deployment, free_ports
from supportes.faults.model import TITLES, CheckReport
from supportes.faults.nemesis import Injection, Nemesis, default_schedule
from supportes.faults.projections import compare_checksums, key_columns, table_checksums
from supportes.faults.reader import read_snapshot
from supportes.faults.workload import ApiAccess, Workload, WorkloadReport
from supportes.logs import get_logger
from supportes.ops.projection_status import wait_until_caught_up
from supportes.ops.rebuild import rebuild
from supportes.settings import Settings

log = get_logger("faults.campaign")


@dataclass(frozen=True)
class CampaignConfig:
    """How big the campaign is. The full form (``make test-faults``) and the short one (inside
    ``make test``) differ in commands and spacing only: every fault is injected in both."""

    commands: int = 20_000
    """At least this many; the clients go on until the last fault has healed."""
    clients: int = 8
    spacing_s: float = 20.0
    first_fault_s: float = 10.0
    seed: int = 2026
    catch_up_s: float = 300.0

    @classmethod
    def short(cls) -> CampaignConfig:
        """The form run by ``make test``: ~2 minutes."""
        return cls(commands=1_000, clients=8, spacing_s=7.0, first_fault_s=5.0)


@dataclass
class CampaignReport:
    """What the campaign did and found."""

    config: CampaignConfig
    injections: list[Injection]
    workload: WorkloadReport
    check: CheckReport
    seconds: float
    started: float
    rebuilt_differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No anomaly of any class, every command answered, projections equal a rebuild."""
        return self.check.ok and not self.unanswered and not self.rebuilt_differences

    @property
    def unanswered(self) -> int:
        """Commands the workload never got an answer for."""
        return sum(1 for s in self.workload.submitted if s.status is None)

    def fault_rows(self) -> list[dict[str, Any]]:
        """One row per fault: when (s after start), healed after, next accepted command."""
        rows = []
        for item in self.injections:
            recovered = self.workload.answered_after(item.began)
            rows.append(
                {
                    "fault": item.fault,
                    "target": item.target,
                    "at_s": round(item.began - self.started, 1),
                    "healed_after_s": round((item.healed or item.began) - item.began, 1),
                    "next_accepted_after_s": (
                        round(recovered - item.began, 2) if recovered is not None else "none"
                    ),
                }
            )
        return rows

    def command_rows(self) -> list[dict[str, Any]]:
        """Commands by path and outcome."""
        counts = Counter((s.via, s.status or "unanswered") for s in self.workload.submitted)
        return [
            {"via": via, "outcome": outcome, "commands": n}
            for (via, outcome), n in sorted(counts.items())
        ]

    def anomaly_rows(self) -> list[dict[str, Any]]:
        """Every anomaly class with its count (the checker's), plus the rebuild comparison."""
        rows = [
            {"class": name, "count": finding.count, "what": TITLES[name]}
            for name, finding in self.check.findings.items()
        ]
        rows.append(
            {
                "class": "unanswered",
                "count": self.unanswered,
                "what": "commands the workload never got an answer for",
            }
        )
        return rows


def run_campaign(
    base: Settings, config: CampaignConfig, workdir: Path | None = None
) -> CampaignReport:
    """Stand up a deployment under ``workdir`` (a temporary directory by default), run the
    workload and the nemesis together, heal, check; the deployment is torn down after."""
    with tempfile.TemporaryDirectory(prefix="supportes-campaign-") as scratch:
        root = workdir or Path(scratch)
        deployment = Deployment.create(base, root, free_ports())
        try:
            deployment.up()
            return _campaign(deployment, config)
        finally:
            deployment.down()


def _campaign(deployment: Deployment, config: CampaignConfig) -> CampaignReport:
    settings = deployment.settings
    workload = Workload(
        settings,
        commands=config.commands,
        clients=config.clients,
        api=ApiAccess(deployment.api_urls, deployment.admin_token, Deployment.ADMIN),
        seed=config.seed,
    )
    nemesis = Nemesis(deployment, default_schedule(config.spacing_s, config.first_fault_s))
    stop = threading.Event()
    started = time.monotonic()
    faults_done = threading.Event()

    def inject() -> None:
        try:
            nemesis.run(stop)
        finally:
            faults_done.set()

    chaos = threading.Thread(target=inject, name="nemesis", daemon=True)
    chaos.start()
    # at least config.commands, and on until the last fault healed (each command is bounded)
    report = workload.run(threading.Event(), until=faults_done)
    chaos.join()
    deployment.heal()
    log.info("workload done", commands=len(report.submitted), seconds=time.monotonic() - started)
    if not wait_until_caught_up(settings, timeout_s=config.catch_up_s):
        log.warning("projections not caught up in time", timeout_s=config.catch_up_s)
    submitted = [s.command_id for s in report.submitted]
    check = analyse(read_snapshot(settings, submitted=submitted))
    for projector in deployment.projectors:
        projector.stop()
    differences = _against_rebuild(settings)
    for difference in differences:
        check.findings["projections"].add(**difference)
    return CampaignReport(
        config,
        nemesis.injections,
        report,
        check,
        time.monotonic() - started,
        started,
        [str(d) for d in differences],
    )


def _against_rebuild(settings: Settings) -> list[dict[str, Any]]:
    """The projection tables that differ from a rebuild of them from the log (projectors
    stopped): the live tables are kept aside (schema ``campaign_live``), ``projections
    rebuild`` swaps rebuilt ones in, and each table that differs is named with how many rows
    only one side has and a few of their keys (key columns only: no text)."""
    conn = connect(settings.dsn)
    try:
        live = table_checksums(conn)
        with conn.cursor() as cur:
            cur.execute("DROP SCHEMA IF EXISTS campaign_live CASCADE; CREATE SCHEMA campaign_live")
            for table in live:
                cur.execute(
                    sql.SQL("CREATE TABLE {} AS TABLE {}").format(
                        sql.Identifier("campaign_live", table), sql.Identifier("proj", table)
                    )
                )
        conn.commit()
        rebuild(settings)
        differences = compare_checksums(live, table_checksums(conn))
        with conn.cursor() as cur:
            for difference in differences:
                table = str(difference["table"]).removeprefix("proj.")
                difference.update(_rows_apart(cur, table))
        conn.rollback()
    finally:
        conn.close()
    return differences


def _rows_apart(cur: Any, table: str) -> dict[str, Any]:
    """Rows of ``table`` only live / only rebuilt, and up to 3 keys of each."""
    keys = key_columns(cur, "proj", table)
    found: dict[str, Any] = {}
    sides = (("only_live", "campaign_live", "proj"), ("only_rebuilt", "proj", "campaign_live"))
    for label, first, second in sides:
        apart = sql.SQL(
            "SELECT to_jsonb(a) AS r FROM {} AS a EXCEPT SELECT to_jsonb(b) FROM {} AS b"
        ).format(sql.Identifier(first, table), sql.Identifier(second, table))
        cur.execute(sql.SQL("SELECT count(*) FROM ({}) AS x").format(apart))
        (count,) = cur.fetchone()
        found[label] = int(count)
        if keys and count:
            columns = sql.SQL(", ").join(sql.SQL("x.r->>{}").format(sql.Literal(k)) for k in keys)
            cur.execute(sql.SQL("SELECT {} FROM ({}) AS x LIMIT 3").format(columns, apart))
            found[f"{label}_keys"] = [list(row) for row in cur.fetchall()]
    return found

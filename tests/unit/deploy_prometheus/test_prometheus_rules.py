"""deploy/prometheus and deploy/grafana: the scrape configs and rule files pass ``promtool``,
the alert rules' unit tests pass (and can fail), every alert carries what an operator needs,
and every metric the rules and the dashboard read is one supportes (or Prometheus) exports."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import supportes.observability.metrics  # noqa: F401  (registers the catalog)
from supportes.observability.audit_textfile import write_audit_metrics
from supportes.ops.audit_verify import AuditReport

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
RULES = PROMETHEUS / "rules.yml"
RULES_TEST = PROMETHEUS / "alerts.test.yml"
CONFIGS = [PROMETHEUS / "prometheus.yml", PROMETHEUS / "prometheus-compose.yml"]
DASHBOARD = ROOT / "deploy" / "grafana" / "supportes-dashboard.json"
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"

JOBS = ("supportes-writer", "supportes-projector", "supportes-api")
RUNBOOK = "https://github.com/supportes/supportes#runbook-{}"
REQUIRED_ALERTS = {
    "TargetDown",
    "ProjectorLagGrowing",
    "ProjectorParkedEvents",
    "WriterFencingLoop",
    "DeadLetters",
    "NoAcceptedCommands",
    "AuditVerifyFailed",
    "AuditVerifyStale",
    "ApiErrors5xx",
}
DASHBOARD_PANELS = {
    "Commands/s by outcome",
    "Rejection codes",
    "Writer cycle duration p50 / p99",
    "Submit-to-commit p99",
    "Transactions by result",
    "Partitions owned per instance",
    "Takeover duration p50 / p99 (1h)",
    "Index lag p50 / p99",
    "Projector lag per projection",
    "Events applied/s",
    "Batch apply duration p50 / p99",
    "Parked events",
    "Dead letters",
    "API requests/s by status class",
    "API latency p99 by route",
    "Auth failures by reason",
    "Rate-limited",
    "Audit verify status",
    "CPU",
    "Resident memory",
    "Process start time",
}


# -- helpers ---------------------------------------------------------------------------------


def _promtool() -> str:
    """The promtool of Debian's ``prometheus`` package: missing fails the test (no skip)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found on PATH: run deploy/ensure-system-deps.sh (Debian's "
            "`prometheus` package) to check the alert rules"
        )
    return path


def _run(*args: str | Path, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    """``promtool *args`` (a failure of the calling test when promtool is missing)."""
    return subprocess.run(
        [_promtool(), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules(path: Path) -> Iterator[dict[str, Any]]:
    for group in _load_yaml(path)["groups"]:
        yield from group["rules"]


def _alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules(ALERTS) if "alert" in rule]


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def _dashboard_exprs() -> list[str]:
    return [t["expr"] for p in _panels(_dashboard()) for t in p.get("targets", [])]


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana query: ``$variables`` allowed) reads:
    identifiers outside strings, label matchers, ranges and grouping clauses that are neither
    keywords, functions nor aggregations."""
    text = _STRING.sub('""', expr)
    for pattern in (_MATCHERS, _RANGE, _GROUPING, _VARIABLE):
        text = pattern.sub(" ", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in _KEYWORDS}


def _audit_textfile_names(tmp: Path) -> set[str]:
    """The names ``audit verify --metrics-file`` writes (from the writer itself)."""
    report = AuditReport(
        case_id=None,
        topic="events",
        partitions=[],
        aggregates={},
        events=0,
        index_rows=0,
        unindexed=0,
        checks={},
        failures=[],
        failures_total=0,
        seconds=0.0,
    )
    target = tmp / "audit.prom"
    write_audit_metrics(target, report, now=0.0)
    families = text_string_to_metric_families(target.read_text(encoding="utf-8"))
    return {sample.name for family in families for sample in family.samples}


def _catalog() -> set[str]:
    """Every series name prometheus-client's default registry exports once supportes'
    catalog is imported (whether or not a labelled child exists yet)."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


# -- promtool --------------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_scrape_config_is_valid(config: Path) -> None:
    result = _run("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout  # both configs load rules.yml and alerts.yml


def test_rule_files_are_valid() -> None:
    result = _run("check", "rules", RULES, ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_unit_tests_pass() -> None:
    result = _run("test", "rules", RULES_TEST)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _firing_checks(test_file: dict[str, Any]) -> Iterator[tuple[int, int, str]]:
    for g, group in enumerate(test_file["tests"]):
        for c, check in enumerate(group.get("alert_rule_test", [])):
            if check.get("exp_alerts"):
                yield g, c, check["alertname"]


@pytest.mark.parametrize("alertname", sorted(REQUIRED_ALERTS))
def test_the_unit_tests_fail_when_an_expected_alert_is_missing(
    tmp_path: Path, alertname: str
) -> None:
    """Drop one expected alert of ``alertname`` from a copy of the tests (only that test
    group, reading the real rule files): promtool must report the alert it did not expect."""
    original = _load_yaml(RULES_TEST)
    g, c, _ = next(f for f in _firing_checks(original) if f[2] == alertname)
    mutated = copy.deepcopy(original)
    mutated["rule_files"] = [str(PROMETHEUS / name) for name in original["rule_files"]]
    group = mutated["tests"][g]
    group["alert_rule_test"][c]["exp_alerts"].pop(0)
    mutated["tests"] = [group]
    copy_path = tmp_path / "alerts.test.yml"
    copy_path.write_text(yaml.safe_dump(mutated, sort_keys=False), encoding="utf-8")

    result = _run("test", "rules", copy_path, cwd=tmp_path)

    assert result.returncode != 0, result.stdout + result.stderr
    assert "FAILED" in result.stdout + result.stderr
    assert alertname in result.stdout + result.stderr

    # and the untouched group passes on its own: the failure is the missing alert's
    group["alert_rule_test"][c]["exp_alerts"] = original["tests"][g]["alert_rule_test"][c][
        "exp_alerts"
    ]
    copy_path.write_text(yaml.safe_dump(mutated, sort_keys=False), encoding="utf-8")
    assert _run("test", "rules", copy_path, cwd=tmp_path).returncode == 0


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    tests = _load_yaml(RULES_TEST)
    assert tests["rule_files"] == ["rules.yml", "alerts.yml"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for group in tests["tests"]:
        for check in group.get("alert_rule_test", []):
            expected = check.get("exp_alerts") or []
            (firing if expected else quiet).add(check["alertname"])
            for alert in expected:
                assert {"summary", "description", "runbook"} <= set(alert["exp_annotations"])
                assert "severity" in alert["exp_labels"]
    names = {rule["alert"] for rule in _alerts()}
    assert names - firing == set(), "alerts no test sees firing"
    assert names - quiet == set(), "alerts no test sees quiet"


def test_the_unit_tests_evaluate_the_recording_rules_first() -> None:
    """promtool orders the groups of one evaluation arbitrarily unless told: an alert reading
    a recorded series would see this or the previous evaluation's value (a flaky test)."""
    order = _load_yaml(RULES_TEST)["group_eval_order"]
    recording = [g["name"] for g in _load_yaml(RULES)["groups"]]
    alerting = [g["name"] for g in _load_yaml(ALERTS)["groups"]]
    assert order[: len(recording)] == recording
    assert sorted(order) == sorted(recording + alerting)


def test_target_down_is_tested_for_every_job() -> None:
    tests = _load_yaml(RULES_TEST)
    jobs = {
        alert["exp_labels"]["job"]
        for group in tests["tests"]
        for check in group.get("alert_rule_test", [])
        if check["alertname"] == "TargetDown"
        for alert in check.get("exp_alerts") or []
    }
    assert jobs == set(JOBS)


# -- what every alert carries ----------------------------------------------------------------


def test_every_required_alert_exists() -> None:
    assert REQUIRED_ALERTS - {rule["alert"] for rule in _alerts()} == set()


@pytest.mark.parametrize("rule", _alerts(), ids=lambda r: r["alert"])
def test_every_alert_has_severity_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning"}
    annotations = rule["annotations"]
    for key in ("summary", "description", "runbook"):
        assert annotations.get(key, "").strip(), f"{rule['alert']} has no {key}"
    assert annotations["runbook"] == RUNBOOK.format(rule["alert"].lower())


# -- metric names ----------------------------------------------------------------------------


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum by (job, le) (rate(foo_seconds_bucket{route=~"/v1/cases/{case_id}",a!="b c"}'
        "[$__rate_interval] offset 1h)) / on (job) group_left (x) bar:baz:rate5m > 0.5e3 "
        'and histogram_quantile(0.99, qux_total[5m:1m]) or label_replace(up, "c", "${1}xx", '
        '"status", "([0-9])..") unless absent(gone) * time() > 26 * 3600 or vector(0)'
    )
    assert metric_names(expr) == {"foo_seconds_bucket", "bar:baz:rate5m", "qux_total", "up", "gone"}


def test_every_metric_the_rules_and_dashboard_read_is_exported(tmp_path: Path) -> None:
    recorded = {rule["record"] for rule in _rules(RULES)}
    known = _catalog() | _audit_textfile_names(tmp_path) | recorded | {"up"}
    assert "supportes_commands_total" in known  # the catalog was read
    assert "supportes_audit_verify_last_run_timestamp_seconds" in known

    exprs = {
        **{f"rules.yml {r['record']}": r["expr"] for r in _rules(RULES)},
        **{f"alerts.yml {r['alert']}": r["expr"] for r in _alerts()},
        **{f"dashboard #{n}": e for n, e in enumerate(_dashboard_exprs())},
    }
    unknown = {
        where: sorted(names)
        for where, expr in exprs.items()
        if (
            names := {
                n for n in metric_names(expr) if n not in known and not n.startswith("process_")
            }
        )
    }
    assert unknown == {}
    read = set().union(*(metric_names(e) for e in exprs.values()))
    assert {"supportes_projector_lag_events", "supportes_projector_parked_events"} <= read


# -- the dashboard ---------------------------------------------------------------------------


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    dashboard = _dashboard()
    assert 39 <= dashboard["schemaVersion"] < 42
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    panels = list(_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert target["expr"].strip()
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
    assert DASHBOARD_PANELS - {p["title"] for p in panels} == set()


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Grafana's interval variables replaced by durations, every query must parse."""
    replaced = [
        e.replace("$__rate_interval", "1m").replace("$__range", "6h") for e in _dashboard_exprs()
    ]
    assert all("$" not in e for e in replaced)
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard_query_{n}", "expr": e} for n, e in enumerate(replaced)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = _run("check", "rules", path, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the scrape configs ----------------------------------------------------------------------


def _targets(config: Path) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        for job in _load_yaml(config)["scrape_configs"]
    }


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_scrape_configs_name_the_supportes_jobs_and_load_the_rules(config: Path) -> None:
    targets = _targets(config)
    assert set(JOBS) <= set(targets)
    assert all(targets[job] for job in JOBS)
    assert _load_yaml(config)["rule_files"] == ["rules.yml", "alerts.yml"]


def test_local_config_scrapes_the_default_ports() -> None:
    targets = _targets(PROMETHEUS / "prometheus.yml")
    assert targets["supportes-api"] == ["127.0.0.1:8080"]
    assert targets["supportes-writer"] == ["127.0.0.1:9464"]
    assert targets["supportes-projector"] == ["127.0.0.1:9465"]
    assert targets["node"] == ["127.0.0.1:9100"]


def test_compose_config_scrapes_the_compose_services() -> None:
    targets = _targets(PROMETHEUS / "prometheus-compose.yml")
    assert targets["supportes-writer"] == ["writer-0:9464", "writer-1:9464", "writer-2:9464"]
    assert targets["supportes-projector"] == ["projector-0:9464", "projector-1:9464"]
    assert targets["supportes-api"] == ["api-0:8080", "api-1:8080"]
    if COMPOSE.exists():  # deploy/compose/compose.yaml: every host scraped is one of its services
        services = set(_load_yaml(COMPOSE)["services"])
        hosts = {urlsplit(f"//{t}").hostname for job in JOBS for t in targets[job]}
        assert hosts <= services

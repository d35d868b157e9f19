"""deploy/container, deploy/compose, deploy/kubernetes, deploy/systemd: each artifact passes the
checker made for its format, each checker fails on a planted bad file, and what no checker
knows holds too: non-root image, no secret values, distinct writer instances, probe paths,
and only real ``SUPPORTES_*`` settings.

Checkers (built or installed by ``deploy/ensure-deploy-checkers.sh``, run by ``make setup``):

- Dockerfile: ``.local/tools/dockerfile-check``, BuildKit's Dockerfile frontend and linter
  (the rules of ``docker build --check``, experimental ones too).
- compose: ``.local/tools/compose-check``, compose-go (what ``docker compose config`` runs):
  the compose-spec JSON schema, interpolation and consistency.
- Kubernetes: ``.local/tools/kustomize build``, then ``kubernetes-validate --strict`` (the
  Kubernetes JSON schemas, offline; unknown fields are errors).
- systemd: ``systemd-analyze verify`` on copies whose ExecStart is the virtualenv's supportes.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from supportes.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
TOOLS = ROOT / ".local" / "tools"
ENSURE = "deploy/ensure-deploy-checkers.sh"

DOCKERFILE = DEPLOY / "container" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
MAKE_SECRETS = COMPOSE_DIR / "make-secrets.sh"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service"))
INSTALLED_SUPPORTES = "/opt/supportes/bin/supportes"

# Oldest Kubernetes the manifests are for (the pod-index label of the writers: 1.28+), and the
# newest the installed kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
PROBE_PATHS = {"/healthz", "/readyz"}
CHECK_TIMEOUT_S = 120


def artifact_files() -> list[Path]:
    """Every file of the four artifact kinds (what a user deploys)."""
    found = [DOCKERFILE, DOCKERIGNORE]
    for folder in (COMPOSE_DIR, KUBERNETES, SYSTEMD):
        found += [
            p for p in sorted(folder.rglob("*")) if p.is_file() and "secrets" not in p.parts[-2:-1]
        ]
    return found


def tool(name: str) -> Path:
    """A checker built under .local/tools; a failure naming the script when it is missing."""
    path = TOOLS / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run `bash {ENSURE}` (or `make setup`)")
    return path


def kubernetes_validate() -> str:
    """The kubernetes-validate of this virtualenv (a dev dependency in pyproject.toml)."""
    beside = Path(sys.executable).parent / "kubernetes-validate"
    found = str(beside) if beside.exists() else shutil.which("kubernetes-validate")
    if found is None:
        pytest.fail(
            "kubernetes-validate is missing: `make setup` (pip install -e '.[dev]'), and "
            f"`bash {ENSURE}` for the other checkers"
        )
    return found


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail(f"systemd-analyze is missing: run `bash {ENSURE}` (installs systemd)")
    return found


def run(command: list[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
        check=False,
        cwd=cwd,
    )


def load_yaml_documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


# --- container image ------------------------------------------------------------------------


def dockerfile_check(path: Path) -> subprocess.CompletedProcess[str]:
    return run([tool("dockerfile-check"), path])


def test_dockerfile_passes_buildkit_lint() -> None:
    result = dockerfile_check(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_check_fails_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:3.11 as build\n"
        "MAINTAINER someone\n"
        "ENV SUPPORTES_API_LISTEN 0.0.0.0:8080\n"
        "CMD supportes serve\n"
    )
    result = dockerfile_check(bad)
    assert result.returncode == 1, result.stdout
    for rule in ("FromAsCasing", "MaintainerDeprecated", "LegacyKeyValueFormat"):
        assert rule in result.stdout
    assert "JSONArgsRecommended" in result.stdout
    # A `# check=skip=...` directive cannot hide a rule from the checker.
    bad.write_text("# check=skip=all\nFROM python:3.11 as build\n")
    assert "FromAsCasing" in dockerfile_check(bad).stdout


def final_stage(text: str) -> list[str]:
    """The instructions (continuations joined) of the Dockerfile's last stage."""
    joined = re.sub(r"\\\n", " ", text)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.startswith("#")]
    starts = [i for i, ln in enumerate(lines) if ln.upper().startswith("FROM ")]
    return lines[starts[-1] :]


def test_dockerfile_is_multi_stage_non_root_with_the_supportes_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(froms) >= 2, "a builder stage and a runtime stage"
    assert all(f.startswith("${") for f in froms), "base images come from ARGs"
    stage = final_stage(text)
    users = [ln.split(None, 1)[1] for ln in stage if ln.upper().startswith("USER ")]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user.isdigit(), "a fixed numeric UID (runAsNonRoot can check it)"
    assert int(user) >= 1000
    assert 'ENTRYPOINT ["supportes"]' in stage
    assert "COPY --from=builder" in text
    assert re.search(r"pip wheel", text), "the builder makes a wheel"


def test_dockerignore_sends_only_what_the_build_reads() -> None:
    patterns = [
        ln.strip()
        for ln in DOCKERIGNORE.read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert patterns[0] == "*", "everything is excluded first"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert included == {"pyproject.toml", "README.md", "src"}
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    for sources in copied:
        for source in sources.split():
            assert source.rstrip("/") in included, f"COPY {source} is excluded by .dockerignore"


# --- compose ------------------------------------------------------------------------------


def compose_check(path: Path) -> subprocess.CompletedProcess[str]:
    return run([tool("compose-check"), path])


def test_compose_passes_the_compose_spec_loader() -> None:
    result = compose_check(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services:\n  a:\n    image: x\n    restart_policy: always\n", "restart_policy"),
        ("services:\n  a:\n    image: x\n    secrets: [nowhere]\n", "undefined secret"),
        ("services:\n  a:\n    image: x\n    depends_on: [b]\n", "depends on undefined"),
        ("services:\n  a:\n    image: x:${UNSET_TAG}\n", "UNSET_TAG"),
    ],
    ids=["unknown-key", "undefined-secret", "undefined-dependency", "unset-variable"],
)
def test_compose_check_fails_on_a_bad_file(tmp_path: Path, text: str, expected: str) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text(text)
    result = compose_check(bad)
    assert result.returncode == 1, result.stdout
    assert expected in result.stdout


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def services_named(compose: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    return {
        name: spec
        for name, spec in compose["services"].items()
        if re.fullmatch(rf"{prefix}-\d+", name)
    }


def test_compose_has_the_deployment_of_design_section_10(compose: dict[str, Any]) -> None:
    pom = (DEPLOY / "kafka" / "pom.xml").read_text()
    kafka_version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert kafka_version is not None
    kafka = services_named(compose, "kafka")
    assert len(kafka) == 3
    assert {s["image"] for s in kafka.values()} == {f"apache/kafka:{kafka_version.group(1)}"}
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    writers = services_named(compose, "writer")
    assert len(writers) == 3
    instances = [w["environment"]["SUPPORTES_WRITER_INSTANCE"] for w in writers.values()]
    assert sorted(instances) == ["0", "1", "2"], "every writer has its own instance"
    assert len(services_named(compose, "projector")) == 2
    assert len(services_named(compose, "api")) == 2
    for name in [*writers, *services_named(compose, "projector"), *services_named(compose, "api")]:
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert compose["services"]["migrate"]["command"] == ["stack", "up"]
    prometheus = compose["services"]["prometheus"]
    assert "--config.file=/etc/prometheus/prometheus-compose.yml" in prometheus["command"]
    assert "../prometheus:/etc/prometheus:ro" in prometheus["volumes"]


def test_compose_secrets_are_files_that_make_secrets_generates(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "secrets"
    result = run(["bash", MAKE_SECRETS, target])
    assert result.returncode == 0, result.stderr
    made = {p.name for p in target.iterdir()}
    assert not [p for p in target.iterdir() if p.name.endswith(".partial")]
    for name, spec in compose["secrets"].items():
        assert set(spec) == {"file"}, f"secret {name}: from a file, never inline"
        assert spec["file"].startswith("./secrets/")
        assert spec["file"].removeprefix("./secrets/") in made
    for path in target.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    kek = (target / "kek").read_text().strip()
    assert len(kek) == 44, "32 bytes, base64"
    # Run again: passwords and keys are kept.
    before = (target / "pg-supportes_writer-password").read_text()
    assert run(["bash", MAKE_SECRETS, target]).returncode == 0
    assert (target / "pg-supportes_writer-password").read_text() == before
    ignored = run(["git", "check-ignore", "-q", "deploy/compose/secrets/kek"], cwd=ROOT)
    assert ignored.returncode == 0, "deploy/compose/secrets/ is git-ignored"


# --- Kubernetes -----------------------------------------------------------------------------


def kustomize_build(folder: Path) -> subprocess.CompletedProcess[str]:
    return run([tool("kustomize"), "build", folder])


def validate_strict(manifests: str, folder: Path, version: str) -> subprocess.CompletedProcess[str]:
    rendered = folder / f"rendered-{version}.yaml"
    rendered.write_text(manifests)
    return run(
        [kubernetes_validate(), "--strict", "--quiet", "-k", version, rendered],
    )


@pytest.fixture(scope="module")
def rendered() -> str:
    result = kustomize_build(KUBERNETES)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_manifests_pass_the_strict_schemas(
    rendered: str, tmp_path: Path, version: str
) -> None:
    result = validate_strict(rendered, tmp_path, version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


def test_kubernetes_checkers_fail_on_bad_manifests(rendered: str, tmp_path: Path) -> None:
    unknown_field = rendered.replace(
        "runAsNonRoot: true", "runAsNonRoot: true\n        runAsRoot: false", 1
    )
    result = validate_strict(unknown_field, tmp_path, KUBERNETES_VERSIONS[-1])
    assert result.returncode != 0
    assert "runAsRoot" in result.stdout
    wrong_type = rendered.replace("replicas: 3", "replicas: three", 1)
    assert validate_strict(wrong_type, tmp_path, KUBERNETES_VERSIONS[-1]).returncode != 0
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    assert kustomize_build(overlay).returncode != 0


@pytest.fixture(scope="module")
def manifests(rendered: str) -> list[dict[str, Any]]:
    return load_yaml_documents(rendered)


def pod_specs(manifests: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for m in manifests:
        if m["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield m["metadata"]["name"], m["spec"]["template"]["spec"]


def test_kubernetes_workloads(manifests: list[dict[str, Any]]) -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    assert ("StatefulSet", "supportes-writer") in kinds
    assert ("Deployment", "supportes-projector") in kinds
    assert ("Deployment", "supportes-api") in kinds
    assert ("Job", "supportes-migrate") in kinds
    assert ("Service", "supportes-api") in kinds
    assert not [m for m in manifests if m["kind"] == "Secret"], "Secrets are referenced only"
    assert all("namespace" not in m["metadata"] for m in manifests)
    budgets = {m["metadata"]["name"] for m in manifests if m["kind"] == "PodDisruptionBudget"}
    assert budgets == {"supportes-writer", "supportes-projector", "supportes-api"}
    writers = next(m for m in manifests if m["kind"] == "StatefulSet")
    headless = next(
        m
        for m in manifests
        if m["kind"] == "Service" and m["metadata"]["name"] == "supportes-writer"
    )
    assert headless["spec"]["clusterIP"] == "None"
    assert writers["spec"]["serviceName"] == "supportes-writer"
    (writer,) = writers["spec"]["template"]["spec"]["containers"]
    instance = next(e for e in writer["env"] if e["name"] == "SUPPORTES_WRITER_INSTANCE")
    field = instance["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.labels['apps.kubernetes.io/pod-index']", "instance = pod ordinal"


def test_kubernetes_pods_are_locked_down_and_probed(manifests: list[dict[str, Any]]) -> None:
    for name, spec in pod_specs(manifests):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] >= 1000, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert {"requests", "limits"} <= set(container["resources"]), where
            for kind in ("cpu", "memory"):
                assert kind in container["resources"]["requests"], where
                assert kind in container["resources"]["limits"], where
        if name == "supportes-migrate":
            continue
        (main,) = spec["containers"]
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert spec["terminationGracePeriodSeconds"] > 5, "longer than the API's 5 s drain"


def test_kubernetes_pods_are_annotated_for_prometheus(manifests: list[dict[str, Any]]) -> None:
    for name, _ in pod_specs(manifests):
        if name == "supportes-migrate":
            continue
        workload = next(
            m
            for m in manifests
            if m["metadata"]["name"] == name and m["kind"] in ("Deployment", "StatefulSet")
        )
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        ports = {
            str(p["containerPort"])
            for c in workload["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        assert annotations["prometheus.io/port"] in ports


# --- systemd ------------------------------------------------------------------------------


def verify_units(units: list[Path], folder: Path) -> list[str]:
    """``systemd-analyze verify`` of copies of ``units`` whose ExecStart is this virtualenv's
    supportes (verify checks that it exists); templates as instance 0. Every line it prints."""
    executable = Path(sys.executable).parent / "supportes"
    assert executable.exists()
    names = []
    for unit in units:
        copy = folder / unit.name
        copy.write_text(unit.read_text().replace(INSTALLED_SUPPORTES, str(executable)))
        if unit.name.endswith("@.service"):
            instance = folder / unit.name.replace("@.service", "@0.service")
            instance.symlink_to(copy.name)
            names.append(instance.name)
        else:
            names.append(copy.name)
    result = run([systemd_analyze(), "verify", "--man=no", *names], cwd=folder)
    lines = (result.stdout + result.stderr).splitlines()
    if result.returncode != 0 and not lines:
        lines = [f"systemd-analyze verify exited {result.returncode}"]
    return lines


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    assert {u.name for u in UNITS} == {
        "supportes-writer@.service",
        "supportes-projector.service",
        "supportes-api.service",
        "supportes-migrate.service",
    }
    assert verify_units(UNITS, tmp_path) == []


def test_systemd_verify_fails_on_bad_units(tmp_path: Path) -> None:
    api = (SYSTEMD / "supportes-api.service").read_text()
    bad = tmp_path / "bad"
    bad.mkdir()
    cases = {
        "unknown-key": api.replace("PrivateTmp=yes", "PrivateTmp=yes\nPrivateTemp=yes"),
        "bad-value": api.replace("ProtectSystem=strict", "ProtectSystem=strictest"),
        "missing-binary": api.replace(INSTALLED_SUPPORTES, "/nonexistent/supportes"),
    }
    for case, text in cases.items():
        unit = bad / f"supportes-{case}.service"
        unit.write_text(text)
        folder = tmp_path / case
        folder.mkdir()
        if case == "missing-binary":  # not substituted: the path stays missing
            (folder / unit.name).write_text(text)
            result = run([systemd_analyze(), "verify", "--man=no", unit.name], cwd=folder)
            assert (result.stdout + result.stderr).strip(), case
        else:
            assert verify_units([unit], folder), case


HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter": "@system-service",
    "CapabilityBoundingSet": "",
    "User": "supportes",
    "EnvironmentFile": "/etc/supportes/supportes.env",
    "Restart": "on-failure",
}


def unit_settings(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_units_are_hardened(unit: Path) -> None:
    found = unit_settings(unit)
    for key, value in HARDENING.items():
        assert value in found.get(key, []), f"{unit.name}: {key}={value}"
    assert found["StartLimitBurst"], "restarts are limited"
    stop = int(found["TimeoutStopSec"][0].removesuffix("s"))
    assert stop > 5, "longer than the graceful stop"
    assert found["ExecStart"][0].startswith(INSTALLED_SUPPORTES + " ")
    if unit.name == "supportes-migrate.service":
        assert found["Type"] == ["oneshot"]
        assert found["ExecStart"] == [f"{INSTALLED_SUPPORTES} stack up"]
    else:
        assert "supportes-migrate.service" in found["After"][0]
    if unit.name == "supportes-writer@.service":
        assert "SUPPORTES_WRITER_INSTANCE=%i" in found["Environment"]


# --- every artifact -----------------------------------------------------------------------


def test_every_supportes_variable_is_a_real_setting() -> None:
    real = {env_name(name) for name in Settings.model_fields}
    used: dict[str, set[str]] = {}
    for path in artifact_files():
        for name in re.findall(r"\bSUPPORTES_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()):
            used.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    unknown = {name: sorted(files) for name, files in used.items() if name not in real}
    assert not unknown, f"not settings of supportes.settings: {unknown}"
    assert {"SUPPORTES_WRITER_INSTANCE", "SUPPORTES_METRICS_LISTEN"} <= set(used)


SECRET_VALUE = re.compile(
    r"""(?ix)
    (password|passwd|secret|token|audit_key|api_key)["']?(?:\s*=|:)\s*["']?(?![$<{/\s"'])[^\s"',}]{6,}
    | ://[^/@\s:]+:[^/@\s]+@            # a password inside a URL
    | -----BEGIN[ A-Z]*PRIVATE\ KEY-----
    """
)


def test_no_secret_values_in_any_artifact(tmp_path: Path) -> None:
    for path in artifact_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SECRET_VALUE.search(line)
            assert match is None, f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
    # The checker itself finds one.
    assert SECRET_VALUE.search("SUPPORTES_KAFKA_PASSWORD=hunter22")
    assert SECRET_VALUE.search("postgresql://supportes:hunter22@db/supportes")
    # No value make-secrets.sh generates is in an artifact (e.g. pasted from a run).
    target = tmp_path / "secrets"
    assert run(["bash", MAKE_SECRETS, target]).returncode == 0
    texts = "\n".join(p.read_text() for p in artifact_files())
    for secret in target.glob("*-password"):
        assert secret.read_text().strip() not in texts


def probe_urls(compose: dict[str, Any]) -> Iterator[str]:
    for spec in compose["services"].values():
        test = spec.get("healthcheck", {}).get("test", [])
        yield from re.findall(r"https?://[^'\"\s]+", " ".join(test))


def test_every_probe_path_is_healthz_or_readyz(
    compose: dict[str, Any], manifests: list[dict[str, Any]]
) -> None:
    paths = [re.sub(r"^https?://[^/]+", "", url) for url in probe_urls(compose)]
    for _, spec in pod_specs(manifests):
        for container in spec["containers"]:
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if probe in container:
                    paths.append(container[probe]["httpGet"]["path"])
    assert len(paths) >= 10
    assert set(paths) <= PROBE_PATHS, set(paths) - PROBE_PATHS

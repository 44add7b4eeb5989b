# SPDX-License-Identifier: Apache-2.0
"""Static checks of the bundled stack: docker-compose.yml and every config file it mounts.

No container runs here (there is no Docker engine), so this checks what can be checked without one:
the compose file against the Compose specification (PyPI ``compose-spec``), the Prometheus config
with ``promtool`` and the Alertmanager config with ``amtool`` (Debian's 2.42 / 0.25, through
``stack.binary``), and the wiring between the files: every port, host name, path and label that
one file expects another to provide. The Collector and Tempo have no binary here; their configs
get structural checks.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import compose_spec
import pytest
import yaml

from stack import binary

ROOT = Path(__file__).resolve().parent.parent
# The stack ships inside the package; the repository's docker-compose.yml and grafana/ link here.
STACK = ROOT / "src" / "otel_llmperf" / "stack"
COMPOSE_FILE = STACK / "docker-compose.yml"
GRAFANA = STACK / "grafana"
COLLECTOR_CONFIG = GRAFANA / "otelcol" / "config.yaml"
PROMETHEUS_CONFIG = GRAFANA / "prometheus" / "prometheus.yml"
RULES_DIR = GRAFANA / "prometheus" / "rules"
ALERTMANAGER_CONFIG = GRAFANA / "alertmanager" / "alertmanager.yml"
TEMPO_CONFIG = GRAFANA / "tempo" / "tempo.yaml"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDER = GRAFANA / "provisioning" / "dashboards" / "llmperf.yaml"
DASHBOARDS_DIR = GRAFANA / "dashboards"

SERVICES = {"otel-collector", "prometheus", "tempo", "alertmanager", "grafana", "demo"}
# Host port -> service that publishes it (always on 127.0.0.1).
PUBLISHED = {
    3000: "grafana",
    9090: "prometheus",
    9093: "alertmanager",
    3200: "tempo",
    4317: "otel-collector",
    4318: "otel-collector",
    13133: "otel-collector",
}
NAMED_VOLUMES = {
    "prometheus-data": ("prometheus", "/prometheus"),
    "tempo-data": ("tempo", "/var/tempo"),
    "alertmanager-data": ("alertmanager", "/alertmanager"),
    "grafana-data": ("grafana", "/var/lib/grafana"),
}
# The only keys of prometheus.yml that Debian's promtool 2.42 does not know (Prometheus 3 only).
PROMETHEUS_3_ONLY_KEYS = {"otlp"}
DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards/llmperf"
# Tempo 2.x blocks that Tempo 3 refuses (its config is parsed strictly).
TEMPO_2_ONLY_BLOCKS = {"ingester", "ingester_client", "compactor", "metrics_generator_client"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module", name="compose")
def fixture_compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module", name="services")
def fixture_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose["services"]
    assert isinstance(services, dict)
    return services


def ports_of(service: dict[str, Any]) -> list[tuple[str | None, int | None, int]]:
    """(host ip, published port, container port) of each entry, short or long syntax."""
    result: list[tuple[str | None, int | None, int]] = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            published = entry.get("published")
            result.append((entry.get("host_ip"), int(published) if published else None, int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].rsplit(":", 2)
        if len(parts) == 3:
            result.append((parts[0].strip("[]") or None, int(parts[1]) if parts[1] else None, int(parts[2])))
        elif len(parts) == 2:
            result.append((None, int(parts[0]), int(parts[1])))
        else:
            result.append((None, None, int(parts[0])))
    return result


def mounts_of(service: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(type, source, target, read_only) of each volume entry, short or long syntax."""
    result: list[tuple[str, str, str, bool]] = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            result.append((entry["type"], str(entry.get("source", "")), entry["target"], bool(entry.get("read_only"))))
            continue
        source, target, *mode = str(entry).split(":")
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        result.append((kind, source, target, "ro" in ",".join(mode).split(",")))
    return result


def mount_target(service: dict[str, Any], source: str) -> str:
    matches = [target for _, src, target, _ in mounts_of(service) if src == source]
    assert len(matches) == 1, f"{source} is mounted {len(matches)} times"
    return matches[0]


def flag(service: dict[str, Any], name: str) -> str:
    """Value of ``--name=value`` (or ``-name=value``) in the service's command."""
    values = [arg.split("=", 1)[1] for arg in service["command"] if re.match(rf"^--?{re.escape(name)}=", arg)]
    assert len(values) == 1, f"{name} given {len(values)} times in {service['command']}"
    return values[0]


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1].split("/", maxsplit=1)[0])


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_file_is_valid_per_compose_spec() -> None:
    parsed = compose_spec.PyCompose.from_yaml(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert parsed.name == "otel-llmperf"
    assert set(parsed.service_names()) == SERVICES


def test_compose_spec_catches_mistakes() -> None:
    """The validator is strict: a typo and a malformed port are errors, not silently ignored."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    typo = text.replace("    environment:", "    enviroment:", 1)
    bad_port = text.replace('"127.0.0.1:', '"127.0.0.1:x', 1)
    for broken in (typo, bad_port):
        with pytest.raises(ValueError):
            compose_spec.PyCompose.from_yaml(broken)


def test_every_image_is_pinned_to_an_exact_version(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no explicit tag"
        assert tag != "latest" and re.fullmatch(r"v?\d+\.\d+\.\d+(-[a-z0-9.]+)?", tag), f"{name}: {image}"


def test_published_ports_are_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[int, str] = {}
    for name, service in services.items():
        for host_ip, published, target in ports_of(service):
            assert host_ip == "127.0.0.1", f"{name} publishes {target} on {host_ip or 'every interface'}"
            assert published == target, f"{name}: {published}:{target}"
            seen[target] = name
    assert seen == PUBLISHED


def test_bind_mounts_exist_under_grafana_and_are_read_only(services: dict[str, dict[str, Any]]) -> None:
    binds = 0
    for name, service in services.items():
        for kind, source, target, read_only in mounts_of(service):
            if kind != "bind":
                continue
            assert not PurePosixPath(source).is_absolute() and not source.startswith("~"), f"{name}: {source}"
            assert read_only, f"{name}: {source} -> {target} must be mounted read-only"
            if name == "demo" and source == "./wheels":
                continue  # the wheel `otel-llmperf stack init` writes; none is shipped
            path = (STACK / source).resolve()
            assert path.is_relative_to(GRAFANA), f"{name}: {source} is not under grafana/"
            assert path.exists(), f"{name}: {source} does not exist"
            binds += 1
    assert binds >= 6


def test_named_volumes_are_declared_and_used(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {
        (source, name, target)
        for name, service in services.items()
        for kind, source, target, _ in mounts_of(service)
        if kind == "volume"
    }
    assert {source for source, _, _ in used} <= declared
    assert declared == set(NAMED_VOLUMES)
    for volume, (service, target) in NAMED_VOLUMES.items():
        assert (volume, service, target) in used


def test_every_service_has_a_healthcheck_the_image_can_run(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}
    tests = {name: service["healthcheck"]["test"] for name, service in services.items()}
    # Busybox (prom/*) and Alpine (grafana) images have wget; Tempo and the Collector have no shell.
    for name, port, path in (("prometheus", 9090, "/-/ready"), ("alertmanager", 9093, "/-/ready"),
                             ("grafana", 3000, "/api/health")):  # fmt: skip
        assert tests[name] == ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}"]
    assert tests["tempo"] == ["CMD", "/tempo", "-health"]  # distroless: Tempo's own probe of :3200/ready
    # FROM scratch: the binary's `validate` is the one check it can run; the demo polls :13133.
    config_path = flag(services["otel-collector"], "config")
    assert tests["otel-collector"] == ["CMD", "/otelcol-contrib", "validate", f"--config={config_path}"]
    assert mount_target(services["otel-collector"], "./grafana/otelcol/config.yaml") == config_path


def test_dependencies_wait_for_what_they_need(services: dict[str, dict[str, Any]]) -> None:
    conditions = {
        name: {dep: spec["condition"] for dep, spec in service.get("depends_on", {}).items()}
        for name, service in services.items()
    }
    assert conditions["demo"] == {"otel-collector": "service_healthy"}
    assert conditions["otel-collector"] == {"prometheus": "service_healthy", "tempo": "service_started"}
    assert conditions["grafana"]["prometheus"] == "service_healthy"


def test_demo_sends_everything_over_otlp_to_the_collector(services: dict[str, dict[str, Any]]) -> None:
    demo = services["demo"]
    assert re.fullmatch(r"python:3\.1[12]\.\d+-slim", demo["image"])
    env = demo["environment"]
    assert env["OTEL_SERVICE_NAME"] == "otel-llmperf-demo"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    # otlp only: the scrape endpoint as well would have Prometheus store every series twice.
    assert env["OTEL_TRACES_EXPORTER"] == env["OTEL_METRICS_EXPORTER"] == env["OTEL_LOGS_EXPORTER"] == "otlp"
    assert env["OTEL_METRIC_EXPORT_INTERVAL"] == "5000"
    # The installed package, as a wheel `stack init` writes to ./wheels: never a repository checkout.
    assert mounts_of(demo) == [("bind", "./wheels", "/wheels", True)]
    script = demo["command"][-1]
    assert demo["command"][:2] == ["sh", "-c"]
    assert '"pip", "install"' in script and 'wheel + "[demo]"' in script and "/src" not in script
    assert "http://otel-collector:13133/" in script
    assert script.rstrip().endswith("exec otel-llmperf demo --refresh 30")
    assert demo["stop_signal"] == "SIGINT"  # the demo's clean shutdown path (KeyboardInterrupt)


def test_demo_scripts_parse() -> None:
    """The shell script and the two inline Python programs of the demo service are well-formed."""
    demo = load_yaml(COMPOSE_FILE)["services"]["demo"]
    script = demo["command"][-1]
    assert "$" not in script  # compose would interpolate it
    sh = shutil.which("sh")
    if sh:
        subprocess.run([sh, "-n", "-c", script], check=True, timeout=10)
    install, wait = re.findall(r"python -c '\n(.*?)\n'\n", script, re.S)
    compile(install, "demo-install", "exec")
    compile(wait, "demo-wait-for-collector", "exec")
    compile(demo["healthcheck"]["test"][-1], "demo-healthcheck", "exec")


def test_demo_without_a_wheel_stops_with_the_fix(tmp_path: Path) -> None:
    """An empty ./wheels (compose creates it when missing) ends the demo with what to put there."""
    script = load_yaml(COMPOSE_FILE)["services"]["demo"]["command"][-1]
    install = re.findall(r"python -c '\n(.*?)\n'\n", script, re.S)[0]
    assert '"/wheels/' in install
    result = subprocess.run(
        [sys.executable, "-c", install.replace('"/wheels/', f'"{tmp_path}/')],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "no otel_llmperf-*.whl in ./wheels" in result.stderr and "otel-llmperf stack init" in result.stderr


def test_no_absolute_path_of_this_machine_in_the_stack_files() -> None:
    for path in (COMPOSE_FILE, COLLECTOR_CONFIG, PROMETHEUS_CONFIG, ALERTMANAGER_CONFIG, TEMPO_CONFIG):
        text = path.read_text(encoding="utf-8")
        assert str(ROOT) not in text and str(Path.home()) + "/" not in text, path


# --- OpenTelemetry Collector -----------------------------------------------------------------


def test_collector_wires_otlp_in_to_prometheus_tempo_and_debug(services: dict[str, dict[str, Any]]) -> None:
    config = load_yaml(COLLECTOR_CONFIG)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert {"memory_limiter", "batch"} <= set(config["processors"])

    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"metrics", "traces", "logs"}
    for signal, pipeline in pipelines.items():
        assert pipeline["receivers"] == ["otlp"], signal
        assert pipeline["processors"][0] == "memory_limiter", signal  # first, as documented upstream
        assert pipeline["processors"][-1] == "batch", signal

    exporters = config["exporters"]
    (metrics,) = pipelines["metrics"]["exporters"]
    assert metrics.split("/")[0] in {"otlp_http", "otlphttp"}
    assert exporters[metrics]["endpoint"] == "http://prometheus:9090/api/v1/otlp"
    (traces,) = pipelines["traces"]["exporters"]
    assert traces.split("/")[0] in {"otlp_grpc", "otlp"}
    assert exporters[traces]["endpoint"] == "tempo:4317"
    (logs,) = pipelines["logs"]["exporters"]
    assert logs.split("/")[0] == "debug" and exporters[logs]["verbosity"] == "basic"

    # Every referenced component is defined (the Collector refuses to start otherwise), and
    # nothing defined is left unused.
    for section, key in (("receivers", "receivers"), ("processors", "processors"), ("exporters", "exporters")):
        used = {component for pipeline in pipelines.values() for component in pipeline[key]}
        assert used == set(config[section]), section
    assert config["service"]["extensions"] == ["health_check"]
    health_port = port_of(config["extensions"]["health_check"]["endpoint"])
    assert health_port == 13133 and PUBLISHED[health_port] == "otel-collector"
    # The demo's endpoint is the Collector's OTLP/HTTP port.
    demo_endpoint = services["demo"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert port_of(demo_endpoint) == port_of(protocols["http"]["endpoint"])


# --- Prometheus ------------------------------------------------------------------------------


@pytest.fixture(scope="module", name="prometheus_config")
def fixture_prometheus_config() -> dict[str, Any]:
    config = load_yaml(PROMETHEUS_CONFIG)
    assert isinstance(config, dict)
    return config


def test_prometheus_config_otlp_naming_and_targets(
    prometheus_config: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    otlp = prometheus_config["otlp"]
    assert {
        "service.name",
        "service.namespace",
        "service.instance.id",
        "deployment.environment",
        "deployment.environment.name",
    } <= set(otlp["promote_resource_attributes"])
    assert otlp["translation_strategy"] == "UnderscoreEscapingWithSuffixes"  # same names as the scrape path
    (alertmanagers,) = prometheus_config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    assert PUBLISHED[9093] == "alertmanager"
    jobs = {job["job_name"]: job for job in prometheus_config["scrape_configs"]}
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["localhost:9090"]}]
    # The scrape-path example stays in the file, commented out.
    text = PROMETHEUS_CONFIG.read_text(encoding="utf-8")
    assert re.search(r"^\s*# - job_name: \S+", text, re.M)
    assert re.search(r"^\s*#\s+- targets: \[\"[\w.-]+:9464\"\]", text, re.M)

    command = services["prometheus"]["command"]
    assert "--web.enable-otlp-receiver" in command
    assert "--enable-feature=exemplar-storage" in command
    # prometheus.yml and rules/ are mounted together, so the relative rule_files glob resolves.
    config_file = PurePosixPath(flag(services["prometheus"], "config.file"))
    assert config_file.name == PROMETHEUS_CONFIG.name
    assert mount_target(services["prometheus"], "./grafana/prometheus") == str(config_file.parent)


def test_promtool_check_config(prometheus_config: dict[str, Any], tmp_path: Path) -> None:
    """promtool 2.42 (Debian) on a copy without the Prometheus-3-only keys, and nothing else removed."""
    promtool = binary("promtool")
    copy = {key: value for key, value in prometheus_config.items() if key not in PROMETHEUS_3_ONLY_KEYS}
    assert set(prometheus_config) - set(copy) == PROMETHEUS_3_ONLY_KEYS
    # Relative rule_files resolve against the config file's directory: point them at the real ones.
    copy["rule_files"] = [str(PROMETHEUS_CONFIG.parent / pattern) for pattern in prometheus_config["rule_files"]]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(copy), encoding="utf-8")
    result = subprocess.run([promtool, "check", "config", str(checked)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # promtool also checked every rule file the glob loads (none yet: "0 rule files found").
    loaded = [path for pattern in copy["rule_files"] for path in Path("/").glob(pattern.lstrip("/"))]
    assert f"SUCCESS: {len(loaded)} rule files found" in result.stdout
    # The key really is one promtool 2.42 rejects: without this, the copy above would be needless.
    original = tmp_path / "original.yml"
    original.write_text(yaml.safe_dump({**copy, "otlp": prometheus_config["otlp"]}), encoding="utf-8")
    result = subprocess.run([promtool, "check", "config", str(original)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        assert "field otlp not found" in result.stdout + result.stderr


def test_rule_files_glob_loads_the_slo_rules_and_not_their_tests(prometheus_config: dict[str, Any]) -> None:
    patterns = prometheus_config["rule_files"]
    assert patterns and all(not PurePosixPath(pattern).is_absolute() for pattern in patterns)
    shipped = sorted(path.name for path in RULES_DIR.glob("*.y*ml")) if RULES_DIR.is_dir() else []
    assert shipped, "no rule file in grafana/prometheus/rules"
    loaded = {name for name in shipped for pattern in patterns if fnmatch.fnmatch(f"rules/{name}", pattern)}
    tests = {name for name in shipped if "test" in name}
    assert loaded, f"rule_files {patterns} match none of {shipped}"
    assert not loaded & tests, f"rule_files would load the rule unit tests {sorted(loaded & tests)}"
    assert loaded == set(shipped) - tests, f"rule files not loaded: {sorted(set(shipped) - tests - loaded)}"


def test_alert_severities_are_routed(prometheus_config: dict[str, Any]) -> None:
    """Every severity the shipped alert rules use reaches the page or the ticket receiver."""
    alerts = [
        rule
        for path in sorted(RULES_DIR.glob("*.y*ml")) if RULES_DIR.is_dir() and "test" not in path.name
        for group in (load_yaml(path) or {}).get("groups", [])
        for rule in group.get("rules", [])
        if "alert" in rule
    ]  # fmt: skip
    assert alerts, "no alerting rule in grafana/prometheus/rules"
    routes = load_yaml(ALERTMANAGER_CONFIG)["route"]["routes"]
    patterns = {}
    for route in routes:
        for matcher in route.get("matchers", []):
            match = re.fullmatch(r'severity=~"(.+)"', matcher)
            if match:
                patterns[route["receiver"]] = match.group(1)
    for rule in alerts:
        severity = rule.get("labels", {}).get("severity", "")
        receivers = [name for name, regex in patterns.items() if re.fullmatch(regex, severity)]
        assert receivers in (["page"], ["ticket"]), f"{rule['alert']}: severity {severity!r} -> {receivers}"


# --- Alertmanager ----------------------------------------------------------------------------


def amtool_check(path: Path) -> None:
    amtool = binary("amtool")
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_check_config() -> None:
    amtool_check(ALERTMANAGER_CONFIG)


def test_alertmanager_routes_page_and_ticket_to_placeholder_receivers() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    route = config["route"]
    assert route["receiver"] == "null"
    assert route["group_by"] == ["alertname", "slo", "job"]
    by_receiver = {child["receiver"]: child["matchers"] for child in route["routes"]}
    assert by_receiver == {"page": ['severity=~"page|critical"'], "ticket": ['severity=~"ticket|warning"']}
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    # Out of the box nothing is sent anywhere: every receiver is a name without integrations.
    assert receivers == {name: {"name": name} for name in ("null", "page", "ticket")}


def uncomment_examples(text: str) -> str:
    """The file with its commented receiver and SMTP examples turned on (prose comments stay)."""
    lines: list[str] = []
    in_example = False
    for line in text.splitlines():
        start = re.match(r"^(\s*)# ((?:webhook_configs|slack_configs|email_configs|global):.*)$", line)
        more = re.match(r"^(\s*)# (  .*)$", line)
        if start:
            lines.append(start.group(1) + start.group(2))
            in_example = True
        elif in_example and more:
            lines.append(more.group(1) + more.group(2))
        else:
            lines.append(line)
            in_example = False
    return "\n".join(lines) + "\n"


def test_alertmanager_examples_are_valid_once_uncommented(tmp_path: Path) -> None:
    enabled = uncomment_examples(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    config = yaml.safe_load(enabled)
    receivers = {receiver["name"]: set(receiver) - {"name"} for receiver in config["receivers"]}
    assert receivers == {"null": set(), "page": {"webhook_configs", "slack_configs"}, "ticket": {"email_configs"}}
    assert config["global"]["smtp_smarthost"]
    path = tmp_path / "alertmanager.yml"
    path.write_text(enabled, encoding="utf-8")
    amtool_check(path)


# --- Tempo -----------------------------------------------------------------------------------


def test_tempo_config_receives_otlp_and_stores_in_its_volume(services: dict[str, dict[str, Any]]) -> None:
    config = load_yaml(TEMPO_CONFIG)
    assert not TEMPO_2_ONLY_BLOCKS & set(config), "Tempo 3 refuses the 2.x blocks"
    protocols = config["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"  # the Collector's otlp_grpc/tempo target
    assert config["server"]["http_listen_port"] == 3200 and PUBLISHED[3200] == "tempo"
    trace = config["storage"]["trace"]
    assert trace["backend"] == "local"
    volume_target = PurePosixPath(NAMED_VOLUMES["tempo-data"][1])
    for path in (trace["wal"]["path"], trace["local"]["path"]):
        assert PurePosixPath(path).is_relative_to(volume_target), path
    tempo = services["tempo"]
    assert mount_target(tempo, "./grafana/tempo/tempo.yaml") == flag(tempo, "config.file")


# --- Grafana ---------------------------------------------------------------------------------


def test_grafana_is_provisioned_from_the_repository(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_SECURITY_ADMIN_USER"] == "admin"
    assert mount_target(grafana, "./grafana/provisioning") == "/etc/grafana/provisioning"
    assert mount_target(grafana, "./grafana/dashboards") == DASHBOARDS_MOUNT

    # The data sources point at the compose services, on the ports they listen on.
    datasources = {source["uid"]: source["url"] for source in load_yaml(DATASOURCES)["datasources"]}
    assert datasources == {
        "prometheus": "http://prometheus:9090",
        "tempo": "http://tempo:3200",
        "alertmanager": "http://alertmanager:9093",
    }
    if DASHBOARD_PROVIDER.exists():
        paths = {provider["options"]["path"] for provider in load_yaml(DASHBOARD_PROVIDER)["providers"]}
        assert DASHBOARDS_MOUNT in paths


def test_grafana_home_dashboard_is_a_shipped_dashboard(services: dict[str, dict[str, Any]]) -> None:
    home = PurePosixPath(services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home.parent == PurePosixPath(DASHBOARDS_MOUNT) and home.suffix == ".json"
    shipped = sorted(path.name for path in DASHBOARDS_DIR.glob("*.json")) if DASHBOARDS_DIR.is_dir() else []
    assert shipped, "no dashboard in grafana/dashboards"
    assert home.name in shipped, f"home dashboard {home.name} is not one of {shipped}"


def test_prometheus_keeps_data_longer_than_every_slo_period() -> None:
    """The error budget covers the SLO period only if Prometheus keeps that much history."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    flags = compose["services"]["prometheus"]["command"]
    retention = next(flag.split("=", 1)[1].split()[0] for flag in flags if "retention.time" in flag)
    match = re.fullmatch(r"(\d+)d", retention)
    assert match, retention
    days = int(match.group(1))
    spec = yaml.safe_load((ROOT / "grafana" / "slo.yaml").read_text())
    for slo in spec["slos"]:
        period = slo.get("period", "30d")
        assert period.endswith("d") and int(period[:-1]) < days, (slo["name"], period, retention)


def test_a_page_silences_the_ticket_of_the_same_slo() -> None:
    """Inhibition must compare labels both alerts share: their alertnames differ."""
    config = yaml.safe_load((ROOT / "grafana" / "alertmanager" / "alertmanager.yml").read_text())
    (rule,) = config["inhibit_rules"]
    assert "alertname" not in rule["equal"] and {"slo", "job"} <= set(rule["equal"])


# Where each store of the stack sets how long it keeps data (docs/privacy.md states each).
def _flag(flags: list[str], name: str) -> str | None:
    return next((flag.split("=", 1)[1].split()[0] for flag in flags if flag.startswith(f"{name}=")), None)


def test_every_store_sets_its_retention_and_the_privacy_page_states_it(services: dict[str, dict[str, Any]]) -> None:
    """Retention is explicit in each config (no silent default), and the privacy model says the same."""
    tempo = load_yaml(TEMPO_CONFIG)
    configured = {
        "Prometheus": _flag(services["prometheus"]["command"], "--storage.tsdb.retention.time"),
        "Tempo": tempo.get("backend_worker", {}).get("compaction", {}).get("block_retention"),
        "Alertmanager": _flag(services["alertmanager"]["command"], "--data.retention"),
    }
    assert all(re.fullmatch(r"\d+[hd]", str(value)) for value in configured.values()), configured
    privacy = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    section = privacy.split("## Where it is stored, and for how long", 1)[1].split("\n#", 1)[0]
    documented = dict(re.findall(r"^\| (\w+) \|[^\n]*?\| `(\d+[hd])` \|", section, flags=re.MULTILINE))
    assert documented == configured
    # Tempo 3 refuses the 2.x `compactor` block: retention must not be set there.
    assert "compactor" not in tempo

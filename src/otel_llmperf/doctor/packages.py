# SPDX-License-Identifier: Apache-2.0
"""Which provider SDKs and other GenAI instrumentations are installed, from package metadata only.

Nothing here imports an SDK or an instrumentation: versions and entry points come from
``importlib.metadata``, which reads the installed distributions' files.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import Distribution, EntryPoint, PackageNotFoundError, distribution, entry_points

from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts
from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from otel_llmperf.config import Settings
from otel_llmperf.doctor.findings import ERROR, INFO, OK, WARNING, Finding
from otel_llmperf.environment_variables import OTEL_PYTHON_LLMPERF_SDK_SPANS
from otel_llmperf.layering import GENAI_INSTRUMENTATION_MODULES
from otel_llmperf.providers.catalog import PROVIDERS, Provider

_GROUP = "opentelemetry_instrumentor"
_DISABLE = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
# anthropic 1.14 added its own tracing (anthropic/_tracing.py); earlier wheels lack it.
_ANTHROPIC_SELF_TRACING = Version("1.14")
# Distributions that instrument SDKs when the application calls their init(), without entry points.
_FRAMEWORKS = {
    "openlit": "openlit.init() wraps every SDK it knows from openlit.* modules; otel-llmperf layers "
    "beneath it and adds cost, time per output token and the feedback link",
    "traceloop-sdk": "Traceloop.init() turns on the OpenLLMetry instrumentations (opentelemetry-"
    "instrumentation-*): otel-llmperf layers beneath them and adds cost, time per output token and the feedback link",
}
# Other names a peer's entry point or requirement uses for the SDK one of ours instruments.
_ALIASES = {"boto3": "botocore", "bedrock": "botocore", "openai_v2": "openai", "mistral": "mistralai"}


@dataclass(frozen=True)
class Sdk:
    """One provider SDK as the instrumentation sees it."""

    key: str  # the adapter's short name: openai, anthropic, google_genai, bedrock, ...
    dist: str  # the distribution its requirement names
    requirement: str
    entry_point: str  # our entry point's name, which OTEL_PYTHON_DISABLED_INSTRUMENTATIONS takes
    version: str | None  # None: not installed
    patched: bool


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _version(dist: str) -> str | None:
    try:
        return distribution(dist).version
    except PackageNotFoundError:
        return None


def _installed(package: str) -> bool:
    # What instrument() asks; find_spec of a dotted name imports only the (namespace) parent.
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _conflict(requirement: str, version: str) -> bool:
    try:
        return not Requirement(requirement).specifier.contains(version, prereleases=True)
    except InvalidVersion:
        return True


def sdk_findings(settings: Settings) -> tuple[list[Sdk], list[Finding]]:
    """Each SDK: installed or not, with its version, and whether ``instrument()`` will patch it."""
    sdks: list[Sdk] = []
    findings: list[Finding] = []
    missing: list[str] = []
    disabled = settings.disabled_instrumentations
    for provider in PROVIDERS:
        sdk, finding = _sdk(provider, settings, disabled)
        sdks.append(sdk)
        if finding is None:
            missing.append(sdk.dist)
        else:
            findings.append(finding)
    if missing:
        findings.append(Finding("sdk", INFO, "not found", f"not installed: {', '.join(missing)}"))
    installed = [sdk for sdk in sdks if sdk.version is not None]
    if settings.sdk_disabled:
        findings.append(
            Finding(
                "sdk",
                ERROR,
                "all",
                "OTEL_SDK_DISABLED=true: instrument() does nothing, so nothing is recorded",
                "unset OTEL_SDK_DISABLED (or set it to false)",
            )
        )
    elif not installed:
        findings.append(
            Finding(
                "sdk",
                ERROR,
                "all",
                "no supported LLM SDK is installed in this Python environment: nothing to measure",
                "run the doctor with the application's Python; install the SDK it uses",
            )
        )
    elif not any(sdk.patched for sdk in sdks):
        findings.append(
            Finding(
                "sdk",
                ERROR,
                "all",
                f"every installed SDK is disabled by {_DISABLE}: nothing is recorded",
                f"remove the llmperf_* names (or *) from {_DISABLE}",
            )
        )
    return sdks, findings


def _sdk(adapter: Provider, settings: Settings, disabled: frozenset[str]) -> tuple[Sdk, Finding | None]:
    key = adapter.name.removeprefix("llmperf_")
    dist = Requirement(adapter.requirement).name
    version = _version(dist) if _installed(adapter.package) else None
    subject = key.replace("_", "-")
    name = f"{dist} {version}" if dist != subject else str(version)
    data = {"package": dist, "version": version, "supported": adapter.requirement, "entry_point": adapter.name}
    if version is None:
        return Sdk(key, dist, adapter.requirement, adapter.name, None, False), None
    if settings.sdk_disabled:
        finding = Finding("sdk", INFO, subject, f"{name}: not patched (OTEL_SDK_DISABLED)", data=data)
        return Sdk(key, dist, adapter.requirement, adapter.name, version, False), finding
    if adapter.name in disabled or "*" in disabled:
        which = adapter.name if adapter.name in disabled else "*"
        message = f"{name}: skipped, {_DISABLE} names {which}"
        finding = Finding("sdk", INFO, subject, message, data={**data, "status": "disabled"})
        return Sdk(key, dist, adapter.requirement, adapter.name, version, False), finding
    sdk = Sdk(key, dist, adapter.requirement, adapter.name, version, True)
    if _conflict(adapter.requirement, version):
        message = (
            f"{name} is outside the supported range ({adapter.requirement}): patched anyway; "
            "methods it lacks or changed are skipped"
        )
        fix = f"upgrade to {adapter.requirement}"
        return sdk, Finding("sdk", WARNING, subject, message, fix, {**data, "status": "unsupported version"})
    return sdk, Finding("sdk", OK, subject, f"{name}: patched when imported", data={**data, "status": "patched"})


def self_tracing_findings(sdks: Iterable[Sdk], settings: Settings) -> list[Finding]:
    """SDKs that trace themselves (anthropic >= 1.14) and what ``sdk_spans`` makes of their span."""
    findings = []
    for sdk in sdks:
        if sdk.key != "anthropic" or sdk.version is None or not _at_least(sdk.version, _ANTHROPIC_SELF_TRACING):
            continue
        if settings.sdk_spans:
            what = f"{OTEL_PYTHON_LLMPERF_SDK_SPANS}=true keeps its span, as a child of ours"
        else:
            what = "its span is left out while a GenAI layer records the call"
        findings.append(
            Finding(
                "peer",
                INFO,
                "anthropic",
                f"traces itself (anthropic >= 1.14): {what}",
                data={"self_tracing": True, "sdk_spans": settings.sdk_spans},
            )
        )
    return findings


def _at_least(version: str, minimum: Version) -> bool:
    try:
        return Version(version) >= minimum
    except InvalidVersion:
        return False


def _targets(entry: EntryPoint, dist: Distribution | None, known: dict[str, Sdk]) -> list[Sdk]:
    """The SDKs of ours that another instrumentation's entry point instruments."""
    names: list[str] = []
    for line in (dist.requires or []) if dist is not None else []:
        try:
            requirement = Requirement(line)
        except Exception:  # a malformed line in someone's metadata
            continue
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "instruments"}):
            names.append(requirement.name)
    names.append(entry.name)
    found: list[Sdk] = []
    for name in names:
        normal = _normal(name)
        normal = _ALIASES.get(normal, normal)
        sdk = known.get(normal)
        if sdk is not None and sdk not in found:
            found.append(sdk)
    return found


def _family(dist: Distribution) -> str:
    requires = dist.requires or []
    if any(_normal(line).startswith("opentelemetry_semantic_conventions_ai") for line in requires):
        return " (OpenLLMetry)"
    return ""


def peer_findings(sdks: Iterable[Sdk], settings: Settings) -> list[Finding]:
    """Other GenAI instrumentations of the same SDKs, and how they and otel-llmperf share a call."""
    known: dict[str, Sdk] = {}
    for sdk in sdks:
        known[_normal(sdk.dist)] = known[sdk.key] = sdk
    findings: list[Finding] = []
    for entry in sorted(entry_points(group=_GROUP), key=lambda item: (item.value, item.name)):
        dist = entry.dist
        if entry.value.startswith("otel_llmperf") or (dist is not None and _normal(dist.name) == "otel_llmperf"):
            continue
        for sdk in _targets(entry, dist, known):
            if sdk.version is None:
                continue  # instruments an SDK that is not installed
            findings.append(_peer(entry, dist, sdk, settings))
    for name, how in _FRAMEWORKS.items():
        version = _version(name)
        if version is not None:
            findings.append(Finding("peer", INFO, name, f"{name} {version}: {how}", data={"package": name}))
    return findings


def _peer(entry: EntryPoint, dist: Distribution | None, sdk: Sdk, settings: Settings) -> Finding:
    label = f"{dist.name} {dist.version}{_family(dist)}" if dist is not None else entry.value
    module = entry.value.partition(":")[0]
    subject = sdk.key.replace("_", "-")
    data = {"package": dist.name if dist else None, "entry_point": entry.name, "module": module, "sdk": sdk.dist}
    if entry.name in settings.disabled_instrumentations or "*" in settings.disabled_instrumentations:
        return Finding("peer", INFO, subject, f"{label}: disabled by {_DISABLE}", data={**data, "layering": "off"})
    conflict = get_dist_dependency_conflicts(dist) if dist is not None else None
    if conflict is not None:
        wanted = str(conflict.required).partition(";")[0].strip()
        message = f"{label} wants {wanted}, so it skips {sdk.dist} {sdk.version}"
        return Finding("peer", INFO, subject, message, data={**data, "layering": "inactive"})
    if not sdk.patched:
        message = f"{label}: records these calls alone (otel-llmperf does not patch {sdk.dist})"
        return Finding("peer", INFO, subject, message, data={**data, "layering": "alone"})
    if module.startswith(GENAI_INSTRUMENTATION_MODULES):
        message = (
            f"{label}: if active, it records span, duration, tokens; we add cost, time per output token, feedback link"
        )
        return Finding("peer", INFO, subject, message, data={**data, "layering": "beneath"})
    if module.startswith("openinference."):
        message = f"{label}: OpenInference spans beside ours; no metric is counted twice"
        return Finding("peer", INFO, subject, message, data={**data, "layering": "beside"})
    message = (
        f"{label}: not a layer otel-llmperf knows; if it records gen_ai.client.* metrics too, "
        "a call may be counted twice: disable one of them"
    )
    fix = f"{_DISABLE}={entry.name} (theirs) or {sdk.entry_point} (ours)"
    return Finding("peer", WARNING, subject, message, fix, {**data, "layering": "unknown"})

# SPDX-License-Identifier: Apache-2.0
"""Offline cost of a call, from its token usage and a price table.

The package ships ``prices.json``: dated list prices in USD per million tokens (input,
output, cache-read input, cache-write input, and a higher long-context tier where a provider
has one). Users extend or replace it with a JSON/YAML file (``OTEL_PYTHON_LLMPERF_PRICES``)
or a mapping (``instrument(prices=...)``). Nothing here touches the network.

Model names are matched in this order, for the provider's own table and then the general one:
the exact name; the name without a path (``models/gemini-2.5-pro``) and without dotted vendor
or region prefixes (``us.anthropic.claude-sonnet-4-5-...``); then the longest known name
followed by a version suffix (``-2024-08-06``, ``@20240620``, ``-latest``, ``-v1:0``,
``-preview-05-06``). Anything else is unknown: no cost, and one warning per model.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from otel_llmperf import _errors
from otel_llmperf.providers.base import Usage

_logger = _errors.logger("otel_llmperf")

_PER_TOKEN = 1e-6  # table prices are per million tokens
# A remainder that only names a version of the same model: a date, a number, v1, latest, a preview.
_VERSION_SUFFIX = re.compile(r"[-@:](?:\d|v\d|latest|preview|exp)")
# Dotted prefixes that are a vendor or a region, never part of a model name: letters only.
_DOTTED_PREFIX = re.compile(r"^[a-z][a-z-]*\.")
_MAX_REMEMBERED = 1024  # distinct model names whose lookup result is kept
# Longer names are cut before lookup and before being remembered: no price-table name is this
# long, and a client sending megabyte model names must not make the cache hold megabytes.
_MAX_MODEL_LENGTH = 256
_MAX_WARNED = 100


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens of one model; cache prices default to the input price."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write_input: float | None = None
    long_context: LongContext | None = None

    def cost(self, usage: Usage) -> float | None:
        """The USD cost of ``usage``, or ``None`` when it has no token counts at all."""
        input_tokens = usage.input_tokens or 0
        output_tokens = usage.output_tokens or 0
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        tier: Price | LongContext = self
        if self.long_context is not None and input_tokens > self.long_context.threshold:
            tier = self.long_context
        cache_read = usage.cache_read_input_tokens or 0
        cache_write = usage.cache_creation_input_tokens or 0
        # gen_ai.usage.input_tokens includes cached tokens; only the rest is billed at the input price.
        uncached = max(input_tokens - cache_read - cache_write, 0)
        cached_price = tier.cached_input if tier.cached_input is not None else tier.input
        write_price = tier.cache_write_input if tier.cache_write_input is not None else tier.input
        total = uncached * tier.input + cache_read * cached_price + cache_write * write_price
        return (total + output_tokens * tier.output) * _PER_TOKEN


@dataclass(frozen=True, slots=True)
class LongContext:
    """Higher prices that apply when the input is above ``threshold`` tokens."""

    threshold: int
    input: float
    output: float
    cached_input: float | None = None
    cache_write_input: float | None = None


class PriceError(ValueError):
    """A price table or one of its entries is malformed."""


def _number(entry: Mapping[str, Any], key: str, required: bool) -> float | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise PriceError(f"missing {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PriceError(f"{key!r} must be a non-negative number, got {value!r}")
    return float(value)


def parse_price(entry: Any) -> Price:
    """One table entry as a :class:`Price`; raises :class:`PriceError` when malformed."""
    if not isinstance(entry, Mapping):
        raise PriceError(f"expected an object with input/output prices, got {type(entry).__name__}")
    unknown = set(entry) - {"input", "output", "cached_input", "cache_write_input", "long_context"}
    if unknown:
        raise PriceError(f"unknown field(s) {', '.join(sorted(unknown))}")
    long_context = None
    tier = entry.get("long_context")
    if tier is not None:
        if not isinstance(tier, Mapping):
            raise PriceError("'long_context' must be an object")
        threshold = tier.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
            raise PriceError("'long_context.threshold' must be a positive integer (input tokens)")
        long_context = LongContext(
            threshold,
            _number(tier, "input", True) or 0.0,
            _number(tier, "output", True) or 0.0,
            _number(tier, "cached_input", False),
            _number(tier, "cache_write_input", False),
        )
    return Price(
        _number(entry, "input", True) or 0.0,
        _number(entry, "output", True) or 0.0,
        _number(entry, "cached_input", False),
        _number(entry, "cache_write_input", False),
        long_context,
    )


def _parse_models(where: str, table: Any) -> dict[str, Price]:
    if not isinstance(table, Mapping):
        raise PriceError(f"{where} must be an object of model name to prices")
    parsed: dict[str, Price] = {}
    for model, entry in table.items():
        try:
            parsed[str(model).strip().lower()] = parse_price(entry)
        except PriceError as error:
            _logger.warning("otel-llmperf prices: %s[%r] skipped: %s", where, model, error)
    return parsed


@dataclass(frozen=True)
class PriceDocument:
    """A parsed price file or mapping: general prices, per-provider prices, and whether it replaces."""

    prices: Mapping[str, Price]
    providers: Mapping[str, Mapping[str, Price]]
    replace: bool = False
    as_of: str | None = None


def parse_document(document: Any, where: str) -> PriceDocument:
    """A price document (``{"prices": ..., "providers": ..., "replace": ...}``) or a bare model table."""
    if not isinstance(document, Mapping):
        raise PriceError(f"{where}: expected an object, got {type(document).__name__}")
    if not ({"prices", "providers", "replace"} & set(document)):
        return PriceDocument(_parse_models(where, document), {})
    replace = document.get("replace", False)
    if not isinstance(replace, bool):
        raise PriceError(f"{where}: 'replace' must be true or false")
    providers = document.get("providers") or {}
    if not isinstance(providers, Mapping):
        raise PriceError(f"{where}: 'providers' must be an object of provider name to model table")
    as_of = document.get("as_of")
    return PriceDocument(
        _parse_models(f"{where} prices", document.get("prices") or {}),
        {str(name): _parse_models(f"{where} providers.{name}", table) for name, table in providers.items()},
        replace,
        str(as_of) if as_of is not None else None,
    )


def read_document(path: str | Path) -> PriceDocument:
    """Read a JSON (or, by extension, YAML) price file."""
    file = Path(path).expanduser()
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    return parse_document(data, str(file.name))


@cache
def shipped_document() -> PriceDocument:
    """The price table inside the package."""
    text = resources.files("otel_llmperf").joinpath("prices.json").read_text(encoding="utf-8")
    return parse_document(json.loads(text), "prices.json")


def candidates(model: str) -> list[str]:
    """The names a model is looked up by, most specific first."""
    name = model.strip().lower()
    found = [name]
    if "/" in name:
        name = name.rsplit("/", 1)[1]
        found.append(name)
    for _ in range(3):  # us.anthropic.claude-... → anthropic.claude-... → claude-...
        stripped = _DOTTED_PREFIX.sub("", name, count=1)
        if stripped == name or not stripped:
            break
        name = stripped
        found.append(name)
    return found


def _match(table: Mapping[str, Price], names: list[str]) -> Price | None:
    for name in names:
        price = table.get(name)
        if price is not None:
            return price
    best: tuple[int, Price] | None = None
    for name in names:
        for known, price in table.items():
            if (
                len(name) > len(known)
                and name.startswith(known)
                and _VERSION_SUFFIX.match(name, len(known))
                and (best is None or len(known) > best[0])
            ):
                best = (len(known), price)
    return best[1] if best is not None else None


class PriceTable:
    """Looks up the price of a model, remembering answers (unknown ones too) per provider and model."""

    def __init__(
        self,
        prices: Mapping[str, Price],
        providers: Mapping[str, Mapping[str, Price]] | None = None,
        as_of: str | None = None,
    ) -> None:
        self.prices = dict(prices)
        self.providers = {name: dict(table) for name, table in (providers or {}).items()}
        self.as_of = as_of
        self._lookups: dict[tuple[str, str], Price | None] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PriceTable):
            return NotImplemented
        return (self.prices, self.providers, self.as_of) == (other.prices, other.providers, other.as_of)

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.prices) + sum(len(table) for table in self.providers.values())

    def find(self, provider: str, model: str) -> Price | None:
        """The price of ``model`` as served by ``provider``, or ``None`` when not in the table."""
        if len(model) > _MAX_MODEL_LENGTH:
            model = model[:_MAX_MODEL_LENGTH]
        key = (provider, model)
        try:
            return self._lookups[key]
        except KeyError:
            pass
        names = candidates(model)
        own = self.providers.get(provider)
        price = (_match(own, names) if own else None) or _match(self.prices, names)
        if len(self._lookups) < _MAX_REMEMBERED:
            self._lookups[key] = price
        return price

    def cost(self, provider: str, models: tuple[str | None, ...], usage: Usage) -> float | None:
        """The USD cost of ``usage`` with the first model that has a price; warn once when none has."""
        named = [model for model in models if model]
        for model in named:
            price = self.find(provider, model)
            if price is not None:
                return price.cost(usage)
        if named:
            self._warn_unknown(provider, named[-1])
        return None

    def _warn_unknown(self, provider: str, model: str) -> None:
        model = model[:_MAX_MODEL_LENGTH]
        with self._lock:
            if model in self._warned or len(self._warned) > _MAX_WARNED:
                return
            self._warned.add(model)
            last = len(self._warned) > _MAX_WARNED
        _logger.warning(
            "otel-llmperf: no price for model %r (provider %s); its calls record no llmperf.usage.cost. "
            "Add it with OTEL_PYTHON_LLMPERF_PRICES or instrument(prices=...).%s",
            model,
            provider,
            " Further unknown models are not reported." if last else "",
        )


def build_table(documents: list[PriceDocument]) -> PriceTable:
    """Documents overlaid in order (later names win); ``replace`` drops everything before it."""
    prices: dict[str, Price] = {}
    providers: dict[str, dict[str, Price]] = {}
    as_of = None
    for document in documents:
        if document.replace:
            prices, providers, as_of = {}, {}, None
        prices.update(document.prices)
        for name, table in document.providers.items():
            providers.setdefault(name, {}).update(table)
        as_of = document.as_of or as_of
    return PriceTable(prices, providers, as_of)


def load_prices(given: Any, path: str | None) -> PriceTable:
    """The price table: shipped, then the file named by the variable, then ``given`` (mapping or path).

    A file or mapping that cannot be read is reported and left out; cost tracking never stops
    the application from starting.
    """
    documents: list[PriceDocument] = []
    try:
        documents.append(shipped_document())
    except Exception as error:  # a broken install must not stop the application
        _logger.warning("otel-llmperf: the shipped price table could not be read (%s)", error)
    for source in (path, given):
        if source is None or source == "":
            continue
        try:
            if isinstance(source, Mapping):
                documents.append(parse_document(source, "prices="))
            else:
                documents.append(read_document(source))
        except Exception as error:  # malformed JSON/YAML, unreadable file: report, go on without it
            _logger.warning("otel-llmperf prices: %s could not be used (%s); it is ignored", source, error)
    return build_table(documents)

# SPDX-License-Identifier: Apache-2.0
"""Offline cost of a call, from its token usage and a price table.

Prices come from pydantic's ``genai-prices`` (its bundled data: dated list prices of many
providers, with cache, reasoning and input-size tiers; see :mod:`otel_llmperf.price_source`),
then the package's small ``prices.json`` for models genai-prices leaves out, all under the
user's own: a JSON/YAML file (``OTEL_PYTHON_LLMPERF_PRICES``) or a mapping
(``instrument(prices=...)``) in USD per million tokens, which win, and which can replace the
bundled data altogether (``"replace": true``). Nothing here touches the network.

The user's model names are matched in this order, for the provider's own table and then the
general one: the exact name; the name without a path (``models/gemini-2.5-pro``) and without
dotted vendor or region prefixes (``us.anthropic.claude-sonnet-4-5-...``); then the longest known
name followed by a version suffix (``-2024-08-06``, ``@20240620``, ``-latest``, ``-v1:0``,
``-preview-05-06``). genai-prices matches with its own rules (see ``price_source.names``).
Anything else is unknown: no cost, and one warning per model.

A model is resolved once to a :class:`Price` (remembered per provider and model) and each call
is priced with a few float operations: genai-prices' own ``calc_price`` costs ~94 µs a call.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from otel_llmperf import _errors
from otel_llmperf.price import _FOREVER, _PER_TOKEN, Price, Rates, candidates

if TYPE_CHECKING:
    from otel_llmperf.providers.base import Usage

_logger = _errors.logger("otel_llmperf")

# A remainder that only names a version of the same model: a date, a number, v1, latest, a preview.
_VERSION_SUFFIX = re.compile(r"[-@:](?:\d|v\d|latest|preview|exp)")
_MAX_REMEMBERED = 1024  # distinct model names whose lookup result is kept
# Longer names are cut before lookup and before being remembered: no price-table name is this
# long, and a client sending megabyte model names must not make the cache hold megabytes.
_MAX_MODEL_LENGTH = 256
_MAX_WARNED = 100


def per_million(
    input: float,  # noqa: A002 -- the field names of a price file
    output: float,
    cached_input: float | None = None,
    cache_write_input: float | None = None,
    long_context: tuple[int, Rates] | None = None,
) -> Price:
    """A :class:`Price` from USD per million tokens; cache prices default to the input price."""
    rates = _rates_per_million(input, output, cached_input, cache_write_input)
    return Price(rates, (long_context,) if long_context is not None else ())


def _rates_per_million(
    input: float,  # noqa: A002 -- the field names of a price file
    output: float,
    cached_input: float | None,
    cache_write_input: float | None,
) -> Rates:
    write = input if cache_write_input is None else cache_write_input
    return Rates(
        input * _PER_TOKEN,
        output * _PER_TOKEN,
        (input if cached_input is None else cached_input) * _PER_TOKEN,
        write * _PER_TOKEN,
        write * _PER_TOKEN,
        output * _PER_TOKEN,
    )


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
        long_context = (
            threshold,
            _rates_per_million(
                _number(tier, "input", True) or 0.0,
                _number(tier, "output", True) or 0.0,
                _number(tier, "cached_input", False),
                _number(tier, "cache_write_input", False),
            ),
        )
    return per_million(
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
    label: str = ""  # where it came from: a path or "prices="


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


def read_document(path: str | os.PathLike[str]) -> PriceDocument:
    """Read a JSON (or, by extension, YAML) price file."""
    from pathlib import Path  # only for a user's price file

    file = Path(path).expanduser()
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    return parse_document(data, str(file.name))


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
    """Looks up the price of a model, remembering answers (unknown ones too) per provider and model.

    The user's prices (``prices``, ``providers``) win; then, unless ``bundled`` is false, the
    prices of genai-prices' bundled data, which load on :meth:`warm` or on the first lookup that
    needs them, whichever comes first, and last the package's ``prices.json`` for the few
    models genai-prices leaves out.
    """

    def __init__(
        self,
        prices: Mapping[str, Price],
        providers: Mapping[str, Mapping[str, Price]] | None = None,
        as_of: str | None = None,
        bundled: bool = False,
        overrides: tuple[str, ...] = (),
    ) -> None:
        self.prices = dict(prices)
        self.providers = {name: dict(table) for name, table in (providers or {}).items()}
        self.as_of = as_of
        self.bundled = bundled
        self.overrides = overrides  # where the user's prices came from, for :attr:`source`
        self._lookups: dict[tuple[str, str], Price | None] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._loaded = not bundled
        self._source: Any = None  # price_source.Source once loaded
        self._failure: str | None = None
        self._described: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PriceTable):
            return NotImplemented
        return (self.prices, self.providers, self.as_of, self.bundled) == (
            other.prices,
            other.providers,
            other.as_of,
            other.bundled,
        )

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.prices) + sum(len(table) for table in self.providers.values())

    def warm(self) -> None:
        """Load the bundled prices now (about 0.25 s, once per process), so no call waits for them.

        Idempotent and thread-safe; never raises: without genai-prices only the user's prices apply.
        """
        if self._loaded:
            return
        with self._load_lock:
            if self._loaded:
                return
            try:
                from otel_llmperf import price_source

                self._source = price_source.load()
            except Exception as error:  # not installed, a broken install: price what the user priced
                self._failure = f"{type(error).__name__}: {error}"
                _logger.warning(
                    "otel-llmperf: genai-prices could not be loaded (%s); only prices from "
                    "OTEL_PYTHON_LLMPERF_PRICES or prices= are used",
                    self._failure,
                )
            self._loaded = True
        if self._failure is None:
            # The start-up line could only say where prices will come from; now they have a date.
            _logger.info("otel-llmperf: prices loaded: %s", self.source)

    @property
    def failure(self) -> str | None:
        """Why the bundled prices could not be loaded, if they could not."""
        return self._failure

    @property
    def source(self) -> str:
        """Which prices are in use, for people: the data set, its date, and where overrides came from."""
        if not self.bundled:
            described = "no bundled prices"
        elif self._failure is not None:
            described = f"no bundled prices (genai-prices failed to load: {self._failure})"
        elif self._source is None:
            # No version yet: reading package metadata costs instrument() ~15 ms; the load says it.
            described = "genai-prices (bundled data, loads on first use)"
        else:
            if self._described is None:
                newest = self._source.newest_price_date()
                self._described = (
                    f"genai-prices {self._source.version} (bundled data, newest price {newest})"
                    f" + fallback prices.json ({fallback_document().as_of})"
                )
            described = self._described
        if self.overrides:
            described += " + overrides from " + ", ".join(self.overrides)
        return described

    def find(self, provider: str, model: str) -> Price | None:
        """The price of ``model`` as served by ``provider``, or ``None`` when no source has one."""
        if len(model) > _MAX_MODEL_LENGTH:
            model = model[:_MAX_MODEL_LENGTH]
        key = (provider, model)
        try:
            price = self._lookups[key]
        except KeyError:
            pass
        else:
            if price is None or price.until == _FOREVER or time.time() < price.until:
                return price
        price = self._resolve(provider, model)
        if len(self._lookups) < _MAX_REMEMBERED or key in self._lookups:
            self._lookups[key] = price
        return price

    def _resolve(self, provider: str, model: str) -> Price | None:
        names = candidates(model)
        own = self.providers.get(provider)
        price = (_match(own, names) if own else None) or _match(self.prices, names)
        if price is not None or not self.bundled:
            return price
        self.warm()
        found: Price | None = None
        if self._source is not None:
            try:
                found = self._source.find(provider, model)
            except Exception as error:  # odd data must cost a price, never the call
                _errors.report("looking up a price", error)
        if found is None:
            fallback = fallback_document()
            shipped = fallback.providers.get(provider)
            found = (_match(shipped, names) if shipped else None) or _match(fallback.prices, names)
        return found

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


@cache
def fallback_document() -> PriceDocument:
    """The few models genai-prices does not price, shipped in the package (``prices.json``)."""
    try:
        from importlib import resources  # not at import: instrument() must stay light

        text = resources.files("otel_llmperf").joinpath("prices.json").read_text(encoding="utf-8")
        return parse_document(json.loads(text), "prices.json")
    except Exception as error:  # a broken install must not stop the application
        _logger.warning("otel-llmperf: the fallback price table could not be read (%s)", error)
        return PriceDocument({}, {})


def build_table(documents: list[PriceDocument], bundled: bool = True) -> PriceTable:
    """Documents overlaid on the bundled prices in order (later names win); ``replace`` drops what came before."""
    prices: dict[str, Price] = {}
    providers: dict[str, dict[str, Price]] = {}
    as_of = None
    overrides: list[str] = []
    for document in documents:
        if document.replace:
            prices, providers, as_of, bundled, overrides = {}, {}, None, False, []
        prices.update(document.prices)
        for name, table in document.providers.items():
            providers.setdefault(name, {}).update(table)
        as_of = document.as_of or as_of
        overrides.append(document.label)
    return PriceTable(prices, providers, as_of, bundled, tuple(overrides))


def load_prices(given: Any, path: str | None) -> PriceTable:
    """The price table: genai-prices' bundled data, then the file named by the variable, then ``given``.

    ``given`` is a mapping or a path. A file or mapping that cannot be read is reported and left
    out; cost tracking never stops the application from starting. Nothing is loaded from
    genai-prices here: that waits for :meth:`PriceTable.warm` or the first price asked for.
    """
    documents: list[PriceDocument] = []
    for source in (path, given):
        if source is None or source == "":
            continue
        try:
            if isinstance(source, Mapping):
                documents.append(replace(parse_document(source, "prices="), label="prices="))
            else:
                documents.append(replace(read_document(source), label=str(source)))
        except Exception as error:  # malformed JSON/YAML, unreadable file: report, go on without it
            _logger.warning("otel-llmperf prices: %s could not be used (%s); it is ignored", source, error)
    return build_table(documents)

# SPDX-License-Identifier: Apache-2.0
"""Structured call logs: one record per LLM call on the ``otel_llmperf.calls`` logger.

Opt-in with ``OTEL_PYTHON_LLMPERF_LOG_CALLS=true``. The fields travel on the record as
``record.llmperf`` (a dict), so any handler can use them; :class:`JsonFormatter` writes them
as one JSON object per line. Failed calls log at WARNING, others at INFO.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from otel_llmperf import _errors

# Through the safe logger: a handler that raises drops the record, never fails the call.
CALL_LOGGER = _errors.logger("otel_llmperf.calls")


def log_call(fields: dict[str, Any]) -> None:
    """Write one call's record (only when the logger would keep it)."""
    level = logging.WARNING if fields.get("error_type") else logging.INFO
    if not CALL_LOGGER.isEnabledFor(level):
        return
    ttfc = fields.get("time_to_first_chunk_s")
    CALL_LOGGER.log(
        level,
        "%s %s %s: %.3f s%s, tokens %s in / %s out%s",
        fields.get("operation"),
        fields.get("model") or "-",
        fields.get("provider"),
        fields.get("duration_s", 0.0),
        f", first chunk {ttfc:.3f} s" if ttfc is not None else "",
        fields.get("input_tokens", "-") if fields.get("input_tokens") is not None else "-",
        fields.get("output_tokens", "-") if fields.get("output_tokens") is not None else "-",
        f", error {fields['error_type']}" if fields.get("error_type") else "",
        extra={"llmperf": fields},
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the ``llmperf`` fields.

    Attach it to any handler::

        handler = logging.StreamHandler()
        handler.setFormatter(otel_llmperf.JsonFormatter())
        logging.getLogger("otel_llmperf.calls").addHandler(handler)
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "llmperf", None)
        if isinstance(fields, dict):
            document.update(fields)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False, default=str)

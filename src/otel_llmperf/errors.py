# SPDX-License-Identifier: Apache-2.0
"""Errors raised for bad input to otel-llmperf's own API (never for the SDK calls it observes)."""

from __future__ import annotations


class FeedbackError(ValueError):
    """Input that cannot be recorded (feedback, evaluations, labels); the message names the field."""


class InvalidFeedbackToken(FeedbackError):
    """A feedback token that is malformed, unsigned, forged, altered or expired."""


class ExperimentError(FeedbackError):
    """A bad experiment declaration or assignment (unknown experiment, bad weights); the message names the field."""

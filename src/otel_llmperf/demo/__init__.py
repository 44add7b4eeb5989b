"""Loopback fake LLM server and traffic generator for the demo and the tests."""

from __future__ import annotations

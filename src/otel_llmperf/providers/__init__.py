# SPDX-License-Identifier: Apache-2.0
"""Provider adapters: one module of data and pure functions per LLM SDK."""

from __future__ import annotations

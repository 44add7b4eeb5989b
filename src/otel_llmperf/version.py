# SPDX-License-Identifier: Apache-2.0
"""The package version, read by hatch and by the instrumentation scope."""

from __future__ import annotations

__version__ = "0.1.0"

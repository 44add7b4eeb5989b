# SPDX-License-Identifier: Apache-2.0
"""The `otel-llmperf report` command (placeholder docstring; the lead rewrites it)."""

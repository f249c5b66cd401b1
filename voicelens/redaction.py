"""Keeping secrets out of logs, metrics and reports.

A webhook URL's path and query can carry tokens (the user's real URL does), so anything that
leaves the process names a webhook only as ``scheme://host[:port]/…``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["redact_url"]


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…`` — never the path, query, fragment or user info."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable url>"
    scheme = parts.scheme or "?"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}{port}/…"

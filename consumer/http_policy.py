"""The HTTP policy both webhook clients follow, and the checks they share.

Whichever client posts (``pooled`` or ``aiohttp``, the latter also behind a proxy), a webhook
sees the same requests and delivery draws the same conclusions from the same answers:

- a redirect is never followed unless asked (``--follow-redirects``), and then only a 307 or
  308 (which keep the method and body) to the same origin (scheme, host and port), at most
  :data:`MAX_REDIRECTS` times; any other 3xx is returned, so it ends as ``redirected``;
- the webhook URL carries no credentials (``user:pass@``): refused at start-up, since the two
  clients would not send them alike;
- header values are visible ASCII: anything else (non-ASCII, CR/LF, NUL) is refused before a
  byte is sent, as :class:`~consumer.exceptions.UnsendableError`;
- an answer is its status line and headers: the body is read only to keep the connection in
  step, up to :data:`BODY_CAP` bytes; past the cap, cut off, or not finished within the
  timeout, the connection is dropped and the status stands;
- idle keep-alive connections expire after ``idle_timeout`` and are never reused once the peer
  has closed them.

The clients themselves are in ``transport.py`` and ``aiohttp_transport.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import SplitResult, urljoin, urlsplit

from voicelens.consumer.exceptions import UnsendableError

__all__ = [
    "BODY_CAP",
    "MAX_REDIRECTS",
    "Headers",
    "HttpAnswer",
    "HttpClient",
    "HttpPolicy",
    "RedirectRefusal",
    "check_headers",
    "check_webhook_url",
    "follow_redirects",
    "origin_of",
]

Headers = Sequence[tuple[str, str]]
#: ``pooled``: keep-alive connections parsed by httptools (fast); ``aiohttp``: its client.
HttpClient = Literal["pooled", "aiohttp"]

#: Bytes of an answer's body read at most; the rest is never read (the connection is dropped).
BODY_CAP = 64 * 1024
#: Redirects followed for one request at most (with ``follow_redirects``).
MAX_REDIRECTS = 5
_KEEPS_METHOD = frozenset({307, 308})


class RedirectRefusal(enum.Enum):
    """Why a 3xx answer was not followed although following was asked for."""

    CHANGES_METHOD = "only 307 and 308 are followed (others turn a POST into a GET)"
    NO_LOCATION = "no Location header"
    OTHER_ORIGIN = "to another scheme, host or port"
    TOO_MANY = f"more than {MAX_REDIRECTS} redirects"


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What delivery needs of a response: its status, ``Retry-After`` and ``Location``.

    ``refusal`` says why a 3xx was not followed when following was on.
    """

    status: int
    retry_after: str | None = None
    location: str | None = None
    refusal: RedirectRefusal | None = None


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Timeouts and redirect handling of one webhook client (seconds)."""

    #: The whole attempt: connecting, writing the request and reading the answer.
    timeout: float = 30.0
    #: Opening a connection (TCP and TLS handshake), within ``timeout``.
    connect_timeout: float = 10.0
    #: A keep-alive connection idle this long is closed, not reused: below the 5 s of
    #: uvicorn, Node.js and Apache, so the server rarely closes one as it is being reused.
    idle_timeout: float = 4.0
    follow_redirects: bool = False


def check_webhook_url(url: str) -> SplitResult:
    """The parts of a URL both clients can post to; ValueError saying what is wrong.

    The message never repeats the URL: its path and query may hold a token.
    """
    if not url.isascii():
        msg = "must be ASCII (percent-encode the path, punycode the host)"
        raise ValueError(msg)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = "must be an http(s) URL with a host"
        raise ValueError(msg)
    if parts.username is not None or parts.password is not None:
        msg = "must not carry credentials (user:password@): put a token in the path or query"
        raise ValueError(msg)
    try:
        parts.port  # noqa: B018 - a port out of range or not a number raises here
    except ValueError as exc:
        msg = "has an invalid port"
        raise ValueError(msg) from exc
    return parts


def origin_of(parts: SplitResult) -> tuple[str, str, int]:
    """Scheme, host and port (the default one when not written)."""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def check_headers(headers: Headers) -> None:
    """UnsendableError unless every header value is visible ASCII.

    HTTP/1.1 carries bytes, and clients differ in how they encode other characters (Latin-1,
    UTF-8, or an error); a Standard Webhooks signature over a ``webhook-id`` would not verify
    after such a round trip. CR, LF and NUL would inject headers.
    """
    for name, value in headers:
        if not (value.isascii() and value.isprintable()):
            msg = f"header {name} is not visible ASCII (a line break, NUL or non-ASCII text)"
            raise UnsendableError(msg)


async def follow_redirects(
    policy: HttpPolicy,
    url: str,
    answer: HttpAnswer,
    send: Callable[[str], Awaitable[HttpAnswer]],
) -> HttpAnswer:
    """The answer after following ``answer``'s redirects as the policy allows.

    ``send(target)`` posts the same request again to ``target`` (path and query) on the
    webhook's own origin. A 3xx that is not followed is returned as it is, with ``refusal``
    set when following was on.
    """
    if not policy.follow_redirects:
        return answer
    origin = origin_of(urlsplit(url))
    current, hops = url, 0
    while 300 <= answer.status < 400:
        refusal: RedirectRefusal | None = None
        if answer.status not in _KEEPS_METHOD:
            refusal = RedirectRefusal.CHANGES_METHOD
        elif not answer.location:
            refusal = RedirectRefusal.NO_LOCATION
        elif hops == MAX_REDIRECTS:
            refusal = RedirectRefusal.TOO_MANY
        else:
            current = urljoin(current, answer.location.strip())
            try:
                parts = check_webhook_url(current)
            except ValueError:
                refusal = RedirectRefusal.OTHER_ORIGIN
            else:
                if origin_of(parts) != origin:
                    refusal = RedirectRefusal.OTHER_ORIGIN
        if refusal is not None:
            return replace(answer, refusal=refusal)
        hops += 1
        answer = await send((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    return answer

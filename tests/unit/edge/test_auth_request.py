"""The refusal an auth check hands nginx, and the header that carries it (``auth_request``).

nginx itself is in ``tests/e2e/test_nginx_refusals.py``; here the two halves are checked
without it: what ``for_auth_request`` makes of each answer of a check, and that ``decode``
takes only what ``encode`` writes, bounded, whoever sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from dynopypi.edge.auth_request import (
    HEADER_LIMIT,
    MESSAGE_LIMIT,
    REFUSAL_HEADER,
    Refusal,
    decode,
    encode,
    for_auth_request,
)

Answer = tuple[str, list[tuple[str, str]], bytes]


def run(answer: Answer, path: str = "/_authorize/update") -> Answer:
    """``answer`` as a WSGI app gives it, then as ``for_auth_request`` passes it on."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(answer[0], answer[1])
        return [answer[2]]

    seen: list[Any] = []
    body = b"".join(
        for_auth_request(app)({"PATH_INFO": path}, lambda s, h, *e: seen.extend((s, h)))
    )
    return seen[0], seen[1], body


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name.lower()), None)


@pytest.mark.parametrize(
    "refusal",
    [
        Refusal(401, 0, "wrong user name or password"),
        Refusal(429, 5, "3 failed logins from 127.0.0.1: wait 5 seconds before the next try"),
        Refusal(403, 0, "account 'j\u00fcrgen \u2603' may not update project 'x' on this index"),
        Refusal(400, 0, "a\r\nX-Injected: 1\x00 %41 + ; = \t end"),
    ],
)
def test_a_refusal_travels_unchanged(refusal: Refusal) -> None:
    value = encode(refusal)
    assert value.isascii() and value.isprintable() and "\r" not in value
    assert decode(value) == refusal


def test_long_messages_are_cut_to_fit_the_header() -> None:
    value = encode(Refusal(403, 0, "\u2603" * 5000))
    assert len(value) <= HEADER_LIMIT
    decoded = decode(value)
    assert decoded is not None and set(decoded.message) == {"\u2603"}
    assert len(decode(encode(Refusal(403, 0, "x" * 5000))).message) == MESSAGE_LIMIT  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value",
    [None, "", "200 0 fine", "500 0 boom", "502 0 gateway", "302 0 elsewhere", "4xx 0 x",
     "401 x message", "401 0 two words", "401 0 a\r\nb", "401", "401 0", "1401 0 x",
     "401 1234567 x"],
)  # fmt: skip
def test_decode_takes_only_a_refusal(value: str | None) -> None:
    assert decode(value) is None


def test_decode_bounds_what_it_takes() -> None:
    decoded = decode("429 999999 " + "%E2%98%83" * 3000)
    assert decoded is not None
    assert decoded.retry_after == 86400 and len(decoded.message) == MESSAGE_LIMIT
    assert decode("403 0 %ff%fe").message == "\ufffd\ufffd"  # type: ignore[union-attr]


def test_a_throttled_check_is_a_403_carrying_its_429() -> None:
    message = b"3 failed logins from 127.0.0.1: wait 4 seconds before the next try\n"
    status, headers, body = run(
        ("429 3 failed logins", [("Retry-After", "4"), ("Content-Length", "99")], message)
    )
    assert status == "403 3 failed logins" and body == message
    assert decode(header(headers, REFUSAL_HEADER)) == Refusal(429, 4, message.decode().strip())
    assert header(headers, "Retry-After") == "4"
    assert header(headers, "Content-Length") == str(len(message))


def test_a_missing_login_stays_401_with_its_challenge() -> None:
    challenge = ("WWW-Authenticate", 'Basic realm="dynopypi"')
    status, headers, _ = run(("401 wrong user name or password", [challenge], b"wrong\n"))
    assert status == "401 wrong user name or password"
    assert challenge in headers
    assert decode(header(headers, REFUSAL_HEADER)) == Refusal(401, 0, "wrong")


def test_a_directory_outage_is_a_403_carrying_its_503() -> None:
    message = b"the account directory (LDAP) does not answer; try again in 5 seconds\n"
    status, headers, _ = run(("503 the account directory", [("Retry-After", "5")], message))
    assert status == "403 the account directory"
    assert decode(header(headers, REFUSAL_HEADER)) == Refusal(503, 5, message.decode().strip())


def test_any_other_refusal_becomes_403_and_an_empty_body_keeps_the_reason() -> None:
    status, headers, _ = run(("400 Bad Request", [], b""))
    assert status == "403 Bad Request"
    assert decode(header(headers, REFUSAL_HEADER)) == Refusal(400, 0, "Bad Request")


@pytest.mark.parametrize(
    ("answer", "path"),
    [
        (("200 OK", [], b""), "/_authorize/update"),
        (("500 Internal Server Error", [], b"boom"), "/_authorize/update"),
        (("429 too many", [("Retry-After", "3")], b"too many"), "/simple/"),
        (("401 no", [], b"no"), "/_refusal"),
    ],
)
def test_other_answers_pass_unchanged(answer: Answer, path: str) -> None:
    status, headers, body = run(answer, path)
    assert (status, body) == (answer[0], answer[2])
    assert header(headers, REFUSAL_HEADER) is None


def test_written_bytes_are_kept_and_a_huge_wait_is_bounded() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        write = start_response("429 wait", [("Retry-After", "99999999999")])
        write(b"wait ")
        return [b"a while"]

    seen: list[Any] = []
    body = b"".join(
        for_auth_request(app)(
            {"PATH_INFO": "/_authorize/update"}, lambda s, h, *e: seen.extend((s, h))
        )
    )
    assert body == b"wait a while"
    assert decode(header(seen[1], REFUSAL_HEADER)) == Refusal(429, 86400, "wait a while")

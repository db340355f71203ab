from __future__ import annotations

from typing import Any

from dynopypi.edge.forwarded import apply_forwarded, drop_unreadable_headers, parse_networks

TRUSTED = parse_networks(["127.0.0.1", "10.0.0.0/8"])


def _environ(peer: str) -> dict[str, Any]:
    return {
        "REMOTE_ADDR": peer,
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "app:8180",
        "SCRIPT_NAME": "",
        "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": "pypi.example.com",
        "HTTP_X_FORWARDED_PREFIX": "/pypi/",
    }


def test_trusted_proxy_headers_applied() -> None:
    environ = _environ("10.1.2.3")
    apply_forwarded(environ, TRUSTED)
    assert environ["REMOTE_ADDR"] == "203.0.113.9"  # the entry our proxy added
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "pypi.example.com"
    assert environ["SCRIPT_NAME"] == "/pypi"


def test_untrusted_peer_headers_dropped() -> None:
    environ = _environ("192.0.2.1")
    apply_forwarded(environ, TRUSTED)
    assert environ["REMOTE_ADDR"] == "192.0.2.1"
    assert environ["HTTP_HOST"] == "app:8180"
    assert environ["wsgi.url_scheme"] == "http"
    assert not any(key.startswith("HTTP_X_FORWARDED") for key in environ)


def test_no_trusted_proxies_configured() -> None:
    environ = _environ("127.0.0.1")
    apply_forwarded(environ, ())
    assert environ["HTTP_HOST"] == "app:8180"


def test_hostile_values_ignored() -> None:
    environ = _environ("127.0.0.1")
    environ["HTTP_X_FORWARDED_HOST"] = "evil.example/<script>"
    environ["HTTP_X_FORWARDED_PROTO"] = "javascript"
    environ["HTTP_X_FORWARDED_PREFIX"] = "/a b\r\n"
    apply_forwarded(environ, TRUSTED)
    assert environ["HTTP_HOST"] == "app:8180"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["SCRIPT_NAME"] == ""


def test_header_values_that_are_not_utf8_are_dropped_except_credentials() -> None:
    environ: dict[str, Any] = {
        "HTTP_ACCEPT": "\xe9",  # WSGI strings are the header's bytes as latin-1
        "HTTP_IF_NONE_MATCH": "caf\xc3\xa9",  # UTF-8 'café': readable, kept
        "HTTP_RANGE": "bytes=0-1",
        "HTTP_AUTHORIZATION": "Basic \xe9",  # the extractor counts it as a failed login
        "PATH_INFO": "/\xe9",  # not a header: not this function's business
    }
    drop_unreadable_headers(environ)
    assert environ == {
        "HTTP_IF_NONE_MATCH": "caf\xc3\xa9",
        "HTTP_RANGE": "bytes=0-1",
        "HTTP_AUTHORIZATION": "Basic \xe9",
        "PATH_INFO": "/\xe9",
    }

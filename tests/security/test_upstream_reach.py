"""Where upstream bytes may come from (issue 18, finding 3), as a pure rule: named hosts
only, and no internal address unless the upstream itself is internal. The resolver is a
table, so public and internal names can be tried on a machine with no DNS."""

from __future__ import annotations

import pytest

from dynopypi.upstream.reach import Reach, Unreachable, is_internal, parse_host


def test_internal_addresses_are_refused_unless_the_upstream_is_internal() -> None:
    table = {"pypi.example": ["151.101.0.223"], "files.example": ["10.0.0.5", "146.75.36.223"],
             "meta.example": ["169.254.169.254"], "mirror.corp": ["10.1.2.3"]}  # fmt: skip

    def resolver(host: str, port: int) -> list[str]:
        return table[host]

    public = Reach(["https://pypi.example/simple/"], ["files.example", "meta.example"], resolver)
    assert public.addresses("files.example", 443) == ["146.75.36.223"]  # the internal one goes
    with pytest.raises(Unreachable, match="internal"):
        public.addresses("meta.example", 443)
    with pytest.raises(Unreachable):
        public.check_url("https://elsewhere.example/x.whl")
    with pytest.raises(Unreachable):
        public.check_url("https://files.example:8443/x.whl")  # a named host, another port
    assert public.check_url("https://files.example/x.whl") == ("files.example", 443)
    company = Reach(["https://mirror.corp/simple/"], ["files.example"], resolver)
    assert company.addresses("files.example", 443) == ["10.0.0.5", "146.75.36.223"]
    inside = ("127.0.0.1", "::1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254")
    more = ("100.64.0.1", "0.0.0.0", "::ffff:127.0.0.1", "fe80::1", "203.0.113.9", "224.0.0.1")
    for address in inside + more:
        assert is_internal(address), address
    assert not is_internal("151.101.0.223") and not is_internal("2a04:4e42::223")
    pypi = Reach(["https://pypi.org/simple/"], (), lambda h, p: ["151.101.0.223"])
    assert pypi.check_url("https://files.pythonhosted.org/packages/x.whl")  # implied


def test_files_host_specs() -> None:
    assert parse_host("files.pythonhosted.org") == ("files.pythonhosted.org", None)
    assert parse_host("Mirror.Corp:8443") == ("mirror.corp", 8443)
    assert parse_host("[::1]:81") == ("::1", 81)
    for bad in ("user@host", "host:port", "a/b", ""):
        with pytest.raises(ValueError):
            parse_host(bad)

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from dynopypi.auth.throttle import Throttle, client_key
from dynopypi.errors import Throttled


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle_on(clock: Clock, *, block_after: int = 10, max_keys: int = 10_000) -> Throttle:
    return Throttle(block_after=block_after, max_keys=max_keys, clock=clock, step=0.0)


def fail(throttle: Throttle, address: str, times: int = 1, account: str | None = None) -> None:
    for _ in range(times):
        assert throttle.guard(address, lambda: False, account) is False


@pytest.mark.parametrize(
    ("failures", "gap"),
    [(0, 0.0), (2, 0.0), (3, 1.0), (4, 2.0), (6, 4.0), (9, 5.0)],
)
def test_after_three_failures_tries_must_be_spaced_out(failures: int, gap: float) -> None:
    """Spacing instead of sleeping: a try that comes too soon is refused at once (429
    with Retry-After), so no worker thread ever waits on a guesser's behalf."""
    clock = Clock()
    throttle = Throttle(clock=clock, block_after=100, window=1000)
    for _ in range(failures):
        fail(throttle, "a")
        clock.now += 10  # spaced out far enough
    clock.now -= 10
    if gap:
        clock.now += gap - 0.5
        with pytest.raises(Throttled, match="wait 1 second before") as early:
            throttle.guard("a", lambda: True)
        assert early.value.retry_after == 1
        clock.now += 0.5
    assert throttle.guard("a", lambda: True) is True


def test_throttle_never_sleeps() -> None:
    assert "sleep" not in {f.name for f in dataclasses.fields(Throttle)}


def test_blocks_after_the_cap_then_forgives() -> None:
    clock = Clock()
    throttle = throttle_on(clock, block_after=5)
    fail(throttle, "a", 5)
    calls: list[str] = []

    def check() -> bool:
        calls.append("checked")
        return True

    clock.now += 10
    with pytest.raises(Throttled, match="too many failed logins from client a") as blocked:
        throttle.guard("a", check)
    assert calls == []  # a blocked address does not even cost a hash check
    assert blocked.value.retry_after == 50  # when the first failure leaves the window
    assert throttle.guard("b", lambda: True)  # other addresses are unaffected
    clock.now += 50
    assert throttle.guard("a", lambda: True)  # no lasting lockout
    assert throttle.failures("a") == 0


def test_failures_slide_out_of_the_window_one_by_one() -> None:
    clock = Clock()
    throttle = throttle_on(clock, block_after=3)
    for _ in range(3):
        fail(throttle, "a")
        clock.now += 20
    assert throttle.failures("a") == 2  # the first one is 60 s old now
    fail(throttle, "a")
    with pytest.raises(Throttled) as blocked:
        throttle.guard("a", lambda: True)
    assert blocked.value.retry_after == 20  # when the failure at +20 s leaves the window


def test_a_clean_login_leaves_nothing_behind() -> None:
    throttle = throttle_on(Clock())
    assert throttle.guard("a", lambda: True)
    assert throttle.tracked() == 0
    fail(throttle, "b")
    assert throttle.tracked() == 1


def test_an_error_while_checking_is_not_a_failed_login() -> None:
    throttle = throttle_on(Clock(), block_after=1)

    def broken() -> bool:
        raise OSError("disk gone")

    for _ in range(3):
        with pytest.raises(OSError):
            throttle.guard("a", broken)
    assert throttle.failures("a") == 0
    assert throttle.guard("a", lambda: True)  # the slot was released every time


def test_memory_stays_bounded_under_a_spray_of_addresses() -> None:
    clock = Clock()
    throttle = throttle_on(clock, max_keys=100)
    for i in range(1000):
        fail(throttle, f"10.0.{i // 256}.{i % 256}")
    assert throttle.tracked() <= 100
    assert throttle.failures("10.0.3.231") == 1  # the most recent ones are kept
    clock.now += 61
    fail(throttle, "192.0.2.1")
    assert throttle.tracked() <= 100


def test_parallel_guesses_cannot_exceed_the_cap() -> None:
    throttle = Throttle(block_after=5, step=0.0)
    release = threading.Event()
    lock = threading.Lock()
    checked: list[int] = []
    refused: list[int] = []

    def slow_wrong_password() -> bool:
        with lock:
            checked.append(1)
        release.wait(timeout=30)
        return False

    def guess() -> None:
        try:
            throttle.guard("attacker", slow_wrong_password)
        except Throttled:
            with lock:
                refused.append(1)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(checked) + len(refused) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (len(checked), len(refused)) == (5, 15)  # all in flight at once, yet only 5
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert throttle.failures("attacker") == 5


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not-an-address", "not-an-address"),
        ("", "unknown"),
    ],
)
def test_client_keys(address: str, key: str) -> None:
    assert client_key(address) == key


def test_one_ipv6_64_is_one_client() -> None:
    throttle = throttle_on(Clock(), block_after=3)
    for i in range(3):
        fail(throttle, f"2001:db8:0:1::{i + 1:x}")
    with pytest.raises(Throttled, match="2001:db8:0:1::/64"):
        throttle.guard("2001:db8:0:1:ffff:ffff:ffff:ffff", lambda: True)
    assert throttle.guard("2001:db8:0:2::1", lambda: True)  # the next /64 is another client


def test_an_account_is_capped_whatever_the_addresses() -> None:
    """Rotated addresses (X-Forwarded-For from a local process, a botnet) still meet the
    account's cap; one client alone can never lock an account (its own cap is lower)."""
    throttle = throttle_on(Clock())
    for i in range(30):
        fail(throttle, f"10.1.0.{i}", account="alice")
    checked: list[str] = []

    def check() -> bool:
        checked.append("x")
        return True

    with pytest.raises(Throttled, match="account 'alice'"):
        throttle.guard("10.2.0.1", check, "alice")
    assert checked == []
    assert throttle.guard("10.2.0.1", lambda: True, "bob")  # other accounts unaffected
    assert throttle.account_failures("alice") == 30
    lone = throttle_on(Clock())
    with pytest.raises(Throttled, match="client"):
        fail(lone, "10.9.9.9", 31, account="carol")
    assert lone.account_failures("carol") == 10


def test_a_spray_of_addresses_does_not_erase_an_account_count() -> None:
    clock = Clock()
    throttle = throttle_on(clock, max_keys=100)
    fail(throttle, "10.0.0.1", 5, account="alice")
    for i in range(500):
        fail(throttle, f"10.3.{i // 256}.{i % 256}")
    assert throttle.tracked() <= 100
    assert throttle.account_failures("alice") == 5


def test_the_wait_is_said_in_plain_english() -> None:
    """The 429's text (issue 20): "wait 1 second", then "wait 2 seconds", never "1 seconds"."""
    clock = Clock()
    throttle = Throttle(clock=clock, block_after=100, window=1000)
    said: list[str] = []
    fail(throttle, "a", times=2)
    for _ in range(2):
        fail(throttle, "a")  # the 3rd failure, then the 4th
        with pytest.raises(Throttled) as early:  # tried again at once
            throttle.guard("a", lambda: True)
        said.append(str(early.value))
        clock.now += 10
    assert said[0] == "3 failed logins from client a: wait 1 second before the next try", said
    assert said[1] == "4 failed logins from client a: wait 2 seconds before the next try", said

from __future__ import annotations

import threading
import time

import pytest

from dynopypi.errors import Throttled
from dynopypi.throttle import Throttle


class Clock:
    """A hand-driven monotonic clock; ``sleep`` records waits instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def throttle_on(clock: Clock, *, block_after: int = 10, max_addresses: int = 10_000) -> Throttle:
    return Throttle(
        block_after=block_after, max_addresses=max_addresses, clock=clock, sleep=clock.sleep
    )


def fail(throttle: Throttle, address: str, times: int = 1) -> None:
    for _ in range(times):
        assert throttle.guard(address, lambda: False) is False


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(0, 0.0), (2, 0.0), (3, 0.25), (4, 0.5), (6, 1.0), (9, 1.75)],
)
def test_logins_slow_down_after_three_failures(failures: int, wait: float) -> None:
    clock = Clock()
    throttle = throttle_on(clock)
    fail(throttle, "a", failures)
    clock.slept.clear()
    assert throttle.guard("a", lambda: True) is True
    assert clock.slept == ([wait] if wait else [])


def test_wait_is_capped() -> None:
    clock = Clock()
    throttle = throttle_on(clock, block_after=100)
    fail(throttle, "a", 50)
    clock.slept.clear()
    throttle.guard("a", lambda: True)
    assert clock.slept == [2.0]


def test_blocks_after_the_cap_then_forgives() -> None:
    clock = Clock()
    throttle = throttle_on(clock, block_after=5)
    fail(throttle, "a", 5)
    calls: list[str] = []

    def check() -> bool:
        calls.append("checked")
        return True

    clock.now += 10
    with pytest.raises(Throttled, match="too many failed logins from a") as blocked:
        throttle.guard("a", check)
    assert calls == []  # a blocked address does not even cost a hash check
    assert blocked.value.retry_after == 51
    assert throttle.guard("b", lambda: True)  # other addresses are unaffected
    clock.now += 51
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
    assert blocked.value.retry_after == 21  # when the failure at +20 s leaves the window


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
    throttle = throttle_on(clock, max_addresses=100)
    for i in range(1000):
        fail(throttle, f"10.0.{i // 256}.{i % 256}")
    assert throttle.tracked() <= 100
    assert throttle.failures("10.0.3.231") == 1  # the most recent ones are kept
    clock.now += 61
    fail(throttle, "192.0.2.1")
    assert throttle.tracked() <= 100


def test_parallel_guesses_cannot_exceed_the_cap() -> None:
    throttle = Throttle(block_after=5, sleep=lambda seconds: None)
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

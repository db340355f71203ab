from __future__ import annotations

from dynopypi.core.memo import ByteLRU


def test_hits_do_not_load_again_and_budget_evicts_oldest() -> None:
    lru = ByteLRU(budget=40)
    loads: list[str] = []

    def loader(key: str, size: int) -> bytes:
        loads.append(key)
        return b"x" * size

    assert lru.get("a", lambda: loader("a", 10)) == b"x" * 10
    assert lru.get("a", lambda: loader("a", 10)) == b"x" * 10
    assert loads == ["a"]
    lru.get("b", lambda: loader("b", 10))
    lru.get("c", lambda: loader("c", 10))
    lru.get("a", lambda: loader("a", 10))  # a is now the most recent
    lru.get("d", lambda: loader("d", 10))
    lru.get("e", lambda: loader("e", 10))  # over budget: b goes first
    assert len(lru) == 4
    lru.get("b", lambda: loader("b", 10))
    assert loads == ["a", "b", "c", "d", "e", "b"]


def test_none_and_oversized_values_are_not_kept() -> None:
    lru = ByteLRU(budget=40)
    assert lru.get("missing", lambda: None) is None
    assert lru.get("big", lambda: b"y" * 11) == b"y" * 11  # more than a quarter of the budget
    assert len(lru) == 0

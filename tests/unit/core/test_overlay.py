"""``Overlay`` against a plain dict: random changes, every read compared, old versions
unchanged, through many compactions."""

from __future__ import annotations

import random

import pytest

from dynopypi.core import overlay
from dynopypi.core.overlay import Overlay


def check(view: Overlay[str, int], model: dict[str, int]) -> None:
    assert len(view) == len(model)
    assert dict(view.items()) == model and sorted(view) == sorted(model)
    assert sorted(view.values()) == sorted(model.values())
    assert view == model
    for key in [*model, "never", "k-1"]:
        assert (key in view) == (key in model)
        assert view.get(key) == model.get(key)
        assert view.get(key, -7) == model.get(key, -7)
        if key in model:
            assert view[key] == model[key]
        else:
            with pytest.raises(KeyError):
                view[key]


@pytest.mark.parametrize("seed", range(5))
def test_an_overlay_reads_as_the_dict_it_stands_for(seed: int) -> None:
    rng = random.Random(seed)
    model = {f"k{i}": i for i in range(300)}
    view = Overlay(model)
    history: list[tuple[Overlay[str, int], dict[str, int]]] = [(view, dict(model))]
    for step in range(400):
        keys = [f"k{rng.randrange(600)}" for _ in range(rng.randrange(1, 12))]
        added = {k: step for k in keys[: len(keys) // 2]}
        removed = keys[len(keys) // 2 :] + keys[:1]  # sometimes a key both removed and added
        view = view.updated(added, removed)
        for key in removed:
            if key not in added:
                model.pop(key, None)
        model.update(added)
        check(view, model)
        history.append((view, dict(model)))
    for old, then in history[::37]:  # every version still reads as it did
        check(old, then)


def test_the_delta_is_merged_once_it_outgrows_its_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overlay, "COMPACT_MIN", 4)
    view = Overlay({f"k{i}": i for i in range(40)})
    for i in range(5):
        view = view.updated({f"n{i}": i})
    assert len(view._delta) == 5  # 5 > max(4, 40 // 8): not yet
    view = view.updated({"n5": 5})
    assert view._delta == {} and len(view._base) == 46  # merged: reads stay at one lookup


def test_of_keeps_an_overlay_and_copies_anything_else() -> None:
    plain = {"a": 1}
    made = Overlay.of(plain)
    assert made == plain and Overlay.of(made) is made
    plain["b"] = 2
    assert "b" not in made  # a copy, not a view of the caller's dict

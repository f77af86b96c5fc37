"""The native reader's table of address ids by hash (native._Addresses) numbers and names
addresses as a plain dict in order of first sight does, block by block (a block's new ones in
the order of their bytes), whether or not addresses share a place in it."""

from __future__ import annotations

import numpy as np
import pytest

from pcapexplain import decode, native


@pytest.mark.parametrize("slots", [native._MAX_SLOTS, 4])  # 4: most find their place taken
def test_addresses_are_numbered_and_named_in_order_of_first_sight(
    slots: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native, "_MAX_SLOTS", slots)
    rng = np.random.default_rng(7)
    pool = rng.integers(0, 256, size=(200, 16), dtype=np.uint8)
    family = np.where(rng.random(200) < 0.5, 4, 6)
    pool[family == 4, :12] = 0
    addresses = native._Addresses()
    addresses._slots = addresses._slots[: min(slots, len(addresses._slots))]
    seen: dict[bytes, int] = {}
    for size in (30, 300, 2, 500):
        rows = rng.integers(0, len(pool), size=size)
        got = addresses.numbers(family[rows], pool[rows]).tolist()
        keys = [bytes([family[r]]) + pool[r].tobytes() for r in rows.tolist()]
        for key in sorted(set(keys)):
            seen.setdefault(key, len(seen))
        assert got == [seen[k] for k in keys]
    names = [decode.address_text(k[1:], k[0]) for k in sorted(seen, key=seen.__getitem__)]
    assert addresses.names == names

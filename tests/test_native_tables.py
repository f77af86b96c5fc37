"""The native reader's table of address ids by hash (native._Addresses) numbers and names
addresses as a plain dict in order of first sight does, block by block (a block's new ones in
the order of their bytes), whether or not addresses share a place in it, and with the hashes
given or not; and its time stamps' shortcut (native.epoch_seconds)."""

from __future__ import annotations

import numpy as np
import pytest

from pcapexplain import decode, native, shards


@pytest.mark.parametrize("slots", [native._MAX_SLOTS, 4])  # 4: most find their place taken
@pytest.mark.parametrize("given", [False, True])  # the hashes given, as look gives them
def test_addresses_are_numbered_and_named_in_order_of_first_sight(
    slots: int, given: bool, monkeypatch: pytest.MonkeyPatch
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
        hashes = shards.address_hashes(family[rows], pool[rows]) if given else None
        got = addresses.numbers(family[rows], pool[rows], hashes).tolist()
        keys = [bytes([family[r]]) + pool[r].tobytes() for r in rows.tolist()]
        for key in sorted(set(keys)):
            seen.setdefault(key, len(seen))
        assert got == [seen[k] for k in keys]
    names = [decode.address_text(k[1:], k[0]) for k in sorted(seen, key=seen.__getitem__)]
    assert addresses.names == names


def test_usual_time_stamps_take_the_general_arithmetic() -> None:
    """epoch_seconds' shortcut for non-negative seconds and nanoseconds below a second gives the
    same floats, bit for bit, as the general rule; the others take the general rule."""
    rng = np.random.default_rng(3)
    seconds = rng.integers(0, 1 << 33, size=5000)
    for nanos in (rng.integers(0, 1_000_000_000, size=5000), rng.integers(0, 1000, size=5000)):
        for typed in (nanos, nanos.astype(np.int32)):
            got = native.epoch_seconds(seconds, typed)
            assert got.tobytes() == native._any_epoch_seconds(seconds, typed).tobytes()
    odd_seconds = np.array([-5, 7, 7, 0])
    odd_nanos = np.array([3, -2, 1_500_000_000, 999_999_999])
    got = native.epoch_seconds(odd_seconds, odd_nanos)
    assert got.tolist() == native._any_epoch_seconds(odd_seconds, odd_nanos).tolist()
    assert got[0] < 0 and got[1] < 0 and got[2] == 7.15

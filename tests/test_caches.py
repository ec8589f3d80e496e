"""caches.py: one policy (the least recently used goes first), sizes from one table, an optional time to
live, inputs over a size computed and not kept, every cache in one report, and safe from many threads."""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import autoconfig.web.app  # noqa: F401 - every module with a cache, as a worker imports them
from autoconfig import caches
from autoconfig.caches import LRU, memoize


@pytest.fixture
def sized() -> Iterator[None]:
    """Test names in the table, taken out again (the registry keeps a memoized function's name for the
    life of the process, so each test uses its own)."""
    names = {f"test-{n}": 3 for n in range(12)}
    caches.SIZES.update(names)
    yield
    for name in names:
        del caches.SIZES[name]


def test_the_least_recently_used_goes_first(sized: None) -> None:
    cache: LRU[str, int] = LRU("test-0")
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        cache.put(key, value)
    assert cache["a"] == 1  # read: now the most recent
    cache.put("d", 4)
    assert list(cache) == ["c", "a", "d"]
    assert "b" not in cache
    assert cache.get("b") is None


def test_looking_and_iterating_change_no_order(sized: None) -> None:
    cache: LRU[str, int] = LRU("test-1")
    cache.put("a", 1)
    cache.put("b", 2)
    assert "a" in cache
    assert list(cache) == ["a", "b"]
    cache.put("c", 3)
    cache.put("d", 4)
    assert list(cache) == ["b", "c", "d"]


def test_the_table_sizes_a_cache_unless_told(sized: None) -> None:
    assert LRU("test-2").maxsize == 3
    bounded: LRU[int, int] = LRU("test-2", 1)
    for n in range(10):
        bounded.put(n, n)
    assert dict(bounded.items()) == {9: 9}
    nothing: LRU[int, int] = LRU("test-2", 0)
    nothing.put(1, 1)
    assert nothing == {}
    with pytest.raises(KeyError):
        LRU("a name the table does not have")


def test_an_entry_expires_after_its_time_to_live(sized: None) -> None:
    cache: LRU[str, str | None] = LRU("test-3", ttl=0.2)
    cache.put("found", "jdupont")
    cache.put("not found", None)  # an answer too
    assert cache["not found"] is None
    assert "found" in cache
    time.sleep(0.3)
    assert "found" not in cache
    with pytest.raises(KeyError):
        cache["not found"]
    cache.put("found", "jdupont2")  # put again: a new time to live
    assert cache["found"] == "jdupont2"


def test_a_memoized_function_runs_once_per_input_and_keeps_the_most_recent(sized: None) -> None:
    calls: list[str] = []

    @memoize("test-4")
    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert [upper(t) for t in ("a", "b", "a", "c", "d", "a", "b")] == ["A", "B", "A", "C", "D", "A", "B"]
    # b was pushed out by d (a had been read again): asked twice.
    assert calls == ["a", "b", "c", "d", "b"]
    upper.cache_clear()
    upper("a")
    assert calls[-1] == "a"


def test_inputs_over_the_size_are_computed_and_not_kept(sized: None) -> None:
    calls: list[tuple[str, bytes]] = []

    @memoize("test-5", max_chars=8)
    def joined(text: str, raw: bytes) -> str:
        calls.append((text, raw))
        return text + raw.decode()

    for _ in range(2):
        assert joined("abcd", b"efgh") == "abcdefgh"  # 8 in all: kept
        assert joined("abcd", b"efghi") == "abcdefghi"  # 9: computed each time
    assert calls == [("abcd", b"efgh"), ("abcd", b"efghi"), ("abcd", b"efghi")]
    assert caches.report()["test-5"] == {"entries": 1, "max": 3}


def test_exceptions_are_not_kept(sized: None) -> None:
    calls: list[str] = []

    @memoize("test-6")
    def strict(text: str) -> str:
        calls.append(text)
        raise ValueError(text)

    for _ in range(2):
        with pytest.raises(ValueError, match="bad"):
            strict("bad")
    assert calls == ["bad", "bad"]


def test_one_name_is_one_cache(sized: None) -> None:
    @memoize("test-7")
    def first(text: str) -> str:
        return text

    with pytest.raises(ValueError, match="test-7"):
        memoize("test-7")(first)
    with pytest.raises(ValueError, match="test-7"):
        LRU("test-7")
    LRU("test-8")
    with pytest.raises(ValueError, match="test-8"):
        memoize("test-8")(first)


def test_the_report_sums_the_live_instances_of_a_name(sized: None) -> None:
    one: LRU[int, int] = LRU("test-9")
    two: LRU[int, int] = LRU("test-9", 5)
    one.put(1, 1)
    two.put(1, 1)
    two.put(2, 2)
    assert caches.report()["test-9"] == {"entries": 3, "max": 8}
    del two
    gc.collect()
    assert caches.report()["test-9"] == {"entries": 1, "max": 3}  # a version gone takes its cache along
    del one
    gc.collect()
    assert "test-9" not in caches.report()


def test_every_size_of_the_table_is_a_cache_of_the_service() -> None:
    # A cache cannot be made with a name the table lacks (KeyError); this finds a size nothing uses. The
    # caches of a version are there while one is alive.
    per_version = {"accounts", "answers", "signed_profiles", "mx_answers"}  # MX: a hosting provider's version
    assert set(caches.SIZES) - per_version <= set(caches.report())


def test_many_threads_at_once_keep_the_bound_and_lose_nothing(sized: None) -> None:
    cache: LRU[int, int] = LRU("test-10", 64)
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def hammer(offset: int) -> None:
        start.wait()
        try:
            for n in range(5000):
                key = (n * 7 + offset) % 200
                cache.put(key, key)
                value = cache.get(key + 1)
                assert value is None or value == key + 1
                assert len(cache) <= 64
                list(cache)
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can: between any two steps of an update
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    assert len(cache) == 64
    assert all(cache[key] == key for key in list(cache))

"""Every cache of the service: one eviction policy (least recently used), every size in one table, and
a registry that /healthz reads (each cache's entries and maximum, for the IT team's networks).

Two forms of one policy:

- `memoize(name)`, for a pure function of small arguments (a query string, a User-Agent, a domain). It is
  functools.lru_cache underneath: written in C and safe to call from any thread, which matters on the
  request path, where these run several times a request. `max_chars` adds the one rule the request path
  needs: arguments longer than that in all are computed and not kept, so that a flood of long, random
  inputs costs evictions of nothing (a wrapper of ours then costs a call and a length).
- `LRU(name)`, a mapping that lives inside an object (a version of the settings, one provider's staff
  directory) and dies with it, for what is not a function call: answers put in after an await, entries
  that expire (`ttl`). Every operation holds a lock, so that a thread (asyncio.to_thread, a signing
  thread) may use one while the event loop does; today all are used from the event loop.

cachetools offers both forms, but its caches are pure Python with no lock (every call would pay for a
`cachetools.cached` wrapper and a lock of ours on top), and the request path would lose the C lookups of
functools; what follows is all the service needs of it.

A cache whose content depends on the settings lives with the version it was made from (an `LRU` in
`web/served.py`'s Served, or in an object Served holds) or takes what it depends on as arguments; the
functions memoized here are pure functions of their arguments, which each site says.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, cast, overload

# Maximum entries, per process (each worker has its own caches), with the most memory each can hold given
# the inputs the request path lets in.
SIZES: dict[str, int] = {
    "accounts": 10_000,  # web/served.py, per version: an account is about 500 bytes, 5 MB
    "answers": 2048,  # web/served.py, per version: a POX or Thunderbird document, about 1.5 KB, 3 MB
    "signed_profiles": 512,  # web/profiles.py, per version: a signed profile is about 6 KB, 3 MB
    "display_names": 4096,  # accounts.py: a stem and a name, about 200 bytes, 0.8 MB
    "ascii_domains": 1024,  # domains.py: two names of at most 253 characters, 0.6 MB
    "unicode_domains": 1024,  # domains.py: the same, 0.6 MB
    "client_families": 2048,  # web/families.py: a User-Agent of at most 512 characters, 1.2 MB
    "languages": 512,  # web/languages.py: headers of at most 272 characters in all, 0.2 MB
    "queries": 2048,  # web/request_values.py: a query of at most 512 bytes and its values, 2.5 MB
    "log_targets": 1024,  # web/accesslog.py: a target of at most 512 characters, twice, 1.2 MB
    "hash_key": 1,  # web/accesslog.py: the log-hash key, 32 bytes
    "qr_codes": 256,  # web/pages.py: an inline SVG, about 2.5 KB, 0.7 MB
    "android_qr_codes": 256,  # web/pages.py: an inline SVG, about 4.5 KB, 1.2 MB
    "pox_requests": 1024,  # formats/outlook.py: a body of at most 2 KB and what it asks, 2.5 MB
    "disk_checks": 8,  # web/health.py: what a settings file on disk would load to, a few KB each
    "disk_states": 1,  # web/health.py: the served files' metadata, compared again each second
    "route_table": 1,  # web/routes.py: the route table's compiled patterns, made once
    "route_matches": 1024,  # web/routes.py: a path of at most 256 characters and its Match, 0.5 MB
    "mx_answers": 10_000,  # mx.py, per version: service.resolver.cache_entries, about 300 bytes each
}
# The staff directory's cache is per provider and sized by its settings (providers.directory.lookup
# cache_size and cache_ttl): the IT team knows its directory, and `check` reports the values.

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


class Memoized(Protocol[P, R_co]):
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def cache_clear(self) -> None: ...


class _Counted(Protocol):
    def cache_info(self) -> functools._CacheInfo: ...


_MEMOS: dict[str, _Counted] = {}
# By a serial number, not the LRU itself: a mapping compares by content, and so has no hash.
_LIVE: dict[str, weakref.WeakValueDictionary[int, LRU[Any, Any]]] = {}
_SERIAL = itertools.count()


def _claim(name: str, memo: bool) -> None:
    # One name, one cache (an LRU's name may have several live instances: one per version, per provider).
    if name in _MEMOS or (memo and name in _LIVE):
        raise ValueError(f"the cache name {name!r} is already in use")


def memoize(name: str, *, max_chars: int | None = None) -> Callable[[Callable[P, R]], Memoized[P, R]]:
    """Decorate a pure function: its answers kept, SIZES[name] at most, the least recently used dropped
    first. With `max_chars`, a call whose str and bytes arguments are longer than that in all is computed
    and not kept. Exceptions are never kept."""

    def decorate(function: Callable[P, R]) -> Memoized[P, R]:
        _claim(name, memo=True)
        cached = functools.lru_cache(maxsize=SIZES[name])(function)
        _MEMOS[name] = cached
        if max_chars is None:
            return cast(Memoized[P, R], cached)
        if function.__code__.co_argcount == 1 and not function.__code__.co_flags & _VARIADIC:
            # One argument, on the request path (a query, a POX body): no loop over the arguments.
            def one(arg: Any) -> Any:
                return cached(arg) if len(arg) <= max_chars else function(arg)  # type: ignore[call-arg]

            functools.update_wrapper(one, function)
            one.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
            return cast(Memoized[P, R], one)

        @functools.wraps(function)
        def sized(*args: P.args, **kwargs: P.kwargs) -> R:
            size = 0
            for arg in args:
                if isinstance(arg, str | bytes):
                    size += len(arg)
            if size > max_chars or kwargs:
                return function(*args, **kwargs)
            return cached(*args)

        sized.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return cast(Memoized[P, R], sized)

    return decorate


_NEVER = float("inf")
_VARIADIC = 0x04 | 0x08  # CO_VARARGS, CO_VARKEYWORDS


class LRU(Mapping[K, V], Generic[K, V]):
    """A bounded mapping: `put` adds, reading an entry (`cache[key]`, `get`) makes it the most recent,
    past `maxsize` the least recent goes; with `ttl`, an entry is gone that many seconds after its `put`.
    Iteration goes from the least recent; `in` and iteration change no order."""

    def __init__(self, name: str, maxsize: int | None = None, *, ttl: float | None = None) -> None:
        self.name = name
        self.maxsize = SIZES[name] if maxsize is None else maxsize
        self.ttl = ttl
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        _claim(name, memo=False)
        _LIVE.setdefault(name, weakref.WeakValueDictionary())[next(_SERIAL)] = self

    def __getitem__(self, key: K) -> V:
        with self._lock:
            expires, value = self._entries[key]
            if expires <= time.monotonic():
                del self._entries[key]
                raise KeyError(key)
            self._entries.move_to_end(key)
            return value

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, /, default: V | T) -> V | T: ...
    def get(self, key: K, /, default: object = None) -> object:
        # Mapping's get would go through __getitem__ and an exception on every miss.
        with self._lock:
            kept = self._entries.get(key)
            if kept is None:
                return default
            if kept[0] <= time.monotonic():
                del self._entries[key]
                return default
            self._entries.move_to_end(key)
            return kept[1]

    def put(self, key: K, value: V, ttl: float | None = None) -> None:
        """Keep `value`; `ttl` (seconds) overrides the cache's own for this entry (a DNS answer's)."""
        ttl = self.ttl if ttl is None else ttl
        expires = _NEVER if ttl is None else time.monotonic() + ttl
        with self._lock:
            if self.maxsize <= 0:
                return
            if key in self._entries:
                self._entries.move_to_end(key)
            else:  # room first: a length read without the lock never sees more than maxsize
                while len(self._entries) >= self.maxsize:
                    self._entries.popitem(last=False)
            self._entries[key] = (expires, value)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            kept = self._entries.get(key)  # type: ignore[arg-type]
        return kept is not None and kept[0] > time.monotonic()

    def __iter__(self) -> Iterator[K]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def report() -> dict[str, dict[str, int]]:
    """Each cache's entries and maximum in this process, by name; an LRU's summed over its live
    instances (the versions still serving a request, the providers' directories). Expired entries count
    until they are read or pushed out."""
    found: dict[str, dict[str, int]] = {}
    for name, memo in _MEMOS.items():
        info = memo.cache_info()
        found[name] = {"entries": info.currsize, "max": info.maxsize or 0}
    for name, live in _LIVE.items():
        caches = list(live.values())
        if caches:
            found[name] = {"entries": sum(map(len, caches)), "max": sum(c.maxsize for c in caches)}
    return dict(sorted(found.items()))

"""The staff directory (LDAP): each person's login and name, asked before the login rule.

ldap3 does the protocol (pure Python: the slim image needs no compiler or libldap); a search runs in
a worker thread under a deadline. Answers, found or not, are cached; a directory that fails or is
slow is left alone for a while and the rule answers instead: a client never waits on a dead directory.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Counter

from .addresses import address_key
from .caches import LRU
from .errors import Problem, SettingsError
from .settings import DirectoryLookup, Settings

# After a failure, the directory is not asked again for this long.
RETRY_AFTER_SECONDS = 30.0
MAX_CONCURRENT_SEARCHES = 4
logger = logging.getLogger("autoconfig")

LOOKUPS = Counter(
    "autoconfig_directory_lookups",
    "Directory lookups by result: found, not_found, cached, shared (joined a search under way for the "
    "same address), and fallback (directory down or slow).",
    ["result"],
)


_FIELD = re.compile(r"\{(address|localpart|domain)\}")


@dataclass(frozen=True)
class Entry:
    login: str
    name: str | None


def _ldap3() -> Any:
    """ldap3, imported by the providers that ask a directory only: 50 ms of every worker's start-up
    otherwise, and most services ask none."""
    import ldap3  # noqa: PLC0415

    return ldap3


def search_filter(template: str, local: str, domain: str) -> str:
    """The filter for one address, each value escaped (RFC 4515): `*)(uid=*` stays a literal."""
    from ldap3.utils.conv import escape_filter_chars  # noqa: PLC0415 - see _ldap3

    values = {"address": f"{local}@{domain}", "localpart": local, "domain": domain}
    # One pass: a local part may hold braces (`{domain}@…` is a valid address), never read as a field.
    return _FIELD.sub(lambda match: escape_filter_chars(values[match[1]]), template)


def read_password(settings: Settings, lookup: DirectoryLookup) -> str | None:
    """The bind password, from the file as it was read and checked with the settings; never logged."""
    if lookup.bind_password_file is None:
        return None
    try:
        return settings.file_bytes(lookup.bind_password_file).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingsError(
            settings.source,
            [
                Problem(
                    "providers.directory.lookup.bind_password_file",
                    str(lookup.bind_password_file),
                    f"the password file cannot be read: {reason}",
                    "give a UTF-8 text file holding the password, readable by the service's user",
                )
            ],
        ) from None


def _clean(value: object, *, login: bool) -> str | None:
    """A directory value fit for every output, or None: no control characters, and a login without
    spaces (a stray value makes the rule answer rather than break a client's setup)."""
    text = str(value).strip()
    if not text or not text.isprintable() or (login and any(c.isspace() for c in text)):
        return None
    return text


class StaffDirectory:
    """Lookups in one provider's directory, cached, with a deadline and a pause after failures."""

    def __init__(self, lookup: DirectoryLookup, base_dn: str, password: str | None = None) -> None:
        self.lookup = lookup
        self.base_dn = base_dn
        self._password = password  # never logged
        # A few searches at a time: more would queue in the thread pool and eat their own deadline.
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_SEARCHES)
        parts = urlsplit(lookup.url)
        self._tls = parts.scheme == "ldaps"
        ldap3 = _ldap3()
        self._server = ldap3.Server(
            parts.hostname or "",
            port=parts.port or (636 if self._tls else 389),
            use_ssl=self._tls,
            connect_timeout=lookup.timeout,
            get_info=ldap3.NONE,
        )
        # Per provider, as its settings size it (0 and 0 keep nothing); it lives with the version.
        self._cache: LRU[str, Entry | None] = LRU("directory", lookup.cache_size, ttl=lookup.cache_ttl)
        self._down_until = 0.0
        self._under_way: dict[str, asyncio.Future[Entry | None]] = {}

    async def find(self, local: str, domain: str) -> Entry | None:
        """The person's entry, or None (not found, ambiguous, or the directory unavailable)."""
        key = address_key(local, domain)
        try:
            cached = self._cache[key]  # None is an answer too: the directory knows no such person
        except KeyError:
            pass
        else:
            LOOKUPS.labels("cached").inc()
            return cached
        under_way = self._under_way.get(key)
        if under_way is not None:
            # A client asks on several hosts at once, a person reloads: one search answers them all,
            # and its deadline bounds their wait too.
            LOOKUPS.labels("shared").inc()
            return await asyncio.shield(under_way)
        if time.monotonic() < self._down_until or self._slots.locked():
            LOOKUPS.labels("fallback").inc()
            return None
        answer: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self._under_way[key] = answer
        entry = None
        try:
            entry = await self._ask(key, local, domain)
        finally:
            del self._under_way[key]
            answer.set_result(entry)  # None when this request was cancelled: the rule answers the others
        return entry

    async def _ask(self, key: str, local: str, domain: str) -> Entry | None:
        try:
            async with self._slots:
                entry = await asyncio.wait_for(
                    asyncio.to_thread(self._search, local, domain), self.lookup.timeout
                )
        except Exception as exc:  # whatever goes wrong, the rule answers instead
            LOOKUPS.labels("fallback").inc()
            # Once per pause, not per request: the searches already under way when the directory froze
            # fail one after the other, and only the first starts the pause. The address is not logged.
            already_down = time.monotonic() < self._down_until
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            if already_down:
                return None
            reason = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
            logger.warning(
                "directory %s unavailable (%s): the login rule answers for %.0f s",
                self.lookup.url,
                reason,
                RETRY_AFTER_SECONDS,
            )
            return None
        LOOKUPS.labels("found" if entry is not None else "not_found").inc()
        if self.lookup.cache_ttl:
            self._cache.put(key, entry)
        return entry

    def _search(self, local: str, domain: str) -> Entry | None:
        from ldap3.core.exceptions import LDAPSizeLimitExceededResult  # noqa: PLC0415 - see _ldap3

        lookup = self.lookup
        connection = _ldap3().Connection(
            self._server,
            user=lookup.bind_dn,
            password=self._password,
            # Whole seconds: ldap3 packs it into SO_RCVTIMEO as an integer (a float raises struct.error);
            # the deadline in `find` is the real bound.
            receive_timeout=math.ceil(lookup.timeout),
            read_only=True,
            raise_exceptions=True,
        )
        try:
            connection.open()
            if not self._tls and lookup.starttls:
                connection.start_tls()
            connection.bind()
            connection.search(
                self.base_dn,
                search_filter(lookup.filter, local, domain),
                attributes=[lookup.login_attribute, lookup.name_attribute],
                size_limit=2,
                time_limit=max(1, int(lookup.timeout)),
            )
            entries = connection.entries
        except LDAPSizeLimitExceededResult:
            return None  # two people answer to this address: the rule decides
        finally:
            connection.unbind()
            # ldap3 keeps the socket of a connection that failed to open (refused, reset): close it here
            # rather than leave it to the garbage collector while the directory is down.
            if connection.socket is not None:
                connection.socket.close()
        if len(entries) != 1:
            return None
        # Attribute names are case-insensitive (RFC 4512): the server may spell them its own way.
        values = {key.lower(): value for key, value in entries[0].entry_attributes_as_dict.items()}
        logins = values.get(lookup.login_attribute.lower()) or []
        names = values.get(lookup.name_attribute.lower()) or []
        login = _clean(logins[0], login=True) if logins else None
        if login is None:
            return None
        return Entry(login, _clean(names[0], login=False) if names else None)

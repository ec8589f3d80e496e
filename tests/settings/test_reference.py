"""autoconfig.settings.reference: iter_keys lists every key of the settings file, each with its
description."""

from __future__ import annotations

from autoconfig.settings import iter_keys


def test_iter_keys_lists_every_key() -> None:
    keys = dict(iter_keys())
    for key in (
        "service",
        "service.public_url",
        "service.default_language",
        "signing.certificate",
        "signing.chain",
        "providers.id",
        "providers.domains",
        "providers.login.pattern",
        "providers.login.overrides",
        "providers.incoming.port",
        "providers.incoming.protocol",
        "providers.outgoing.auth",
        "providers.links.documentation.title",
        "providers.support.hours",
        "providers.calendar.url",
        "providers.contacts.username",
        "providers.directory.base_dn",
    ):
        assert key in keys, key
    assert all(description for description in keys.values()), [k for k, d in keys.items() if not d]
    paths = [path for path, _ in iter_keys()]
    assert len(paths) == len(set(paths))
    assert "providers.incoming.effective_port" not in keys

"""The settings file's top level: [service], [signing], and the root that holds the providers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from .hosting import Resolver, matches
from .provider import Provider
from .types import UI_LANGUAGES, Model, Network, PublicUrl, SettingsPath, UILanguage, problem


class ServiceSettings(Model):
    public_url: PublicUrl = Field(
        description=(
            "The service's public address, for every absolute link it writes (autodiscover.json, QR "
            "codes), e.g. `https://autoconfig.ac-paris.fr` (no query or fragment)."
        )
    )
    languages: tuple[UILanguage, ...] = Field(
        default=UI_LANGUAGES, min_length=1, description='Languages of the web pages, from `"fr"` and `"en"`.'
    )
    default_language: UILanguage = Field(
        default="fr",
        description="Language used when the browser asks for none of `languages`; must be one of them.",
    )
    log_addresses: Literal["redact", "hash", "full"] = Field(
        default="redact",
        description=(
            'How logs show mail addresses: `"redact"` (`j***@ac-paris.fr`), `"hash"` (a keyed hash, the '
            "same for one address across workers and restarts; the key is made once in the state folder), "
            '`"full"` (only if your privacy rules allow it).'
        ),
    )
    cache_max_age: int = Field(
        default=3600,
        strict=True,
        ge=0,
        le=86400,
        description=(
            "Seconds clients and proxies may cache a configuration answer (`Cache-Control: max-age`)."
        ),
    )
    request_timeout: float = Field(
        default=10.0,
        ge=0.5,
        le=300.0,
        description="Seconds a request may take before it is answered 503 (a slow client, a stuck server).",
    )
    header_timeout: float = Field(
        default=10.0,
        ge=0.5,
        le=120.0,
        description=(
            "Seconds a connection may take to send a request's head (its first line and headers), from "
            "when it opens or from the previous answer; past that it is closed. A client that sends "
            "nothing, or a byte a second, holds no connection for longer."
        ),
    )
    max_head_bytes: int = Field(
        default=16384,
        strict=True,
        ge=4096,
        le=1_048_576,
        description=(
            "Bytes a request's head (its first line and headers) may take at most; a longer one is "
            "answered 431 and its connection closed. No mail client sends more than a few hundred."
        ),
    )
    max_connections: int = Field(
        default=4096,
        strict=True,
        ge=16,
        le=1_000_000,
        description=(
            "Open connections each worker keeps at most; past that, new ones are closed at once. When the "
            "file-descriptor limit (`LimitNOFILE` in systemd) allows fewer, the limit less 64 is the cap, "
            "said at start."
        ),
    )
    log_format: Literal["plain", "json"] = Field(
        default="plain",
        description=(
            'Access log lines as `"plain"` text or `"json"` (one object a line: client, method, target, '
            "status, ms)."
        ),
    )
    metrics: bool = Field(default=True, description="Serve Prometheus metrics at `/metrics`.")
    metrics_networks: tuple[Network, ...] = Field(
        default=("127.0.0.0/8", "::1/128"),
        description=(
            "Addresses or networks allowed to read `/metrics` and the details of `/healthz` (others get "
            '404, and the status only), e.g. `["10.1.2.3/32"]` for your Prometheus server.'
        ),
    )
    watch_seconds: float = Field(
        default=0.0,
        ge=0.0,
        le=3600.0,
        description=(
            "Check the settings file and the files it names every this many seconds, and reload when "
            "they change (a Kubernetes ConfigMap or Secret is updated under the running pods); 0: reload "
            "on SIGHUP only."
        ),
    )
    log_hash_key_file: SettingsPath | None = Field(
        default=None,
        description=(
            'The key of the `"hash"` mode of `log_addresses`, in a file (at least 16 bytes; a Kubernetes '
            "Secret, or any file every replica mounts), so that every replica hashes an address alike. "
            "Without it each service makes its own key in its state folder."
        ),
    )
    resolver: Resolver = Field(
        default_factory=Resolver,
        description=(
            "How MX records are looked up for providers that host mail for other domains: "
            "`[service.resolver]`."
        ),
        json_schema_extra={"shown_default": "the system's resolver"},
    )
    trusted_proxies: tuple[Network, ...] = Field(
        default=(),
        description=(
            "Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed (for the client "
            'address in logs and the `/metrics` check), e.g. `["127.0.0.1/32"]` for nginx on the same host; '
            "anyone else's are ignored. Links never come from these headers: they use `public_url`."
        ),
    )

    @model_validator(mode="after")
    def _default_in_languages(self) -> ServiceSettings:
        if self.default_language not in self.languages:
            raise problem(
                "bad_default_language",
                "default_language is not among languages = ["
                + ", ".join(f'"{language}"' for language in self.languages)
                + "]",
                "add it to languages, or choose one of them",
                key="default_language",
                found=self.default_language,
            )
        return self


class SigningSettings(Model):
    certificate: SettingsPath = Field(
        description="PEM file of the signing certificate (a `fullchain.pem` may hold the chain after it)."
    )
    key: SettingsPath = Field(
        description="PEM file of the certificate's private key, readable by the service only."
    )
    chain: tuple[SettingsPath, ...] = Field(
        default=(), description="PEM files of intermediate certificates, the leaf's issuer first."
    )


def hosting_names(provider: Provider) -> tuple[str, ...]:
    """The names under which clients look for a hosting provider, besides its domains: each MX host less
    its first label, and the names above it (one of them is the registrable domain Thunderbird also
    tries, by the Public Suffix List), down to two labels."""
    if provider.hosting is None:
        return ()
    names: list[str] = []
    for parent in provider.hosting.mx_parents():
        labels = parent.split(".")
        for above in (".".join(labels[i:]) for i in range(len(labels) - 1)):
            if above not in names:
                names.append(above)
    return tuple(names)


class Settings(Model):
    service: ServiceSettings = Field(description="The service itself: `[service]`.")
    signing: SigningSettings | None = Field(
        default=None,
        description=(
            "Signing of Apple profiles: `[signing]`. Without it profiles are served unsigned (iOS shows "
            "them as Not Verified), except for the bundled default, which signs with a development "
            "certificate."
        ),
    )
    providers: tuple[Provider, ...] = Field(
        min_length=1, description="The mail providers, one `[[providers]]` table each; at least one."
    )

    _by_domain: dict[str, Provider] = PrivateAttr(default_factory=dict)
    _by_hosting_name: dict[str, Provider] = PrivateAttr(default_factory=dict)
    _hosting: tuple[Provider, ...] = PrivateAttr(default=())
    _listed: frozenset[str] = PrivateAttr(default=frozenset())
    _digest: str = PrivateAttr(default="")
    _source: Path = PrivateAttr(default=Path("settings.toml"))
    _raw: bytes = PrivateAttr(default=b"")
    _files: dict[Path, bytes | OSError] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._by_domain = {domain: p for p in self.providers for domain in (*p.domains, *p.aliases)}
        self._listed = frozenset(self._by_domain)
        self._hosting = tuple(p for p in self.providers if p.hosting is not None)
        for provider in self._hosting:
            for name in hosting_names(provider):
                if name not in self._by_domain:
                    self._by_hosting_name.setdefault(name, provider)

    # The request path asks these several times a request: pydantic finds a private attribute through
    # __getattr__ (3 µs), its __pydantic_private__ slot directly (0.2 µs).
    def provider_for(self, ascii_domain: str) -> Provider | None:
        by_domain: dict[str, Provider] = self.__pydantic_private__["_by_domain"]  # type: ignore[index]
        return by_domain.get(ascii_domain)

    @property
    def listed_domains(self) -> frozenset[str]:
        """Every domain and alias of every provider."""
        return self._listed

    @property
    def hosting_providers(self) -> tuple[Provider, ...]:
        """The providers that host mail for domains they do not list."""
        hosting: tuple[Provider, ...] = self.__pydantic_private__["_hosting"]  # type: ignore[index]
        return hosting

    def hoster_named(self, name: str) -> Provider | None:
        """The hosting provider whose MX hosts' names `name` is derived from (`mail.hoster.example` for
        `mx1.mail.hoster.example`), when no provider lists it as a domain."""
        by_name: dict[str, Provider] = self.__pydantic_private__["_by_hosting_name"]  # type: ignore[index]
        provider = by_name.get(name)
        if provider is None and by_name:
            # Under a wildcard's name (`*.mail.hoster.example`), an MX host may be deeper
            # (mx1.eu.mail.hoster.example): Thunderbird then asks autoconfig.eu.mail.hoster.example.
            for hoster in self.hosting_providers:
                patterns = hoster.hosting.mx if hoster.hosting is not None else ()
                # A name under a wildcard's name (`eu.mail.hoster.example` for `*.mail.hoster.example`)
                # is itself a host the wildcard matches.
                if any(p.startswith("*.") and matches(p, name) for p in patterns):
                    return hoster
        return provider

    def hoster_of_mx(self, mx_host: str) -> Provider | None:
        """The provider an MX host (A-label form, no final dot) is one of, if any."""
        for provider in self.hosting_providers:
            if provider.hosting is not None and provider.hosting.hosts_mx(mx_host):
                return provider
        return None

    def referenced_files(self) -> tuple[Path, ...]:
        """The files these settings name (log-hash key, signing files, overrides, passwords), at their
        paths as written."""
        return tuple(self._files)

    @property
    def source(self) -> Path:
        """The settings file these settings were read from."""
        return self._source

    @property
    def digest(self) -> str:
        """SHA-256 of the settings file's bytes: which version is serving."""
        return self._digest

    def loaded_from(self, source: Path, digest: str, raw: bytes, files: dict[Path, bytes | OSError]) -> None:
        """Set by the loader once validated: where these settings come from, which version, and the bytes
        of the file and of the files it names, as validated."""
        self._source = source
        self._digest = digest
        self._raw = raw
        self._files = files

    @property
    def raw(self) -> bytes:
        """The settings file's bytes, as validated."""
        return self._raw

    @property
    def files(self) -> dict[Path, bytes]:
        """The files the settings name that could be read, by resolved path, as validated."""
        return {path: content for path, content in self._files.items() if isinstance(content, bytes)}

    def file_bytes(self, path: Path) -> bytes:
        """A named file as it was read when these settings loaded (what was validated is what is used,
        whatever the disk holds now). Raises the OSError met then."""
        content = self._files.get(path)
        if content is None:
            raise FileNotFoundError(2, "not named by these settings", str(path))
        if isinstance(content, OSError):
            raise content
        return content

    def summary(self) -> str:
        domains = sum(len(p.domains) for p in self.providers)
        servers = sum(len(p.incoming) + len(p.outgoing) for p in self.providers)
        count = len(self.providers)
        return (
            f"{count} provider{'s' if count != 1 else ''}, {domains} domain{'s' if domains != 1 else ''}, "
            f"{servers} server{'s' if servers != 1 else ''}"
        )

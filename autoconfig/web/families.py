"""Which mail client asked: a bounded family from the User-Agent and the endpoint, for the metrics and the
setup funnel. Never anything of the address.

What each client sends (docs/funnel.md says where each fact comes from):
- Thunderbird desktop: its browser-like User-Agent, `… Thunderbird/140.5.0` (Betterbird likewise);
- Thunderbird for Android and K-9 Mail: no User-Agent of their own, OkHttp's default `okhttp/5.x`;
- Evolution: libsoup's session, `Evolution/…` or `libsoup/…` where it names itself (else unknown);
- KMail's account wizard: KDE's network stack, `KMail`, `Akonadi` or `KIO/…` where it names itself;
- classic Outlook for Windows: `Microsoft Office/16.0 (… Microsoft Outlook 16.0…)`;
- Microsoft's cloud, for new Outlook, Outlook for Mac and the mobile apps:
  `OutlookMobileCloudService-Autodetect/…`;
- Apple profiles: the browser that downloads them, Safari on iOS/iPadOS or macOS;
- anything else a browser asks (the pages, or a person opening a document to look): `browser`.
"""

from __future__ import annotations

from autoconfig.caches import memoize

THUNDERBIRD = "thunderbird"
THUNDERBIRD_ANDROID = "thunderbird_android"
EVOLUTION = "evolution"
KMAIL = "kmail"
OUTLOOK = "outlook"
MICROSOFT_CLOUD = "microsoft_cloud"
APPLE_IOS = "apple_ios"
APPLE_MACOS = "apple_macos"
BROWSER = "browser"
PROBE = "probe"  # `autoconfig probe`: the IT team's own checks, kept out of the people's counts
UNKNOWN = "unknown"
FAMILIES = (
    THUNDERBIRD,
    THUNDERBIRD_ANDROID,
    EVOLUTION,
    KMAIL,
    OUTLOOK,
    MICROSOFT_CLOUD,
    APPLE_IOS,
    APPLE_MACOS,
    BROWSER,
    PROBE,
    UNKNOWN,
)
PROFILE_ENDPOINT = "mobileconfig"  # where an Apple browser is Apple's setup path, not a page visit

# Checked in order: the first token found names the family. Thunderbird's and Outlook's User-Agents
# also read like a browser's (`Mozilla/5.0 …`), so they come before the browsers.
_TOKENS: tuple[tuple[str, str], ...] = (
    ("autoconfig-probe", PROBE),
    ("outlookmobilecloudservice", MICROSOFT_CLOUD),
    ("microsoft office", OUTLOOK),
    ("microsoft outlook", OUTLOOK),
    ("thunderbird/", THUNDERBIRD),
    ("betterbird/", THUNDERBIRD),
    ("okhttp/", THUNDERBIRD_ANDROID),
    ("k-9 mail", THUNDERBIRD_ANDROID),
    ("k9mail", THUNDERBIRD_ANDROID),
    ("evolution/", EVOLUTION),
    ("libsoup/", EVOLUTION),
    ("konqueror", BROWSER),  # KDE's browser speaks through KIO too
    ("kmail", KMAIL),
    ("akonadi", KMAIL),
    ("kio/", KMAIL),
)
_APPLE_MOBILE = ("iphone", "ipad", "ipod", "cpu os ")
_BROWSERS = ("mozilla/", "safari/", "chrome/", "firefox/", "edg/", "opera")
_MAX_USER_AGENT = 512  # what is read of a User-Agent: the tokens are near the start


def client_family(user_agent: str, endpoint: str) -> str:
    """The family of the client that sent this User-Agent to this endpoint (a metric label)."""
    return _family(user_agent[:_MAX_USER_AGENT], endpoint == PROFILE_ENDPOINT)


# User-Agents repeat: a bounded cache makes the common case one lookup, and a flood of random ones costs
# only evictions. No settings are read: right for any version.
@memoize("client_families")
def _family(user_agent: str, profile: bool) -> str:
    text = user_agent.lower()
    for token, family in _TOKENS:
        if token in text:
            return family
    if profile:
        if any(token in text for token in _APPLE_MOBILE):
            return APPLE_IOS
        if "macintosh" in text or "mac os x" in text:
            return APPLE_MACOS
    if any(token in text for token in _BROWSERS):
        return BROWSER
    return UNKNOWN

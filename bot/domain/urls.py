"""URLs as the bot shows them: never a credential, wherever in the URL it is written.

A URL carries credentials in two places. The userinfo (`user:password@`): a registry or database URL with Basic
credentials. The query: libpq (so psycopg and the database URL) takes `?password=` and `?sslpassword=`, a SIEM
collector often takes its key there (Splunk HEC `?token=<GUID>`, Datadog `?dd-api-key=`, an Azure SAS `&sig=`).
`safe_url` is the one form in which the bot prints, logs or reports a URL; `endpoint` is for a URL that is a
credential as a whole (the SIEM webhook); `credentials` lists the values the log redactor must know exactly,
since a GUID-shaped key looks like the UUIDs it keeps visible on purpose; `without_credentials` takes them out
of a driver's message the CLI prints (which does not pass through the log redactor).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import unquote, urlsplit

MASK: Final = "***"
# A query parameter whose name says it holds a secret: password, passwd, pwd, sslpassword, secret, client_secret,
# token, access_token, key, api_key, dd-api-key, apikey, auth, credential, sig, signature.
SECRET_PARAMETER: Final = re.compile(r"(?i)pass|pwd|secret|token|key|auth|cred|sig")
# `scheme://userinfo@`: the userinfo ends at the last '@' before the path, so an unencoded '@' in it is covered.
_USERINFO: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)([^\s/?#]*)@")
# Shorter values would mask ordinary words in a message (a password this short is shown, and is no password).
_MIN_CREDENTIAL: Final = 4
_ENDPOINT: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)(?:[^\s/?#]*@)?([^\s/?#]*)([^\s?#]*)")
_HTTP_URL: Final = re.compile(r"^https?://[^/\s]+")


def is_http_url(url: str) -> bool:
    """Whether a URL starts with http:// or https:// and a host (what every URL setting must be)."""
    return _HTTP_URL.match(url) is not None


def sends_in_clear(url: str) -> bool:
    """Whether a URL is plain http to a host other than this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return True
    if parts.scheme.lower() != "http" or host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return True


def safe_url(url: str) -> str:
    """The URL for humans: without its userinfo, the values of secret-named query parameters masked."""
    url = _USERINFO.sub(r"\1", url, count=1)
    head, question, rest = url.partition("?")
    if not question:
        return url
    query, hash_, fragment = rest.partition("#")
    return f"{head}?{'&'.join(_masked(parameter) for parameter in query.split('&'))}{hash_}{fragment}"


def endpoint(url: str) -> str:
    """Where a URL points, and nothing it carries: `scheme://host[:port]/path` (no userinfo, query or fragment)."""
    match = _ENDPOINT.match(url.strip())
    return "".join(match.groups()) if match else "(not a URL)"


def credentials(url: str, *, whole: bool = False) -> list[str]:
    """The secrets written in a URL, as written and percent-decoded: the userinfo's password and the values of
    secret-named query parameters; with `whole` (a URL that is a credential as a whole), also the userinfo
    itself and every query value, whatever its name."""
    found: list[str] = []
    userinfo = _USERINFO.match(url.strip())
    if userinfo:
        password = userinfo.group(2).partition(":")[2]
        found += [userinfo.group(2), password] if whole else [password]
    query = url.partition("?")[2].partition("#")[0]
    for parameter in query.split("&") if query else ():
        name, equals, value = parameter.partition("=")
        if equals and (whole or SECRET_PARAMETER.search(unquote(name))):
            found.append(value)
    spelled = [spelling for value in found for spelling in (value, unquote(value.replace("+", " ")), unquote(value))]
    return [value for value in dict.fromkeys(spelled) if value]


def without_credentials(text: str, url: str) -> str:
    """`text` (a driver's error, which may echo its connection string) with every credential of `url` masked."""
    for value in sorted(credentials(url), key=len, reverse=True):
        if len(value) >= _MIN_CREDENTIAL:
            text = text.replace(value, MASK)
    return text


def _masked(parameter: str) -> str:
    name, equals, value = parameter.partition("=")
    if equals and value and SECRET_PARAMETER.search(unquote(name)):
        return f"{name}={MASK}"
    return parameter

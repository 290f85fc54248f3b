"""URL normalization: one spelling per page, and an identity key for deduplication.

:func:`normalize_url` gives the URL veille stores and fetches; :func:`url_key` folds the
variants that almost always name the same article (http/https, ``www.``, a trailing slash).
Both raise ValueError for anything that is not an absolute http(s) URL.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit, urlunsplit

import idna

# Query parameters that only say how a reader arrived, never which page they asked for.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid", "ttclid",
        "mc_cid", "mc_eid", "ref", "ref_src", "ref_url", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp",
        "hsctatracking", "spm", "cmpid", "cmp", "xtor", "xtref", "at_medium", "at_campaign", "at_platform",
        "at_send_date", "at_creation", "at_link", "at_ptr_name", "at_term", "at_format", "_ga", "_gl",
        "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "wickedid", "trk", "trkcampaign",
        "sr_share", "ncid", "ocid", "smid", "smtyp", "emc", "ns_mchannel", "ns_source", "ns_campaign",
        "ns_linkname", "ns_fee", "guccounter", "guce_referrer", "guce_referrer_sig", "__twitter_impression",
        "soc_src", "soc_trk", "s_cid", "icid", "mbid", "rss_source",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters left as they are in a path or query; everything else is percent-encoded.
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/%")
_QUERY_SAFE = _PATH_SAFE | frozenset("?")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _requote(part: str, safe: frozenset[str]) -> str:
    """Percent-encoding in one canonical form: unreserved escapes decoded, the others upper-case.

    Reserved characters stay escaped (``%26`` must not become ``&`` inside a query value).
    """

    def unescape(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        if char in _UNRESERVED:
            return char
        return "%" + match.group(1).upper()

    part = _ESCAPE.sub(unescape, part)
    out = []
    for char in part:
        if char in safe:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    # A lone '%' not starting an escape is data: encode it.
    return re.sub(r"%(?![0-9A-F]{2})", "%25", "".join(out))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, so ``/a/./b/../c`` becomes ``/a/c``."""
    if "." not in path:
        return path
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if path.endswith(("/.", "/..")):
        output.append("")
    return "/" + "/".join(output)


def _host(hostname: str) -> str:
    host = hostname.rstrip(".").lower()
    if host.startswith("[") or host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return host.encode("idna").decode("ascii")


def is_tracking_param(name: str) -> bool:
    key = name.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def normalize_url(url: str, base: str | None = None) -> str:
    """The canonical spelling of an absolute http(s) URL, ``url`` resolved against ``base`` first.

    >>> normalize_url("HTTPS://Example.COM:443/a/./b?utm_source=x&id=3#top")
    'https://example.com/a/b?id=3'
    """
    url = url.strip()
    if base:
        url = urljoin(base.strip(), url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {url!r}")
    host = _host(parts.hostname)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    port = parts.port  # raises ValueError for a port that is not a number
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{netloc}"
    path = _remove_dot_segments(_requote(parts.path, _PATH_SAFE)) or "/"
    params = [
        _requote(pair, _QUERY_SAFE)
        for pair in parts.query.split("&")
        if pair and not is_tracking_param(_param_name(pair))
    ]
    return urlunsplit((scheme, netloc, path, "&".join(params), ""))


def _param_name(pair: str) -> str:
    name = pair.split("=", 1)[0]
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)


def url_key(url: str) -> str:
    """An identity key: two URLs with the same key are taken to be the same page.

    The key is scheme-less (``example.com/a?b=1``): http and https fold together, as do
    ``www.example.com`` and ``example.com``, and ``/a/`` and ``/a``.
    """
    parts = urlsplit(normalize_url(url))
    host = parts.netloc.rpartition("@")[2]
    if host.startswith("www."):
        host = host[4:]
    path = parts.path.rstrip("/")
    return f"{host}{path}?{parts.query}" if parts.query else f"{host}{path}"

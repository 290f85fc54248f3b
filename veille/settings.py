"""Settings, read once from the environment (and a `.env` file) and passed in.

No other module reads the environment: call :func:`get_settings` at the edge
(CLI, Celery app) and hand the frozen object down.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
DEFAULT_WEB_LISTEN = "127.0.0.1:8080"
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class SettingsError(ValueError):
    """A setting has a value veille cannot use; the message names it."""


def parse_duration(text: str | int | float) -> float:
    """Parse `10s`, `5m`, `1h`, `7d`, `2w` or a bare number of seconds into seconds.

    >>> parse_duration("15m")
    900.0
    """
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"duration must not be negative: {text}")
        return float(text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h, 7d)")
    value, unit = match.groups()
    return float(value) * _UNITS[(unit or "s").lower()]


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration: 900 -> '15m'."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def check_listen(value: str, name: str) -> str:
    """``HOST:PORT`` as veille binds it (an empty host is every interface), or ValueError naming ``name``."""
    host, _, port = value.strip().rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name}: {value!r} is not HOST:PORT (e.g. 127.0.0.1:8080, or 0.0.0.0:8080 for every "
                         f"interface)")
    return f"{host or '0.0.0.0'}:{port}"


class Settings(BaseSettings):
    """Every setting veille reads; environment variables are `VEILLE_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="VEILLE_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    data_dir: Path = Path("./data")
    database_url: str | None = None
    broker_url: str | None = None
    smtp_url: str | None = None
    email_from: str = "veille@localhost"
    allow_private_addresses: bool = False
    allowed_networks: str = ""
    contact_url: str = "https://github.com/veille/veille"
    poll_interval: float = 900.0
    min_poll_interval: float = 10.0
    max_poll_interval: float = 86400.0
    dispatch_every: float = 2.0
    http_timeout: float = 20.0
    max_page_bytes: int = 5 * 1024 * 1024
    max_feed_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    fetch_concurrency: int = 64
    per_host_concurrency: int = 2
    feed_text_min_chars: int = 1500
    delivery_max_attempts: int = 20
    delivery_first_retry: float = 30.0  # then doubling, with jitter, up to 6 h apart
    delivery_retry_for: float = 86400.0  # transient failures are retried for this long, then the alert fails
    alert_summary_after: int = 20  # more alerts than this waiting for one channel go out as one summary
    feed_failing_after: int = 10         # consecutive failures before one "feed failing" notice to admin channels
    stale_after: float = 45.0
    page_retry: float = 60.0  # wait before a page that failed (timeout, 5xx) is fetched again; then doubled
    log_level: str = "INFO"
    worker_concurrency: int = 4  # two per core on 2 cores: tasks wait on the network as much as they compute
    poll_processes: int = 0  # processes `veille poll`/`extract` extract pages in: 0 = one per core (>= 1), 1 = none
    public_url: str | None = None  # where the hubs reach this service (WebSub callbacks); unset: no WebSub
    web_listen: str | None = None  # HOST:PORT the web server binds (default 127.0.0.1:8080)
    listen: str | None = None      # deprecated name of web_listen (VEILLE_LISTEN), read when it is unset
    web_max_body: int = 4 * 1024 * 1024  # request bodies over this are refused (413); WebSub pushes: max_feed_bytes
    web_timeout: float = 20.0      # a client's request head, and each read of its body, within this; a body in 3x
    trusted_proxies: str = ""      # addresses whose X-Forwarded-For/-Proto the web server believes
    websub_lease: float = 864000.0  # lease asked of WebSub hubs (10 days); renewed before it ends
    backfill: float = 86400.0  # a feed's first poll alerts only on items published this recently (0: none)
    max_age: float = 30 * 86400.0  # after that, an item older than this when first seen alerts nobody
    # searches of the web's news for tracked entities (`track add --search`): veille.search
    languages: str = "en"  # the languages an entity's searches use when it names none (comma-separated codes)
    search_interval: float = 900.0  # each search query is asked at most once per interval
    search_providers: str = "gdelt,hn"  # the providers searched (gdelt, hn, google-news), comma-separated
    gdelt_url: str = "https://api.gdeltproject.org"  # scheme, host, optional path prefix: veille adds the rest
    hn_url: str = "https://hn.algolia.com"
    google_news_url: str = "https://news.google.com"

    @field_validator("poll_interval", "min_poll_interval", "max_poll_interval", "dispatch_every",
                     "stale_after", "page_retry", "delivery_first_retry", "delivery_retry_for", "backfill",
                     "max_age", "web_timeout", "search_interval", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        if isinstance(value, str | int | float):
            return parse_duration(value)
        raise ValueError(f"not a duration: {value!r}")

    @field_validator("search_interval")
    @classmethod
    def _search_interval(cls, value: float) -> float:
        if value < 60:
            raise ValueError("VEILLE_SEARCH_INTERVAL: at least 1m (each query is asked once per interval)")
        return value

    @field_validator("gdelt_url", "hn_url", "google_news_url")
    @classmethod
    def _base_url(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", value, re.IGNORECASE):
            raise ValueError(f"VEILLE_{(info.field_name or '').upper()}: {value!r} is not an http(s) URL without "
                             f"query or fragment (scheme, host and an optional path prefix)")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: str) -> str:
        from veille.search.languages import check_languages

        codes = check_languages(value.split(","), setting="VEILLE_LANGUAGES")
        if not codes:
            raise ValueError("VEILLE_LANGUAGES: give at least one language code, e.g. en or fr,en")
        return ",".join(codes)

    @field_validator("search_providers")
    @classmethod
    def _providers(cls, value: str) -> str:
        from veille.search.names import check_providers

        return ",".join(check_providers(value.split(",")))

    @property
    def language_codes(self) -> tuple[str, ...]:
        """VEILLE_LANGUAGES as codes: ("fr", "en")."""
        return tuple(c for c in self.languages.split(",") if c)

    @property
    def search_provider_names(self) -> tuple[str, ...]:
        """VEILLE_SEARCH_PROVIDERS as names: ("gdelt", "hn")."""
        return tuple(p for p in self.search_providers.split(",") if p)

    @field_validator("websub_lease", mode="before")
    @classmethod
    def _lease(cls, value: object) -> float:
        if isinstance(value, str | int | float):
            seconds = parse_duration(value)
            if seconds < 60:
                raise ValueError("VEILLE_WEBSUB_LEASE: at least 60s")
            return seconds
        raise ValueError(f"not a duration: {value!r}")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", value, re.IGNORECASE):
            raise ValueError(f"VEILLE_PUBLIC_URL: {value!r} is not an http(s) URL without query or fragment "
                             f"(e.g. https://veille.example.org)")
        return value

    @field_validator("web_listen", "listen")
    @classmethod
    def _listen(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        return check_listen(value, f"VEILLE_{(info.field_name or 'web_listen').upper()}")

    @property
    def web_address(self) -> str:
        """Where the web server listens: VEILLE_WEB_LISTEN, else the deprecated VEILLE_LISTEN, else loopback."""
        return self.web_listen or self.listen or DEFAULT_WEB_LISTEN

    @property
    def listen_address(self) -> tuple[str, int]:
        """:attr:`web_address` as (host, port); an IPv6 host may be written in brackets."""
        host, _, port = self.web_address.rpartition(":")
        return host.strip("[]"), int(port)

    @field_validator("web_max_body")
    @classmethod
    def _max_body(cls, value: int) -> int:
        if value < 1024:
            raise ValueError("VEILLE_WEB_MAX_BODY: at least 1024 bytes")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            if part == "*":
                continue
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"VEILLE_TRUSTED_PROXIES: {part!r} is not an address or a CIDR network "
                                 f"(e.g. 127.0.0.1, 10.0.0.0/8)") from exc
        return ",".join(p.strip() for p in value.split(",") if p.strip())

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"VEILLE_ALLOWED_NETWORKS: {part!r} is not a CIDR network") from exc
        return value

    @property
    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in self.allowed_networks.split(",") if p.strip()
        )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'veille.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_url

    @property
    def user_agent(self) -> str:
        from veille import __version__

        return f"veille/{__version__} (+{self.contact_url})"



def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once. Raises SettingsError with the variable's name."""
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError lists each bad variable
        raise SettingsError(f"invalid settings: {exc}") from exc

"""Runtime configuration: environment variables plus an optional TOML file.

Everything secret comes from the environment or from the file named by ``PROCTORHUB_CONFIG``;
nothing secret lives in code. Local runs generate a ``SECRET_KEY`` into ``var/``.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_VAR_DIR = Path(os.environ.get("PROCTORHUB_VAR_DIR", Path.cwd() / "var"))

DEFAULT_REVIEWS = {
    "allow_review_updates": True,
    "require_failure_second_reviews": True,
    "allow_callback_simulation": False,
    "max_body_bytes": 1024 * 1024,
}

DEFAULT_ATTEMPTS = {
    # How often the background sweep submits attempts whose time ran out (seconds).
    "sweep_interval_seconds": 30,
}

# --- outbox and its channels (notifications) ---------------------------------------------------
DEFAULT_OUTBOX = {
    "max_tries": 8,               # then the row is parked as dead (``proctorhub outbox retry``)
    "base_delay_seconds": 5,      # backoff: base * 2**(tries-1), jittered +-20 %, capped below
    "max_delay_seconds": 3600,
    "lease_seconds": 300,         # a claimed row comes due again after this if its worker died
    "batch_size": 100,
    "sweep_seconds": 5,           # how often `proctorhub worker` sweeps for due rows
}

DEFAULT_WEBHOOKS = {
    "timeout_seconds": 10,        # per request (connect and read)
    "send_threads": 8,            # requests a worker has in flight at once; 1 = one by one
}

DEFAULT_ZENDESK = {
    "subdomain": "",              # acme -> https://acme.zendesk.com
    "domain": "zendesk.com",
    "email": "",                  # the agent the API token belongs to
    "token": "",                  # or ZENDESK_TOKEN in the environment
    "api_url": "",                # e.g. http://127.0.0.1:8080 (a test double); overrides the above
    "timeout_seconds": 10,
    "tags": ["proctorhub", "suspicious_review"],
}

DEFAULT_EMAIL = {
    "from_address": "proctorhub@localhost",
    "support_address": "",        # gets suspicious reviews by email when Zendesk is not configured
    "learner_emails": True,       # submitted / verified / rejected, proctored non-practice exams
    "template_dirs": [],          # searched before the built-in templates (operator overrides)
}

DEFAULT_TRACKING = {
    "path": "tracking.log",       # relative to the var dir; "stdout"; or "" to turn it off
}


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to fix."""


@dataclass
class Config:
    env: str = "development"
    debug: bool = True
    secret_key: str = ""
    database_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_REVIEWS))
    attempts: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_ATTEMPTS))
    allowed_hosts: list[str] = field(default_factory=lambda: ["*"])
    var_dir: Path = DEFAULT_VAR_DIR
    outbox: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OUTBOX))
    webhooks: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_WEBHOOKS))
    zendesk: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_ZENDESK))
    email: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_EMAIL))
    tracking: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TRACKING))

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"PROCTORHUB_CONFIG points to {path}, which does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _local_secret_key(var_dir: Path) -> str:
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load(environ: dict[str, str] | None = None) -> Config:
    """Build the configuration from ``environ`` (default: ``os.environ``)."""
    environ = dict(os.environ if environ is None else environ)
    var_dir = Path(environ.get("PROCTORHUB_VAR_DIR", DEFAULT_VAR_DIR))
    data: dict[str, Any] = {}
    if environ.get("PROCTORHUB_CONFIG"):
        data = read_toml(environ["PROCTORHUB_CONFIG"])

    env = environ.get("PROCTORHUB_ENV", data.get("env", "development"))
    if env not in {"development", "production", "test"}:
        raise ConfigError(f"PROCTORHUB_ENV must be development, production or test, not {env!r}")
    debug_default = "false" if env == "production" else "true"
    debug = _truthy(environ.get("DEBUG", str(data.get("debug", debug_default))))

    cfg = Config(env=env, debug=debug, var_dir=var_dir)
    cfg.secret_key = environ.get("SECRET_KEY") or data.get("secret_key", "")
    if not cfg.secret_key and env != "production":
        cfg.secret_key = _local_secret_key(var_dir)
    cfg.database_url = environ.get("DATABASE_URL") or data.get(
        "database_url", f"sqlite:///{var_dir / 'proctorhub.sqlite3'}"
    )
    cfg.base_url = (environ.get("PROCTORHUB_BASE_URL") or data.get("base_url") or cfg.base_url).rstrip("/")
    hosts = environ.get("ALLOWED_HOSTS") or data.get("allowed_hosts")
    if isinstance(hosts, str):
        hosts = [h.strip() for h in hosts.split(",") if h.strip()]
    if hosts:
        cfg.allowed_hosts = list(hosts)
    cfg.providers = {name: dict(values) for name, values in data.get("providers", {}).items()}
    cfg.reviews = {**DEFAULT_REVIEWS, **data.get("reviews", {})}
    cfg.attempts = {**DEFAULT_ATTEMPTS, **data.get("attempts", {})}
    _load_notifications(cfg, data, environ)
    check_production(cfg)
    return cfg


def check_production(cfg: Config) -> None:
    """Refuse a production configuration that is unsafe; list every problem at once."""
    if not cfg.is_production:
        return
    problems = []
    if cfg.debug:
        problems.append("DEBUG is on (set DEBUG=false)")
    if not cfg.secret_key:
        problems.append("SECRET_KEY is missing (set it in the environment or the config file)")
    if cfg.reviews.get("allow_callback_simulation"):
        problems.append("[reviews] allow_callback_simulation is a dev-only switch; turn it off")
    if cfg.providers.get("mock", {}).get("enabled"):
        problems.append("[providers.mock] is a dev-only provider; disable it")
    if cfg.allowed_hosts == ["*"]:
        problems.append("ALLOWED_HOSTS is '*' (list the host names this service answers on)")
    if problems:
        raise ConfigError("refusing to start in production mode: " + "; ".join(problems))


def _load_notifications(cfg: Config, data: dict[str, Any], environ: dict[str, str]) -> None:
    """[outbox], [webhooks], [zendesk], [email], [tracking]; secrets may come from the environment."""
    cfg.outbox = {**DEFAULT_OUTBOX, **data.get("outbox", {})}
    cfg.webhooks = {**DEFAULT_WEBHOOKS, **data.get("webhooks", {})}
    cfg.zendesk = {**DEFAULT_ZENDESK, **data.get("zendesk", {})}
    cfg.email = {**DEFAULT_EMAIL, **data.get("email", {})}
    cfg.tracking = {**DEFAULT_TRACKING, **data.get("tracking", {})}
    for key, name in (("token", "ZENDESK_TOKEN"), ("email", "ZENDESK_EMAIL"),
                      ("subdomain", "ZENDESK_SUBDOMAIN"), ("api_url", "ZENDESK_API_URL")):
        if environ.get(name):
            cfg.zendesk[key] = environ[name]
    if environ.get("PROCTORHUB_TRACKING_PATH") is not None:
        cfg.tracking["path"] = environ["PROCTORHUB_TRACKING_PATH"]
    zd = cfg.zendesk
    if (zd["subdomain"] or zd["api_url"]) and not (zd["email"] and zd["token"]):
        raise ConfigError("[zendesk] needs email and token (or ZENDESK_TOKEN) with subdomain/api_url")
    _check_numbers(cfg)
    if isinstance(cfg.email.get("template_dirs"), str):
        cfg.email["template_dirs"] = [cfg.email["template_dirs"]]


#: Settings the outbox reads as numbers, by section; whole numbers among them, and least values
#: other than 0.
NUMBERS = {"outbox": tuple(DEFAULT_OUTBOX), "webhooks": ("timeout_seconds", "send_threads")}
WHOLE_NUMBERS = {"max_tries", "batch_size", "send_threads"}
LEAST = {"max_tries": 1, "batch_size": 1, "send_threads": 1, "timeout_seconds": 0.001}


def _check_numbers(cfg: Config) -> None:
    """Refuse a non-numeric or out-of-range outbox setting at start, not in the worker later."""
    problems = []
    for section, keys in NUMBERS.items():
        for key in keys:
            value = getattr(cfg, section).get(key)
            whole = key in WHOLE_NUMBERS
            least = LEAST.get(key, 0)
            number = isinstance(value, int if whole else int | float)
            if not number or isinstance(value, bool) or value < least:
                kind = "a whole number" if whole else "a number"
                problems.append(f"[{section}] {key} must be {kind} >= {least}, not {value!r}")
    if problems:
        raise ConfigError("; ".join(problems))

"""What an agent inherits from the server's environment: an allowlist of names (npm's settings without
their credentials), ``PATH`` without the entries a hostile workspace could plant programs in, the names
Codex keeps out of the commands it runs, and where Codex's home and its provider's key are
(docs/security.md, ADR 0006). Pure except :func:`search_path` (resolves PATH entries) and
:func:`provider_key_var` (reads ``config.toml``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

KEY_VARS = ("OPENAI_API_KEY", "CODEX_API_KEY")

#: What the agent inherits from the server's environment (plus ``LC_*``); nothing else.
_PASSED = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "TMPDIR", "TEMP", "TMP"),
        *("LANG", "LANGUAGE", "CODEX_HOME", "CODEX_PATH", "CODEX_CONFIG", "MODEL_PROVIDER", "RUST_LOG"),
        *("OPENAI_BASE_URL", "OPENAI_ORGANIZATION", "OPENAI_PROJECT", "NO_BROWSER"),
        *("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
        *("CODEX_CA_CERTIFICATE", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"),  # keyring logins
        *("SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "USERPROFILE", "APPDATA", "LOCALAPPDATA"),
        *(f"{name}{suffix}" for name in ("HTTP", "HTTPS", "ALL", "NO") for suffix in ("_PROXY",)),
        *(f"{name}_proxy" for name in ("http", "https", "all", "no")),
    }
)
#: Besides ``LC_*`` (locale), ``npm_config_*``/``NPM_CONFIG_*`` (npx's own settings) pass, except those
#: that are credentials (``_auth``, ``_authToken``, ``_password``, ``username``, ``email``, ``otp``,
#: ``certfile``/``keyfile``/``cert``/``key``), every per-registry one (``//host/:…``: all credentials) and
#: any whose value is a URL with a user or password in it. npx needs none of them for the public registry.
_NPM_SECRET = re.compile(r"auth|token|pass|secret|otp|cert|key|username|email|[/:@]", re.IGNORECASE)
#: Kept out of every command Codex runs, on top of Codex's own ``*KEY*``/``*SECRET*``/``*TOKEN*``.
_COMMAND_EXCLUDES = (*KEY_VARS, "*PASSWORD*", "*PASSWD*", "*CREDENTIAL*", "*PRIVATE*", "*AUTH*")
_USERINFO = re.compile(r"://[^/@\s]*@")  # a URL with a user name or password in it


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def search_path(value: str, workspace: Path | None) -> str:
    """``value`` (a ``PATH``) without the entries a hostile workspace could plant programs in: empty
    ones (the current directory), relative ones, and any inside the workspace (``node_modules/.bin``)."""
    kept: list[str] = []
    for entry in value.split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        if workspace is not None:
            path = Path(os.path.normpath(entry))
            try:
                real = path.resolve()
            except (OSError, RuntimeError):
                real = path
            if _inside(path, workspace) or _inside(real, workspace):
                continue
        kept.append(entry)
    return os.pathsep.join(kept)


def _passed_npm(name: str, value: str) -> bool:
    key = name[len("npm_config_") :]
    return not _NPM_SECRET.search(key) and not _USERINFO.search(value)


def agent_env(
    source: Mapping[str, str],
    extra: Iterable[str] = (),
    keys: Iterable[str] = (),
    workspace: Path | None = None,
) -> dict[str, str]:
    """The allowlisted part of ``source``: the names and prefixes above (npm settings without their
    credentials), the ``extra`` names (a trailing ``*`` matches a prefix) and the key variables in
    ``keys``; ``PATH`` without entries a workspace could plant programs in (:func:`search_path`)."""
    patterns = [name.strip() for name in extra if name.strip()]
    wanted = set(keys)

    def explicit(name: str) -> bool:
        return name in wanted or any(
            name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns
        )

    def passed(name: str, value: str) -> bool:
        if name in _PASSED or explicit(name) or name.startswith("LC_"):
            return True
        return name.lower().startswith("npm_config_") and _passed_npm(name, value)

    env = {name: value for name, value in source.items() if passed(name, value)}
    if "PATH" in env:
        env["PATH"] = search_path(env["PATH"], workspace)
    return env


def command_excludes(env: Mapping[str, str]) -> list[str]:
    """Names Codex must not pass to the commands it runs: keys, secret-looking names, proxies whose URL
    carries credentials."""
    proxies = sorted(
        name for name, value in env.items() if "proxy" in name.lower() and _USERINFO.search(value)
    )
    return [*_COMMAND_EXCLUDES, *proxies]


def provider_key_var(codex_home: Path) -> str | None:
    """The ``env_key`` of the model provider the user's ``config.toml`` selects, if it names one."""
    import tomllib

    try:
        config = tomllib.loads((codex_home / "config.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    provider = config.get("model_provider")  # (Codex 0.166 refuses the legacy `profile = …` key)
    providers = config.get("model_providers")
    entry = providers.get(provider) if isinstance(providers, dict) and isinstance(provider, str) else None
    key = entry.get("env_key") if isinstance(entry, dict) else None
    return key if isinstance(key, str) and key else None


def codex_home(env: Mapping[str, str]) -> Path:
    value = env.get("CODEX_HOME", "").strip()
    return Path(value).expanduser() if value else Path(env.get("HOME") or Path.home()) / ".codex"

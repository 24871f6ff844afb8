"""Settings from the environment and clouds.yaml, read the way openstacksdk users expect.

One implementation for ``EvsJobClient.from_environment`` and the command line. Reading
decides everything it can without the network; only a project given by name needs IAM,
and the caller does that (``Settings.project_id`` is then None).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._credentials._auth import AkSkAuth, Auth, TokenAuth
from .._credentials._iam import PasswordAuth
from .._errors import AuthenticationError
from .._validate import check_id
from .._wire._http import HttpSettings
from .._wire._regions import endpoint_for, provider_of

__all__ = ["KEY_PAIRS", "Settings", "load_cloud", "read_settings"]

# Environment variables by setting; the first one set wins, and wins over clouds.yaml.
_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "auth_url": ("OS_AUTH_URL",),
    "username": ("OS_USERNAME",),
    "password": ("OS_PASSWORD",),
    "project_id": ("OS_PROJECT_ID", "HUAWEICLOUD_SDK_PROJECT_ID"),
    "project_name": ("OS_PROJECT_NAME",),
    "user_domain_name": ("OS_USER_DOMAIN_NAME",),
    "domain_name": ("OS_DOMAIN_NAME",),
    "region_name": ("OS_REGION_NAME",),
    "token": ("OS_AUTH_TOKEN",),
    "cacert": ("OS_CACERT",),
    "insecure": ("OS_INSECURE",),
}
# Access key pairs with their security token, in the order they are looked for.
KEY_PAIRS = (
    ("OS_ACCESS_KEY", "OS_SECRET_KEY", "OS_SECURITY_TOKEN"),
    ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"),
    ("CLOUD_SDK_AK", "CLOUD_SDK_SK", "CLOUD_SDK_SECURITY_TOKEN"),
)
_EXTRA = "pip install 'evs-job-watch[clouds]'"


@attrs.frozen
class Settings:
    """Where and as whom to connect. ``project_id`` None: ask ``resolve_project_id``."""

    endpoint: str
    project_id: str | None
    auth: Auth
    http: HttpSettings  # connection settings, with the CA bundle of the config (cacert)
    resolve_project_id: Callable[[], Awaitable[str]] | None = None


def _config_paths(name: str, environ: Mapping[str, str]) -> list[Path]:
    override = environ.get("OS_CLIENT_CONFIG_FILE" if name == "clouds" else "OS_CLIENT_SECURE_FILE")
    folders = [Path.cwd(), Path.home() / ".config" / "openstack", Path("/etc/openstack")]
    found = [Path(override)] if override else []
    return found + [folder / f"{name}.{ext}" for folder in folders for ext in ("yaml", "yml")]


def _read_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise ImportError(f"reading {path.name} needs PyYAML: {_EXTRA}") from None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        # Only the line and the problem: the error's snippet of the file may hold a password.
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise ValueError(f"{path}: not valid YAML ({line}{getattr(exc, 'problem', '')})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _cloud_entry(path: Path, cloud: str) -> dict[str, Any]:
    data = _read_yaml(path)
    clouds = data.get("clouds") if isinstance(data, dict) else None
    if not isinstance(clouds, dict):
        raise ValueError(f"{path}: no 'clouds:' mapping")
    entry = clouds.get(cloud)
    if entry is None:
        names = ", ".join(sorted(map(str, clouds))) or "none"
        raise ValueError(f"{path} has no cloud {cloud!r} (it has: {names})")
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: cloud {cloud!r} is not a mapping")
    return entry


def load_cloud(cloud: str, environ: Mapping[str, str]) -> dict[str, object]:
    """The settings of ``cloud`` in clouds.yaml, with secure.yaml's merged in, flattened."""
    path = next((p for p in _config_paths("clouds", environ) if p.is_file()), None)
    if path is None:
        looked = ", ".join(str(p) for p in _config_paths("clouds", environ))
        raise ValueError(
            f"cloud {cloud!r} asked for, but no clouds.yaml found (looked in {looked})"
        )
    entry = _cloud_entry(path, cloud)
    secure = next((p for p in _config_paths("secure", environ) if p.is_file()), None)
    if secure is not None:
        data = _read_yaml(secure)
        if isinstance(data, dict) and isinstance(data.get("clouds"), dict):
            extra = data["clouds"].get(cloud)
            if isinstance(extra, dict):
                entry = _merge(entry, extra)
    flat: dict[str, object] = {k: v for k, v in entry.items() if k != "auth"}
    auth = entry.get("auth", {})
    if not isinstance(auth, dict):
        raise ValueError(f"{path}: cloud {cloud!r} has an 'auth' that is not a mapping")
    flat.update(auth)
    regions = flat.get("regions")
    if "region_name" not in flat and isinstance(regions, list) and regions:
        first = regions[0]
        flat["region_name"] = first.get("name") if isinstance(first, dict) else first
    for key, value in flat.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            # YAML turns 0123 into 83 and 1e5 into a float: the text is lost, so say so.
            raise ValueError(f"{path}: {key} of cloud {cloud!r} must be quoted as a string")
    return flat


def _text(config: Mapping[str, object], key: str) -> str | None:
    value = config.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _auth(config: Mapping[str, object], environ: Mapping[str, str], http: HttpSettings) -> Auth:
    """The credential, by rank: a token, an access key pair, a user name and password."""
    token = _text(config, "token")
    if token:
        try:
            return TokenAuth(token)
        except AuthenticationError as exc:
            raise ValueError(f"the token (OS_AUTH_TOKEN): {exc.message}") from None
    for access_name, secret_name, token_name in KEY_PAIRS:
        access, secret = environ.get(access_name), environ.get(secret_name)
        if access and secret:
            return AkSkAuth(access, secret, security_token=environ.get(token_name) or None)
    access, secret = _text(config, "ak"), _text(config, "sk")
    if access and secret:
        return AkSkAuth(access, secret, security_token=_text(config, "security_token"))
    username, password = _text(config, "username"), _text(config, "password")
    if username and password:
        return _password_auth(config, username, password, http)
    halves = [
        (given, lacking)
        for first, second, _ in KEY_PAIRS
        for given, lacking in ((first, second), (second, first))
        if environ.get(given) and not environ.get(lacking)
    ]
    for (given, lacking), values in (
        (("ak", "sk"), (access, secret)),
        (("OS_USERNAME", "OS_PASSWORD"), (username, password)),
    ):
        if bool(values[0]) != bool(values[1]):
            halves.append((given, lacking) if values[0] else (lacking, given))
    if halves:  # half a credential is a mistake to name, not "no credentials"
        given, lacking = halves[0]
        raise ValueError(f"{given} is set but {lacking} is not: give both (or another credential)")
    pairs = ", ".join(f"{a}/{s}" for a, s, _ in KEY_PAIRS)
    raise ValueError(
        "no credentials: set OS_AUTH_TOKEN, an access key pair "
        f"({pairs}), or OS_USERNAME and OS_PASSWORD (or OS_CLOUD, for clouds.yaml)"
    )


def _password_auth(
    config: Mapping[str, object], username: str, password: str, http: HttpSettings
) -> PasswordAuth:
    domain = _text(config, "user_domain_name") or _text(config, "domain_name")
    if not domain:
        raise ValueError("a password needs its domain: set OS_USER_DOMAIN_NAME (user_domain_name)")
    iam = _text(config, "auth_url")
    if iam is None:
        region = _text(config, "region_name")
        if not region:
            raise ValueError("a password needs OS_AUTH_URL (auth_url), or a region to find IAM")
        iam = endpoint_for(_provider(config, None), region, "iam")
    project_id, project_name = _text(config, "project_id"), _text(config, "project_name")
    if project_id:
        project_name = None
    elif not project_name:
        raise ValueError("a password needs a project: set OS_PROJECT_ID or OS_PROJECT_NAME")
    return PasswordAuth(
        username,
        password,
        domain_name=domain,
        project_id=project_id,
        project_name=project_name,
        iam_endpoint=iam,
        http=http,
    )


def _provider(config: Mapping[str, object], given: str | None) -> str:
    if given:
        return given
    profile = _text(config, "profile")
    if profile in ("otc", "huawei"):
        return profile
    auth_url = _text(config, "auth_url")
    return (provider_of(auth_url) if auth_url else None) or "otc"


def read_settings(
    environ: Mapping[str, str],
    *,
    cloud: str | None = None,
    service: str = "evs",
    provider: str | None = None,
    region: str | None = None,
    endpoint: str | None = None,
    project_id: str | None = None,
    http: HttpSettings | None = None,
) -> Settings:
    """Settings from the arguments, then ``OS_*`` variables, then clouds.yaml (``cloud`` or
    ``OS_CLOUD``). ``http``: the connection settings, for IAM and the client alike (the
    config's CA bundle, ``cacert``, is trusted when they name none)."""
    cloud = cloud or environ.get("OS_CLOUD") or None
    config: dict[str, object] = load_cloud(cloud, environ) if cloud else {}
    for key, names in _VARIABLES.items():
        value = next((environ[name] for name in names if environ.get(name)), None)
        if value is not None:
            config[key] = value
    override_name = f"OS_{service.upper()}_ENDPOINT_OVERRIDE"
    if environ.get(override_name):
        config[f"{service}_endpoint_override"] = environ[override_name]
    if region:
        config["region_name"] = region
    if config.get("verify") is False or str(config.get("insecure", "")).lower() in ("1", "true"):
        raise ValueError(
            "the configuration turns certificate checks off, which evs_job_watch never does: "
            "give the CA bundle as cacert (OS_CACERT) instead"
        )
    http = http or HttpSettings()
    cacert = _text(config, "cacert")
    if http.ssl is None and cacert is not None:
        http = attrs.evolve(http, ssl=cacert)
    auth = _auth(config, environ, http)
    where = endpoint or _text(config, f"{service}_endpoint_override")
    if where is None:
        region_name = _text(config, "region_name")
        if not region_name:
            raise ValueError(
                "no endpoint: give an endpoint (--endpoint), or a region (--region, "
                "OS_REGION_NAME or region_name in clouds.yaml)"
            )
        where = endpoint_for(_provider(config, provider), region_name, service)
    project = project_id or _text(config, "project_id")
    if project is not None:
        return Settings(where, check_id(project, "project id"), auth, http)
    if isinstance(auth, PasswordAuth):
        return Settings(where, None, auth, http, auth.resolve_project_id)
    raise ValueError(
        "no project id: give one (--project-id), or set OS_PROJECT_ID "
        "(or project_id in clouds.yaml)"
    )

"""Service endpoints by cloud, region and service: Open Telekom Cloud and Huawei Cloud."""

from __future__ import annotations

import re

from yarl import URL

__all__ = ["PROVIDERS", "SERVICES", "endpoint_for", "provider_of"]

PROVIDERS = ("huawei", "otc")
# evs and ecs serve the same job API (GET /v1/{project_id}/jobs/{job_id}); iam the tokens.
SERVICES = ("ecs", "evs", "iam")
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*", re.ASCII)
_DOMAINS = {"otc": "otc.t-systems.com", "huawei": "myhuaweicloud.com"}
# The Swiss region of Open Telekom Cloud lives under its own domain, and names IAM apart.
_SWISS = "eu-ch2"


def endpoint_for(provider: str, region: str, service: str = "evs") -> str:
    """The https endpoint of ``service`` in ``region``.

    Args:
        provider: ``"otc"`` (Open Telekom Cloud: eu-de, eu-nl, eu-ch2) or ``"huawei"``
            (Huawei Cloud, e.g. ap-southeast-1).
        region: the region name, e.g. ``"eu-de"``.
        service: ``"evs"`` for disk jobs, ``"ecs"`` for server jobs (the same job API),
            ``"iam"`` for tokens.

    ``endpoint_for("otc", "eu-de")`` is ``"https://evs.eu-de.otc.t-systems.com"``.
    """
    if provider not in _DOMAINS:
        raise ValueError(f"unknown cloud {provider!r}: expected one of {', '.join(PROVIDERS)}")
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}: expected one of {', '.join(SERVICES)}")
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ValueError(f"invalid region {region!r}: expected lowercase words joined by -")
    if provider == "otc" and region == _SWISS:
        name = "iam-pub" if service == "iam" else service
        return f"https://{name}.{region}.sc.{_DOMAINS['otc']}"
    return f"https://{service}.{region}.{_DOMAINS[provider]}"


def provider_of(url: str) -> str | None:
    """The cloud an endpoint (an IAM auth_url, say) belongs to, or None if neither."""
    try:
        host = (URL(url).raw_host or "").lower()
    except (TypeError, ValueError):
        return None
    for provider, domain in _DOMAINS.items():
        if host == domain or host.endswith("." + domain):
            return provider
    return None

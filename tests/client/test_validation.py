"""EvsJobClient's checks of its arguments: job ids refused before any request, and the
endpoint, project id and timeout refused by the constructor."""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses

from evs_job_watch import EvsJobClient

from ..hostile.answers import job_json
from .mocked import ENDPOINT, PROJECT

# -- id validation ------------------------------------------------------------------------


BAD_IDS: list[Any] = [
    "a/b",
    "a?b",
    "a#b",
    "%2e",
    "a.b",
    "..",
    " a",
    "a ",
    "a\n",
    "",
    "a" * 129,
    "é",
    None,
    5,
    b"abc",
    ["abc"],  # unhashable: refused as the others, not a TypeError of the URL memo
]


@pytest.mark.parametrize("job_id", BAD_IDS, ids=repr)
async def test_invalid_job_id_is_refused_before_any_request(
    mocked: aioresponses, client: EvsJobClient, job_id: Any
) -> None:
    with pytest.raises(ValueError, match="job id"):
        await client.get_job(job_id)
    assert mocked.requests == {}


@pytest.mark.parametrize(
    "job_id",
    ["a", "a" * 128, "4b5c6d7e-8f90-a1b2-c3d4-e5f60718293a", "A_b-9"],
)
async def test_valid_job_ids_are_requested(
    mocked: aioresponses, client: EvsJobClient, job_id: str
) -> None:
    mocked.get(f"{ENDPOINT}/v1/{PROJECT}/jobs/{job_id}", payload=job_json(job_id))
    assert (await client.get_job(job_id)).job_id == job_id


# -- constructor validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://evs.eu-de.otc.t-systems.com", "https://evs.eu-de.otc.t-systems.com"),
        (
            "https://evs.ap-southeast-1.myhuaweicloud.com/",
            "https://evs.ap-southeast-1.myhuaweicloud.com",
        ),
        ("https://evs.example.com:8443/base", "https://evs.example.com:8443/base"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost", "http://localhost"),
        ("http://[::1]:1", "http://[::1]:1"),
    ],
)
def test_valid_endpoint_is_accepted(endpoint: str, expected: str) -> None:
    assert EvsJobClient(endpoint, PROJECT).endpoint == expected


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://evs.eu-de.otc.t-systems.com",
        "http://localhost.example.com",
        "http://10.0.0.1",
        " https://evs.example.com",
        "https://evs.example.com ",
        "https://evs.example.com\n",
        "https://user:pw@evs.example.com",
        "https://user@evs.example.com",
        "https://evs.example.com/?x=1",
        "https://evs.example.com?",
        "https://evs.example.com/#top",
        "https://",
        "https:///v1",
        "evs.example.com",
        "/v1",
        "",
        "ftp://evs.example.com",
        "https://evs.example.com:99999",
        "https://evs.example.com:abc",
        "https://evs.example.com/a%2Fb",
        "https://evs.example.com/a%20b",
    ],
)
def test_invalid_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        EvsJobClient(endpoint, PROJECT)


def test_endpoint_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        EvsJobClient(None, PROJECT)  # type: ignore[arg-type]


def test_insecure_http_to_a_remote_host_needs_explicit_permission() -> None:
    client = EvsJobClient("http://evs.example.com", PROJECT, allow_insecure_http=True)
    assert client.endpoint == "http://evs.example.com"


@pytest.mark.parametrize("project_id", BAD_IDS, ids=repr)
def test_invalid_project_id_is_refused(project_id: Any) -> None:
    with pytest.raises(ValueError, match="project id"):
        EvsJobClient(ENDPOINT, project_id)


@pytest.mark.parametrize("timeout", [0, 0.0, -1, -0.001, float("nan"), float("inf")])
def test_timeout_that_is_not_a_positive_number_is_refused(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        EvsJobClient(ENDPOINT, PROJECT, timeout=timeout)

"""Shared helpers of the codec tests: the EVS API reference's three job bodies, and small
bodies made to order."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

UTC = timezone.utc

# -- the three shapes of the EVS API reference --------------------------------------------

RUNNING_CREATE = b"""
{
    "status": "RUNNING",
    "entities": {
        "volume_type": "SATA",
        "size": 40,
        "volume_id": "1d9a6a4e-0c6e-4b4b-a1f1-5e2d6f3b7a90",
        "name": "data-disk-01"
    },
    "job_id": "8aa1e6c27e1b4f2c9d3e0f5a6b7c8d9e",
    "job_type": "createVolume",
    "begin_time": "2024-03-14T09:21:05.417Z",
    "end_time": "",
    "error_code": null,
    "fail_reason": null
}
"""

BATCH_SUCCESS = b"""
{
    "status": "SUCCESS",
    "entities": {
        "sub_jobs": [
            {
                "status": "SUCCESS",
                "entities": {
                    "volume_type": "SSD",
                    "size": 10,
                    "volume_id": "0b7d1c3e-2f4a-4e5b-8c6d-7e8f9a0b1c2d",
                    "name": "batch-disk-0001"
                },
                "job_id": "1f0e2d3c4b5a69788796a5b4c3d2e1f0",
                "job_type": "createVolume",
                "begin_time": "2024-03-14T10:00:01.250Z",
                "end_time": "2024-03-14T10:00:29.030Z",
                "error_code": null,
                "fail_reason": null
            },
            {
                "status": "SUCCESS",
                "entities": {
                    "volume_type": "SSD",
                    "size": 10,
                    "volume_id": "5a6b7c8d-9e0f-4a1b-9c2d-3e4f5a6b7c8d",
                    "name": "batch-disk-0002"
                },
                "job_id": "2e1d0c9b8a7f6e5d4c3b2a1908f7e6d5",
                "job_type": "createVolume",
                "begin_time": "2024-03-14T10:00:01.260Z",
                "end_time": "2024-03-14T10:00:31.999Z",
                "error_code": null,
                "fail_reason": null
            }
        ]
    },
    "job_id": "3c4d5e6f708192a3b4c5d6e7f8091a2b",
    "job_type": "batchCreateVolume",
    "begin_time": "2024-03-14T10:00:00.875Z",
    "end_time": "2024-03-14T10:00:32.112Z",
    "error_code": null,
    "fail_reason": null
}
"""

FAILED_CREATE = b"""
{
    "status": "FAIL",
    "entities": {
        "volume_type": "SAS",
        "size": 200,
        "name": "too-big-disk"
    },
    "job_id": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "job_type": "createVolume",
    "begin_time": "2024-03-15T22:59:58.001Z",
    "end_time": "2024-03-15T23:00:03.500Z",
    "error_code": "EVS.2024",
    "fail_reason": "EbsCreateVolumeTask-fail:volume capacity is insufficient"
}
"""


def utc(*parts: int) -> datetime:
    """A time in UTC."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def job_bytes(**fields: Any) -> bytes:
    """The body of a running job ``j1``, with these fields added or replaced."""
    job: dict[str, Any] = {"job_id": "j1", "status": "RUNNING", **fields}
    return json.dumps(job).encode()

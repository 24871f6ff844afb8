"""Regions and services: endpoints by cloud and region, and ECS jobs through the same
client and watcher."""

from __future__ import annotations

import asyncio

import pytest

from evs_job_watch import (
    EvsJobClient,
    JobEvent,
    JobStatus,
    JobType,
    JobWatcher,
    PollPolicy,
    TokenAuth,
    endpoint_for,
)
from evs_job_watch._wire._regions import provider_of
from evs_job_watch.simulator import EvsSimulator


@pytest.mark.parametrize(
    ("provider", "region", "service", "expected"),
    [
        ("otc", "eu-de", "evs", "https://evs.eu-de.otc.t-systems.com"),
        ("otc", "eu-nl", "ecs", "https://ecs.eu-nl.otc.t-systems.com"),
        ("otc", "eu-de", "iam", "https://iam.eu-de.otc.t-systems.com"),
        ("otc", "eu-ch2", "evs", "https://evs.eu-ch2.sc.otc.t-systems.com"),
        ("otc", "eu-ch2", "iam", "https://iam-pub.eu-ch2.sc.otc.t-systems.com"),
        ("huawei", "ap-southeast-1", "evs", "https://evs.ap-southeast-1.myhuaweicloud.com"),
        ("huawei", "cn-north-4", "iam", "https://iam.cn-north-4.myhuaweicloud.com"),
    ],
)
def test_endpoints_by_cloud_region_and_service(
    provider: str, region: str, service: str, expected: str
) -> None:
    assert endpoint_for(provider, region, service) == expected


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("aws", "eu-de"), "unknown cloud"),
        (("otc", "eu-de", "obs"), "unknown service"),
        (("otc", "eu/de"), "invalid region"),
        (("otc", "EU-DE"), "invalid region"),
        (("otc", ""), "invalid region"),
    ],
)
def test_unknown_clouds_services_and_malformed_regions_are_refused(
    args: tuple[str, ...], text: str
) -> None:
    with pytest.raises(ValueError, match=text):
        endpoint_for(*args)


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://iam.eu-de.otc.t-systems.com:443/v3", "otc"),
        ("https://iam-pub.eu-ch2.sc.otc.t-systems.com/v3", "otc"),
        ("https://iam.ap-southeast-1.myhuaweicloud.com/v3", "huawei"),
        ("https://keystone.example/v3", None),
        ("https://evil-otc.t-systems.com.example/v3", None),
        ("not a url", None),
    ],
)
def test_the_cloud_of_an_auth_url(url: str, provider: str | None) -> None:
    assert provider_of(url) == provider


async def test_the_same_watcher_follows_ecs_server_jobs() -> None:
    events: list[JobEvent] = []
    policy = PollPolicy(interval=0.01, max_interval=0.05)
    async with EvsSimulator(speed=1000) as sim:
        create = sim.create_job("createServer", count=2)
        delete = sim.add_job("deleteServer", timeline=[(0, "RUNNING"), (1, "SUCCESS")])
        async with (
            EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token)) as client,
            JobWatcher(client, policy=policy, on_complete=events.append) as watcher,
        ):
            created, deleted = await asyncio.wait_for(watcher.wait_all([create, delete]), 30)
    assert created.job_type is JobType.CREATE_SERVER and created.status is JobStatus.SUCCESS
    assert [sub.job_type for sub in created.sub_jobs] == [JobType.CREATE_SINGLE_SERVER] * 2
    assert all(sub.entities.server_id for sub in created.sub_jobs)
    assert deleted.job_type is JobType.DELETE_SERVER and deleted.entities.server_id
    completed = {event.job_id for event in events}
    assert completed == {create, delete, *sim.sub_job_ids(create)}


async def test_from_environment_serves_ecs_with_service_ecs() -> None:
    env = {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": "p1", "OS_REGION_NAME": "eu-de"}
    client = await EvsJobClient.from_environment(service="ecs", environ=env)
    assert client.endpoint == "https://ecs.eu-de.otc.t-systems.com"

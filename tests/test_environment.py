"""EvsJobClient.from_environment and the command line: OS_* variables, clouds.yaml with
secure.yaml, and which wins, as openstacksdk users expect."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from yarl import URL

from evs_job_watch import AkSkAuth, EvsJobClient, HttpSettings, PasswordAuth, TokenAuth
from evs_job_watch._api._environment import read_settings
from evs_job_watch.cli import main
from evs_job_watch.simulator import EvsSimulator

from .netkit import TestCA
from .threaded import ThreadedSimulator, clear_credentials

CANARY = "SECRET-CANARY-e0c4"
PROJECT = "0123456789abcdef0123456789abcdef"
# A user name and password, with what they need to be enough.
PASSWORD_USER = {
    "OS_PROJECT_ID": PROJECT,
    "OS_REGION_NAME": "eu-de",
    "OS_USERNAME": "u",
    "OS_PASSWORD": "p",
    "OS_USER_DOMAIN_NAME": "d",
}
URL_ANY = URL("https://evs.eu-de.otc.t-systems.com/v1/p1/jobs/j1")


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No credential variables, an empty home and an empty working directory."""
    clear_credentials(monkeypatch)
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "home"


def write_clouds(path: Path, clouds: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    return path


def sim_cloud(sim: EvsSimulator, **auth: Any) -> dict[str, Any]:
    """A clouds.yaml entry for the simulator's IAM user, as OTC users write one."""
    identity = sim.identity
    return {
        "auth": {
            "auth_url": f"{sim.endpoint}/v3",
            "username": identity.username,
            "password": identity.password,
            "project_name": identity.project_name,
            "user_domain_name": identity.domain_name,
            **auth,
        },
        "region_name": "eu-de",
        "evs_endpoint_override": sim.endpoint,
    }


# -- the environment alone -------------------------------------------------------------------


def test_a_token_a_project_and_a_region_are_enough(home: Path) -> None:
    env = {"OS_AUTH_TOKEN": "tok", "OS_PROJECT_ID": PROJECT, "OS_REGION_NAME": "eu-nl"}
    settings = read_settings(env)
    assert settings.endpoint == "https://evs.eu-nl.otc.t-systems.com"
    assert settings.project_id == PROJECT
    assert isinstance(settings.auth, TokenAuth)


async def test_temporary_keys_come_with_their_security_token(home: Path) -> None:
    env = {
        "HUAWEICLOUD_SDK_AK": "ak",
        "HUAWEICLOUD_SDK_SK": "sk",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": "st",
        "HUAWEICLOUD_SDK_PROJECT_ID": PROJECT,
    }
    client = await EvsJobClient.from_environment(
        provider="huawei", region="ap-southeast-1", environ=env
    )
    assert client.endpoint == "https://evs.ap-southeast-1.myhuaweicloud.com"
    settings = read_settings(env, region="eu-de")
    assert isinstance(settings.auth, AkSkAuth)
    assert (await settings.auth.headers("GET", URL_ANY))["X-Security-Token"] == "st"


def test_one_set_of_connection_settings_goes_to_iam_and_to_the_client(
    home: Path, tmp_path: Path
) -> None:
    env = PASSWORD_USER | {"OS_AUTH_URL": "http://iam.internal.example/v3"}
    with pytest.raises(ValueError, match="iam_endpoint must use https"):
        read_settings(env)
    http = HttpSettings(proxy="http://proxy.example:3128", timeout=7.0, allow_insecure_http=True)
    settings = read_settings(env, http=http)
    assert isinstance(settings.auth, PasswordAuth)  # its http IAM endpoint was allowed
    assert settings.http is http
    # A CA bundle of the configuration joins the settings given, for both.
    ca = TestCA(tmp_path)
    with_ca = read_settings(env | {"OS_CACERT": str(ca.bundle)}, http=http).http
    assert with_ca.ssl is not None
    assert (with_ca.proxy, with_ca.timeout, with_ca.allow_insecure_http) == (
        http.proxy,
        7.0,
        True,
    )


def test_the_connection_settings_are_the_same_as_keyword_arguments(tmp_path: Path) -> None:
    fields: dict[str, Any] = {
        "ssl": TestCA(tmp_path).client(),
        "proxy": "http://user:pass@proxy.example:3128",
        "trust_env": False,
        "timeout": 7.0,
        "allow_insecure_http": True,
    }
    http = HttpSettings(**fields)
    assert EvsJobClient("http://evs.internal.example", PROJECT, **fields).http == http
    assert EvsJobClient("http://evs.internal.example", PROJECT, http=http).http is http


def test_the_credential_kinds_rank_token_then_keys_then_password(home: Path) -> None:
    env = dict(PASSWORD_USER)
    assert isinstance(read_settings(env).auth, PasswordAuth)
    env |= {"OS_ACCESS_KEY": "ak", "OS_SECRET_KEY": "sk"}
    assert isinstance(read_settings(env).auth, AkSkAuth)
    env |= {"OS_AUTH_TOKEN": "tok"}
    assert isinstance(read_settings(env).auth, TokenAuth)


def test_a_password_without_auth_url_finds_iam_by_region(home: Path) -> None:
    env = {
        "OS_USERNAME": "u",
        "OS_PASSWORD": "p",
        "OS_DOMAIN_NAME": "OTC00000000001000000001",
        "OS_PROJECT_NAME": "eu-ch2_project",
        "OS_REGION_NAME": "eu-ch2",
    }
    settings = read_settings(env, service="ecs")
    assert settings.endpoint == "https://ecs.eu-ch2.sc.otc.t-systems.com"
    assert settings.project_id is None and settings.resolve_project_id is not None
    assert "iam='https://iam-pub.eu-ch2.sc.otc.t-systems.com'" in repr(settings.auth)


def test_the_cloud_follows_the_auth_url(home: Path) -> None:
    env = {
        "OS_USERNAME": "u",
        "OS_PASSWORD": "p",
        "OS_USER_DOMAIN_NAME": "d",
        "OS_PROJECT_ID": PROJECT,
        "OS_AUTH_URL": "https://iam.ap-southeast-1.myhuaweicloud.com/v3",
        "OS_REGION_NAME": "ap-southeast-1",
    }
    assert read_settings(env).endpoint == "https://evs.ap-southeast-1.myhuaweicloud.com"
    override = {**env, "OS_EVS_ENDPOINT_OVERRIDE": "https://evs.internal.example"}
    assert read_settings(override).endpoint == "https://evs.internal.example"


@pytest.mark.parametrize(
    ("env", "text"),
    [
        ({"OS_PROJECT_ID": PROJECT, "OS_REGION_NAME": "eu-de"}, "no credentials"),
        ({"OS_AUTH_TOKEN": "t", "OS_REGION_NAME": "eu-de"}, "no project id"),
        ({"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": PROJECT}, "no endpoint"),
        ({"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": PROJECT, "OS_REGION_NAME": "eu/de"}, "region"),
        ({"OS_USERNAME": "u", "OS_PASSWORD": "p", "OS_REGION_NAME": "eu-de"}, "domain"),
        (
            {"OS_USERNAME": "u", "OS_PASSWORD": "p", "OS_DOMAIN_NAME": "d", "OS_REGION_NAME": "x"},
            "a password needs a project",
        ),
        (
            {"OS_AUTH_TOKEN": "t", "OS_PROJECT_ID": PROJECT, "OS_INSECURE": "true"},
            "certificate checks off",
        ),
    ],
)
def test_missing_or_bad_settings_say_what_to_set(
    home: Path, env: dict[str, str], text: str
) -> None:
    with pytest.raises(ValueError, match=text):
        read_settings(env)


# -- clouds.yaml ----------------------------------------------------------------------------


async def test_os_cloud_is_enough_with_a_password_and_a_project_name(home: Path) -> None:
    async with EvsSimulator(speed=100) as sim:
        write_clouds(Path("clouds.yaml"), {"otc": sim_cloud(sim)})
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        client = await EvsJobClient.from_environment(environ={"OS_CLOUD": "otc"})
        async with client:
            assert client.project_id == sim.project_id  # looked up with IAM by name
            assert (await client.get_job(job_id)).job_id == job_id
        assert [r.status for r in sim.requests if r.path == "/v3/auth/tokens"] == [201]


async def test_secrets_in_secure_yaml_are_merged_in(home: Path) -> None:
    async with EvsSimulator(speed=100) as sim:
        entry = sim_cloud(sim)
        password = entry["auth"].pop("password")
        write_clouds(home / ".config" / "openstack" / "clouds.yaml", {"otc": entry})
        write_clouds(
            home / ".config" / "openstack" / "secure.yaml",
            {"otc": {"auth": {"password": password}}},
        )
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        async with await EvsJobClient.from_environment("otc", environ={}) as client:
            assert (await client.get_job(job_id)).job_id == job_id


def test_the_first_clouds_yaml_found_is_used(home: Path, tmp_path: Path) -> None:
    entry = {"auth": {"token": "tok", "project_id": PROJECT}, "region_name": "eu-de"}
    write_clouds(home / ".config" / "openstack" / "clouds.yaml", {"a": entry})
    assert read_settings({}, cloud="a").endpoint == "https://evs.eu-de.otc.t-systems.com"
    write_clouds(Path("clouds.yaml"), {"a": {**entry, "region_name": "eu-nl"}})
    assert read_settings({}, cloud="a").endpoint == "https://evs.eu-nl.otc.t-systems.com"
    chosen = write_clouds(tmp_path / "elsewhere.yaml", {"a": {**entry, "region_name": "eu-ch2"}})
    env = {"OS_CLIENT_CONFIG_FILE": str(chosen)}
    assert read_settings(env, cloud="a").endpoint == "https://evs.eu-ch2.sc.otc.t-systems.com"


def test_variables_override_the_file_and_arguments_override_both(home: Path) -> None:
    entry = {"auth": {"token": "tok", "project_id": PROJECT}, "region_name": "eu-de"}
    write_clouds(Path("clouds.yaml"), {"otc": entry})
    env = {"OS_CLOUD": "otc", "OS_REGION_NAME": "eu-nl", "OS_PROJECT_ID": "f" * 32}
    settings = read_settings(env)
    assert settings.endpoint == "https://evs.eu-nl.otc.t-systems.com"
    assert settings.project_id == "f" * 32
    settings = read_settings(env, region="eu-ch2", project_id="e" * 32)
    assert settings.endpoint == "https://evs.eu-ch2.sc.otc.t-systems.com"
    assert settings.project_id == "e" * 32


async def test_cacert_in_clouds_yaml_is_the_ca_the_client_trusts(
    home: Path, tmp_path: Path
) -> None:
    ca = TestCA(tmp_path)
    async with EvsSimulator(speed=100, ssl=ca.server) as sim:
        entry = {
            "auth": {"token": sim.token, "project_id": sim.project_id},
            "cacert": str(ca.bundle),
            "evs_endpoint_override": sim.endpoint,
        }
        write_clouds(Path("clouds.yaml"), {"secured": entry})
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        async with await EvsJobClient.from_environment("secured", environ={}) as client:
            assert (await client.get_job(job_id)).job_id == job_id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clouds: {other: {auth: {token: t}}}", "has no cloud 'otc' (it has: other)"),
        ("clouds: [1, 2]", "no 'clouds:' mapping"),
        (
            "clouds: {otc: {auth: {token: t, project_id: 0123}}}",
            "project_id of cloud 'otc' must be quoted",
        ),
        ("clouds: {otc: {verify: false, auth: {token: t}}}", "certificate checks off"),
        ("clouds: {otc: {auth: [token]}}", "'auth' that is not a mapping"),
    ],
)
def test_a_clouds_yaml_that_does_not_fit_is_refused_clearly(
    home: Path, text: str, message: str
) -> None:
    Path("clouds.yaml").write_text(text)
    with pytest.raises(ValueError, match=r"clouds\.yaml|certificate") as caught:
        read_settings({"OS_CLOUD": "otc", "OS_PROJECT_ID": PROJECT, "OS_REGION_NAME": "eu-de"})
    assert message in str(caught.value)


def test_broken_yaml_is_reported_by_line_without_quoting_it(home: Path) -> None:
    Path("clouds.yaml").write_text(f"clouds:\n  otc:\n    auth: {{password: {CANARY}: x}}\n")
    with pytest.raises(ValueError, match="line 3") as caught:
        read_settings({}, cloud="otc")
    assert CANARY not in str(caught.value)


def test_a_named_cloud_without_any_clouds_yaml_says_where_it_looked(home: Path) -> None:
    with pytest.raises(ValueError, match=r"no clouds\.yaml found") as caught:
        read_settings({}, cloud="otc")
    assert str(home / ".config" / "openstack" / "clouds.yaml") in str(caught.value)


def test_without_pyyaml_the_error_names_the_extra(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_clouds(Path("clouds.yaml"), {"otc": {"auth": {"token": "t"}}})
    monkeypatch.setitem(sys.modules, "yaml", None)  # how Python marks a module as absent
    with pytest.raises(ImportError, match=r"evs-job-watch\[clouds\]"):
        read_settings({}, cloud="otc")


# -- the command line ---------------------------------------------------------------------


def test_the_command_line_takes_os_cloud(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ThreadedSimulator(speed=100) as threaded:
        sim = threaded.sim
        write_clouds(Path("clouds.yaml"), {"sim": sim_cloud(sim)})
        job_id = threaded.call(sim.add_job, timeline=[(0, "RUNNING"), (0.1, "SUCCESS")])
        out = io.StringIO()
        argv = ["watch", "--os-cloud", "sim", "--interval", "0.05", "--max-interval", "0.1"]
        assert main([*argv, "--json", job_id], out=out) == 0
        assert '"status":"SUCCESS"' in out.getvalue().replace(" ", "")
        assert main([*argv, "--os-cloud", "missing", job_id], out=out) == 2
    assert "has no cloud 'missing'" in capsys.readouterr().err

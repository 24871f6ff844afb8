"""No credential reaches a repr, a str, a log line, an exception, its chain, or the output.

A canary stands in for the token, the secret key and a token provider's error message
(and, in ``test_secrets_credentials.py``, for passwords, security tokens and a proxy's
password; the IAM tokens and temporary keys the simulator draws are searched for too).
Each test does every canary-bearing thing itself, over loopback HTTP against the
simulator, with every logger captured at DEBUG, then searches all it captured: the
repr and str of each object it met, each exception with its whole ``__cause__`` and
``__context__`` chain (suppressed or not), each log record, and stdout and stderr. Pytest
cannot search its own output from inside a test; keeping the canary inside these tests
and searching what they captured is the nearest proof, and a failure names where the
canary was found without printing it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import redis.asyncio as aioredis

from evs_job_watch import (
    AkSkAuth,
    AuthenticationError,
    EvsJobClient,
    EvsJobWatchError,
    JobEvent,
    JobWatcher,
    PollPolicy,
    TokenAuth,
)
from evs_job_watch._auth import Auth
from evs_job_watch.cli import main
from evs_job_watch.redis import RedisServer, RedisStore
from evs_job_watch.simulator import EvsSimulator, Reply

from .threaded import ThreadedSimulator, clear_credentials

CANARY = "SECRET-CANARY-5f1e"
LOGGERS = (
    "",
    "evs_job_watch",
    "aiohttp",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "asyncio",
)
SERVICE_LOGGER = "tests.service"  # the caller's own logging, in on_error
BUDGET = 3
FAST = PollPolicy(
    interval=0.01, max_interval=0.02, jitter=0, max_consecutive_errors=BUDGET, not_found_grace=0.05
)
DEADLINE = 30.0
HTML = b"<html><body>502 Bad Gateway</body></html>"
T = TypeVar("T")

# Every error answer the simulator can give the job query, each met with a good credential.
ERROR_ANSWERS: dict[str, list[Reply]] = {
    "500": [Reply(status=500)],
    "503": [Reply(status=503)],
    "429": [Reply(status=429, headers={"Retry-After": "1"})],
    "404": [Reply(status=404)],
    "400 not found": [Reply(status=400)],
    "403": [Reply(status=403)],
    "409 empty": [Reply(status=409, body=b"")],
    "redirect": [Reply(status=302, body=b"", headers={"Location": "/elsewhere"})],
    "html": [Reply(status=200, body=HTML, content_type="text/html")],
    "error in a 200": [Reply(status=200, body={"error": {"code": "EVS.1", "message": "no"}})],
    "another job": [Reply(status=200, body={"job_id": "f" * 32, "status": "RUNNING"})],
    "over the cap": [Reply(status=200, body=b'{"pad": "' + b"x" * (1024 * 1024) + b'"}')],
    # aiohttp's own errors: a parse error carries the request (and its headers) with it.
    "over-long header": [Reply(headers={"X-Padding": "x" * 20_000})],
    "undecodable gzip": [Reply(status=200, body=b"x", headers={"Content-Encoding": "gzip"})],
    "dropped": [Reply(drop=True), Reply(drop=True)],  # two: aiohttp retries a reused one
}


class Exposure:
    """Everything a secret could leak into during one test, searched at the end."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
        self._caplog = caplog
        self._capsys = capsys
        self._texts: list[tuple[str, str]] = []
        self._secrets = {CANARY}
        self.errors = 0

    def show(self, label: str, *objects: object) -> None:
        for obj in objects:
            self._texts += [(f"repr({label})", repr(obj)), (f"str({label})", str(obj))]

    def text(self, label: str, text: str) -> None:
        self._texts.append((label, text))

    def error(self, label: str, error: BaseException) -> None:
        """The error, and every exception it leads to, suppressed contexts included."""
        self.errors += 1
        self._chain(label, error)

    def _chain(self, label: str, error: BaseException) -> None:
        seen: list[BaseException] = []
        pending: list[BaseException | None] = [error]
        while pending:
            current = pending.pop()
            if current is None or any(current is s for s in seen):
                continue
            seen.append(current)
            where = f"{label} / {type(current).__name__} #{len(seen)}"
            self.show(where, current, current.args)
            self.show(f"{where} attributes", *getattr(current, "__dict__", {}).values())
            formatted = traceback.format_exception(type(current), current, current.__traceback__)
            self.text(f"{where} traceback", "".join(formatted))
            pending += [current.__cause__, current.__context__]

    def log_record(self, record: logging.LogRecord) -> None:
        """A log record as any handler could render it (called before any handler)."""
        label = f"log {record.name} {record.levelname} {record.getMessage()[:40]!r}"
        self.text(label, logging.Formatter().format(record))
        self.show(f"{label} args", record.args)
        if record.exc_info and record.exc_info[1] is not None:
            self._chain(f"{label} exc_info", record.exc_info[1])

    def assert_clean(self) -> None:
        self.text("caplog.text", self._caplog.text)  # loggers the tap did not cover
        captured = self._capsys.readouterr()  # read, so that pytest does not print it again
        self.text("stdout", captured.out)
        self.text("stderr", captured.err)
        assert not self.leaks(), self.leaks()

    def also_secret(self, *values: str) -> None:
        """Search for these too: secrets the simulator drew (IAM tokens, temporary keys)."""
        self._secrets.update(value for value in values if value)

    def leaks(self) -> list[str]:
        """Where a secret was found, each with a short redacted excerpt."""
        return [
            f"{self._redact(label)}: {self._excerpt(text, secret)}"
            for label, text in self._texts
            for secret in self._secrets
            if secret in text
        ]

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<SECRET>" if secret != CANARY else "<CANARY>")
        return text

    def _excerpt(self, text: str, secret: str) -> str:
        at = text.index(secret)
        return f"...{self._redact(text[max(0, at - 60) : at + 40])}..."


def _redact(text: str) -> str:
    return text.replace(CANARY, "<CANARY>")


class _Tap(logging.Filter):
    """Shows each record to the exposure, then redacts it for pytest's own log report.

    A logger's filters run before its handlers, so the report pytest prints for a
    failing test never carries the canary, while the search still sees the record whole.
    """

    def __init__(self, exposure: Exposure) -> None:
        super().__init__()
        self._exposure = exposure

    def filter(self, record: logging.LogRecord) -> bool:
        self._exposure.log_record(record)
        text = logging.Formatter().format(record)
        if CANARY in text:
            record.msg, record.args = _redact(text), None
            record.exc_info = record.exc_text = record.stack_info = None
        return True


@pytest.fixture
def exposure(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[Exposure]:
    with exposed(caplog, capsys) as found:
        yield found


@contextmanager
def exposed(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[Exposure]:
    """Every logger tapped at DEBUG for the duration (the ``exposure`` fixture's body)."""
    found = Exposure(caplog, capsys)
    tap = _Tap(found)
    names = {*LOGGERS, SERVICE_LOGGER}
    names.update(n for n in logging.root.manager.loggerDict if n.startswith(("aiohttp", "asyncio")))
    loggers = [logging.getLogger(name) for name in sorted(names)]
    for logger in loggers:
        caplog.set_level(logging.DEBUG, logger=logger.name)
        logger.addFilter(tap)
    try:
        yield found
    finally:
        for logger in loggers:
            logger.removeFilter(tap)


def _user_on_error(exposure: Exposure) -> Callable[[str, BaseException], None]:
    """An ``on_error`` that logs the error with its traceback, as a service would."""
    log = logging.getLogger(SERVICE_LOGGER)

    def on_error(job_id: str, error: BaseException) -> None:
        exposure.error(f"on_error {job_id}", error)
        log.error("watch of %s ended: %r / %s", job_id, error, error, exc_info=error)

    return on_error


async def _every_error_answer(
    exposure: Exposure, sim: EvsSimulator, auth: Auth, job_id: str
) -> None:
    """Each error answer once, then one slower than the request timeout."""
    async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
        for name, replies in ERROR_ANSWERS.items():
            sim.inject(job_id, *replies)
            try:  # a token provider turns a 403 into a refresh and a good answer
                exposure.show(f"answer {name} job", await client.get_job(job_id))
            except EvsJobWatchError as exc:
                exposure.error(f"answer {name}", exc)
    sim.inject(job_id, Reply(delay=2.0))
    async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth, timeout=0.2) as hasty:
        with pytest.raises(EvsJobWatchError) as caught:
            await hasty.get_job(job_id)
        exposure.show("hasty client", hasty)
    exposure.error("answer slow", caught.value)
    async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
        for bad_id in ("a/b", "", "x" * 129):
            with pytest.raises(ValueError) as refused:
                await client.get_job(bad_id)
            exposure.error(f"bad id {bad_id[:5]!r}", refused.value)


async def _every_watch_ending(
    exposure: Exposure, sim: EvsSimulator, client: EvsJobClient, state_path: Path
) -> None:
    """Success, failure, sub-jobs, timeout, error budget, not found, closed; all recorded."""
    events: list[JobEvent] = []
    ok = sim.add_job(timeline=[(0, "INIT"), (1, "RUNNING"), (2, "SUCCESS")])
    failed = sim.add_job(timeline=[(0, "RUNNING"), (1, "FAIL")], fail=("EVS.2024", "no host"))
    batch = sim.add_job(sub_jobs=[[(0, "RUNNING"), (1, "SUCCESS")], [(0, "INIT"), (2, "FAIL")]])
    stuck = [sim.add_job(timeline=[(0, "RUNNING")]) for _ in range(3)]
    sim.inject(stuck[1], *[Reply(status=503)] * BUDGET)
    async with JobWatcher(
        client,
        policy=FAST,
        on_status_change=events.append,
        on_complete=events.append,
        on_fail=events.append,
        on_error=_user_on_error(exposure),
        state_path=state_path,
    ) as watcher:
        stream = watcher.events()
        left_open = watcher.watch(stuck[2])
        results = await asyncio.wait_for(
            watcher.wait_all(
                [ok, failed, batch, stuck[1], "0" * 32], timeout=DEADLINE, return_exceptions=True
            ),
            DEADLINE,
        )
        timed_out = watcher.watch(stuck[0], timeout=0.1)
        with pytest.raises(EvsJobWatchError) as timeout:
            await asyncio.wait_for(timed_out, DEADLINE)
        await asyncio.sleep(0.05)  # a few polls of the watch left open, for the state file
        exposure.show("watcher", watcher, watcher.stats, watcher.policy, watcher.snapshot())
        exposure.show("handles", left_open, timed_out, left_open.latest)
    with pytest.raises(EvsJobWatchError) as closed:
        await left_open
    buffered = [event async for event in stream]
    exposure.show("closed watcher", watcher, stream)
    exposure.show("results", *results)
    for n, result in enumerate(results):
        if isinstance(result, BaseException):
            exposure.error(f"result #{n}", result)
    exposure.error("timeout", timeout.value)
    exposure.error("closed", closed.value)
    exposure.show("events", *events, *buffered, *(e.job for e in events))
    exposure.text("state file", state_path.read_text())
    assert {type(r).__name__ for r in results} == {
        "Job",
        "JobFailedError",
        "ServerError",
        "JobNotFoundError",
    }


def test_the_search_finds_the_canary_wherever_it_hides(
    exposure: Exposure, capsys: pytest.CaptureFixture[str]
) -> None:
    # The proof is only as good as the search: plant the canary in each hiding place.
    logging.getLogger("evs_job_watch").debug("token %s", CANARY)
    try:
        try:
            raise RuntimeError(CANARY)
        except RuntimeError:
            raise ValueError("clean") from None  # suppressed, still in __context__
    except ValueError as exc:
        exposure.error("planted", exc)
        logging.getLogger("aiohttp.client").warning("clean", exc_info=exc)
    print(f"out {CANARY}")
    exposure.show("planted object", {"token": CANARY})
    exposure.text("caplog.text", "")  # what assert_clean adds, without asserting
    found = " | ".join(exposure.leaks())
    for place in (
        "log evs_job_watch DEBUG",
        "planted / RuntimeError",
        "exc_info",
        "planted object",
    ):
        assert place in found
    assert CANARY not in found  # the report itself is redacted
    assert CANARY in capsys.readouterr().out


# -- the library --------------------------------------------------------------------------


async def test_a_token_accepted_or_refused_never_shows(exposure: Exposure, tmp_path: Path) -> None:
    asyncio.get_running_loop().set_debug(True)  # asyncio's own diagnostics are output too
    async with EvsSimulator(token=CANARY, speed=100) as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        auth = TokenAuth(CANARY)
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            exposure.show("token auth", auth)
            exposure.show("client", client)
            exposure.show("job", await client.get_job(job_id))
            await _every_error_answer(exposure, sim, auth, job_id)
            await _every_watch_ending(exposure, sim, client, tmp_path / "state.json")
        revoked = TokenAuth(CANARY + "-revoked")
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=revoked) as client:
            with pytest.raises(AuthenticationError) as refused:
                await client.get_job(job_id)
            exposure.error("refused token", refused.value)
            async with JobWatcher(client, policy=FAST, on_error=_user_on_error(exposure)) as w:
                with pytest.raises(AuthenticationError):
                    await asyncio.wait_for(w.wait(job_id), DEADLINE)
            exposure.show("refused token auth", revoked, client, w)
    exposure.assert_clean()


async def test_a_token_provider_its_tokens_and_its_failures_never_show(
    exposure: Exposure,
) -> None:
    asyncio.get_running_loop().set_debug(True)
    tokens = [CANARY + "-stale", CANARY]  # refused, then accepted after the refresh

    async def renewing() -> str:
        return tokens.pop(0) if len(tokens) > 1 else tokens[0]

    async def failing() -> str:
        raise RuntimeError(f"IAM refused the password {CANARY}")

    async def failing_on_refresh() -> str:
        if not calls:
            calls.append(1)
            return CANARY + "-stale"
        raise ConnectionError(f"IAM unreachable, could not renew {CANARY}")

    async def junk() -> str:
        return f"{CANARY}\r\n"

    calls: list[int] = []
    async with EvsSimulator(token=CANARY, speed=100) as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        for name, provider in [
            ("renewing", renewing),
            ("failing", failing),
            ("failing on refresh", failing_on_refresh),
            ("junk", junk),
        ]:
            auth = TokenAuth(provider)
            async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
                try:
                    exposure.show(f"{name} job", await client.get_job(job_id))
                    await _every_error_answer(exposure, sim, auth, job_id)
                except EvsJobWatchError as exc:
                    exposure.error(f"provider {name}", exc)
                async with JobWatcher(
                    client, policy=FAST, on_error=_user_on_error(exposure)
                ) as watcher:
                    handle = watcher.watch(job_id, timeout=0.2)
                    with pytest.raises(EvsJobWatchError):
                        await asyncio.wait_for(handle, DEADLINE)
                exposure.show(f"provider {name}", auth, client, watcher, handle)
    assert exposure.errors > len(ERROR_ANSWERS)  # the renewing provider went everywhere
    exposure.assert_clean()


async def test_a_secret_key_accepted_or_refused_never_shows(
    exposure: Exposure, tmp_path: Path
) -> None:
    asyncio.get_running_loop().set_debug(True)
    async with EvsSimulator(secret_key=CANARY, speed=100) as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        auth = AkSkAuth(sim.access_key, CANARY)
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=auth) as client:
            exposure.show("ak/sk auth", auth, client)
            exposure.show("job", await client.get_job(job_id))
            await _every_error_answer(exposure, sim, auth, job_id)
            await _every_watch_ending(exposure, sim, client, tmp_path / "state.json")
        old = AkSkAuth(sim.access_key, CANARY + "-old")
        async with EvsJobClient(sim.endpoint, sim.project_id, auth=old) as client:
            with pytest.raises(AuthenticationError) as refused:
                await client.get_job(job_id)
            exposure.error("refused key", refused.value)
            exposure.show("refused ak/sk auth", old, client)
    with pytest.raises(ValueError) as unprintable:
        AkSkAuth("my-ak", CANARY + "\n")
    exposure.error("unprintable secret key", unprintable.value)
    exposure.assert_clean()


# -- the command line ---------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clear_credentials(monkeypatch)
    return monkeypatch


def _run_cli(exposure: Exposure, label: str, *argv: str) -> int | None:
    out = io.StringIO()
    try:
        code = main(list(argv), out=out)
    except Exception as exc:  # a crash is a finding of its own; it must not show the secret
        exposure.error(f"{label} crashed", exc)
        code = None
    exposure.text(f"{label} output", out.getvalue())
    return code


def test_the_command_line_never_shows_a_credential(
    exposure: Exposure, clean_env: pytest.MonkeyPatch
) -> None:
    with ThreadedSimulator(speed=100, token=CANARY, secret_key=CANARY) as threaded:
        sim = threaded.sim
        done = threaded.call(sim.add_job, timeline=[(0, "RUNNING"), (1, "SUCCESS")])
        argv = ["watch", "--endpoint", sim.endpoint, "--project-id", sim.project_id]
        argv += ["--interval", "0.05", "--max-interval", "0.1", done]
        codes = {}
        for label, env in [
            ("token", {"OS_AUTH_TOKEN": CANARY}),
            ("revoked token", {"OS_AUTH_TOKEN": CANARY + "-revoked"}),
            ("ak/sk", {"HUAWEICLOUD_SDK_AK": sim.access_key, "HUAWEICLOUD_SDK_SK": CANARY}),
            ("old ak/sk", {"OS_ACCESS_KEY": sim.access_key, "OS_SECRET_KEY": CANARY + "-old"}),
        ]:
            with clean_env.context() as patch:
                for name, value in env.items():
                    patch.setenv(name, value)
                codes[label] = _run_cli(exposure, label, *argv)
                codes[label + " json"] = _run_cli(exposure, label + " json", *argv, "--json")
                # --log-level debug: every request and refusal logged to stderr.
                codes[label + " debug"] = _run_cli(exposure, label, *argv, "-q", "-vv")
    exposure.assert_clean()
    assert codes == {
        "token": 0,
        "token json": 0,
        "token debug": 0,
        "revoked token": 3,
        "revoked token json": 3,
        "revoked token debug": 3,
        "ak/sk": 0,
        "ak/sk json": 0,
        "ak/sk debug": 0,
        "old ak/sk": 3,
        "old ak/sk json": 3,
        "old ak/sk debug": 3,
    }


# Built inside the test from a label: pytest prints a failing test's arguments.
MALFORMED_CREDENTIALS = {
    "token with a newline": ("OS_AUTH_TOKEN", "{canary}\n"),  # exported with its newline
    "token with a control character": ("OS_AUTH_TOKEN", "{canary}\x07"),
    "secret key with a newline": ("HUAWEICLOUD_SDK_SK", "{canary}\n"),
}


@pytest.mark.parametrize("case", MALFORMED_CREDENTIALS)
def test_the_command_line_refuses_a_malformed_credential_without_showing_it(
    exposure: Exposure, clean_env: pytest.MonkeyPatch, case: str
) -> None:
    name, template = MALFORMED_CREDENTIALS[case]
    clean_env.setenv(name, template.format(canary=CANARY))
    clean_env.setenv("HUAWEICLOUD_SDK_AK", "my-ak")
    # A loopback endpoint: were the credential accepted, nothing would leave the host.
    argv = ["watch", "--endpoint", "https://127.0.0.1:9", "--project-id", "p1", "j1"]
    code = _run_cli(exposure, case, *argv)
    exposure.assert_clean()
    assert code == 2  # a configuration error, said on stderr, before any request


# -- the shared store ----------------------------------------------------------------------


async def test_nothing_secret_reaches_redis_or_its_channel(
    exposure: Exposure, redis_server: RedisServer, namespace: str
) -> None:
    # Two replicas watch jobs to their end, one failing, with the canary as the token and
    # as the Redis password in a URL; everything in Redis and on the channel is searched.
    url = f"redis://:{CANARY}@127.0.0.1:1/0"  # never connected: only its repr is searched
    exposure.show("store with a password", RedisStore(url, namespace=namespace))
    spy = aioredis.Redis.from_url(redis_server.url)
    listening = spy.pubsub()
    try:
        await listening.subscribe(f"evs_job_watch:{{{namespace}}}:fleet")
        async with EvsSimulator(token=CANARY, speed=100, failure_rate=0.5, seed=3) as sim:
            jobs = [sim.create_job("createVolume", count=2) for _ in range(4)]
            async with EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(CANARY)) as client:
                stores = [RedisStore(redis_server.url, namespace=namespace) for _ in range(2)]
                async with (
                    JobWatcher(client, policy=FAST, store=stores[0]) as a,
                    JobWatcher(client, policy=FAST, store=stores[1]) as b,
                ):
                    a.watch(jobs[0])
                    results = await asyncio.wait_for(
                        b.wait_all([*jobs, "0" * 32], return_exceptions=True), DEADLINE
                    )
                    exposure.show("stores", *stores, a, b, *results)
                    keys = [key async for key in spy.scan_iter(f"evs_job_watch:{{{namespace}}}:*")]
                    for key in keys:
                        kind = (await spy.type(key)).decode()
                        if kind == "none":
                            continue  # the key expired or was deleted since the scan
                        value = {
                            "string": spy.get,
                            "hash": spy.hgetall,
                            "zset": lambda k: spy.zrange(k, 0, -1, withscores=True),
                            "set": spy.smembers,
                        }[kind](key)
                        exposure.text(f"redis key {key!r}", repr(await value))
        while (message := await listening.get_message(timeout=0.1)) is not None:
            exposure.text("channel message", repr(message))
    finally:
        await listening.aclose()
        await spy.aclose()
    assert len(keys) > 3
    exposure.assert_clean()

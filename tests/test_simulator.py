"""The Gladly simulator speaks the contract in /work/shared/gladly-api.md, over real HTTP."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import httpx
import pytest

from gladly_assets.simulator import Faults, GladlySimulator
from gladly_assets.simulator.faults import hostile_jobs

from .helpers import simulator_client

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ITEMS = "conversation_items.jsonl"
CUSTOMERS = "customers.jsonl"
ALL_FILES = ["agents.jsonl", "conversation_items.jsonl", "customers.jsonl", "topics.jsonl"]
CONTENT_TYPES = {
    "CHAT_MESSAGE", "EMAIL", "PHONE_CALL", "VOICEMAIL", "SMS", "CONVERSATION_NOTE", "CONVERSATION_STATUS_CHANGE",
    "TOPIC_CHANGE", "CUSTOMER_ACTIVITY", "FACEBOOK_MESSAGE", "INSTAGRAM_DIRECT", "WHATSAPP",
}  # fmt: skip
UNLISTED_CONTENT_TYPES = {"VOICE_AI_MESSAGE", "TWITTER"}  # in the item API, not in the export's list
ACTOR_TYPES = {"AGENT", "API", "AUTOMATION", "CUSTOMER", "INTERNAL", "EXTERNAL", "SYSTEM"}
GLADLY_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(\d{2,9})Z$")


@pytest.fixture
def sim() -> Iterator[GladlySimulator]:
    """Frozen clock, no rate limit: tests that are not about the limit fire freely."""
    with GladlySimulator(seed=7, now=NOW, rate_limit_per_second=None) as simulator:
        yield simulator


def client(sim: GladlySimulator, **kwargs: object) -> httpx.Client:
    return simulator_client(sim, timeout=10, **kwargs)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def file_url(job: dict, name: str) -> str:
    return f"/export/jobs/{job['id']}/files/{name}"


# --------------------------------------------------------------------------- listing


def test_history_lists_fourteen_daily_jobs_then_one_in_progress_and_one_pending(sim: GladlySimulator) -> None:
    with client(sim) as http:
        response = http.get("/export/jobs")
        completed = http.get("/export/jobs", params={"status": "COMPLETED"}).json()
        running = http.get("/export/jobs", params={"status": "IN_PROGRESS"}).json()
        pending = http.get("/export/jobs", params={"status": "PENDING"}).json()
    assert response.status_code == 200
    everything = response.json()
    assert isinstance(everything, list)  # a bare array, no envelope
    assert len(completed) == 14 and len(running) == 1 and len(pending) == 1 and len(everything) == 16
    assert completed == sim.jobs("COMPLETED")
    for job in completed:
        assert GLADLY_ID.match(job["id"]) and GLADLY_ID.match(job["scheduleId"])
        start, end = instant(job["parameters"]["startAt"]), instant(job["parameters"]["endAt"])
        # Windows run from the schedule's time of day (in the UTC night) to the next day's same instant.
        assert end - start == timedelta(days=1) and start.time() != datetime.min.time() and start.hour < 5
        assert RFC3339.match(job["parameters"]["startAt"]) and RFC3339.match(job["updatedAt"])
        assert timedelta(0) < instant(job["updatedAt"]) - end < timedelta(minutes=30)
        assert job["files"] == ALL_FILES and job["parameters"]["type"] == "CONVERSATIONS"
        assert instant(job["updatedAt"]) <= NOW
    windows = [(job["parameters"]["startAt"], job["parameters"]["endAt"]) for job in completed]
    assert all(previous[1] == following[0] for previous, following in pairwise(windows))  # contiguous
    assert windows[-1][1] < "2026-11-20T06" and running[0]["parameters"]["startAt"] == windows[-1][1]
    assert running[0]["files"] == [] and pending[0]["files"] == []
    assert pending[0]["parameters"]["startAt"] == running[0]["parameters"]["endAt"]
    # Gladly's updatedAt carries 2 to 9 fraction digits.
    assert len({len(RFC3339.match(job["updatedAt"])[1]) for job in completed}) > 1


def test_hourly_history_has_336_jobs_and_quiet_empty_windows() -> None:
    with GladlySimulator(frequency="HOURLY", now=NOW, rate_limit_per_second=None) as sim:
        jobs = sim.jobs()
        with client(sim) as http:
            schedules = http.get("/export/schedules").json()
    assert len(jobs) == 14 * 24
    for job in jobs:
        start, end = instant(job["parameters"]["startAt"]), instant(job["parameters"]["endAt"])
        assert end - start == timedelta(hours=1) and start.minute == sim.schedule.anchor.seconds // 60
        # Hourly jobs appear about two hours after their window.
        assert timedelta(minutes=105) < instant(job["updatedAt"]) - end < timedelta(minutes=140)
    empty = [j for j in jobs if not j["files"]]
    assert empty and all(instant(j["parameters"]["startAt"]).hour < 6 for j in empty)  # night hours
    next_start = sim.schedule.format(sim.schedule.next_start(NOW))
    assert "2026-11-20T12:00" < next_start < "2026-11-20T13:00"
    assert schedules == [
        {"id": jobs[0]["scheduleId"], "frequency": "HOURLY", "type": "CONVERSATIONS",
         "nextStartAt": next_start, "updatedAt": schedules[0]["updatedAt"]}
    ]  # fmt: skip


def test_list_filters_on_updated_at_start_inclusive_end_exclusive(sim: GladlySimulator) -> None:
    jobs = sim.jobs()
    pivot = jobs[5]["updatedAt"]  # nanosecond string as Gladly sends it
    with client(sim) as http:
        since = http.get("/export/jobs", params={"status": "COMPLETED", "startAt": pivot}).json()
        before = http.get("/export/jobs", params={"status": "COMPLETED", "endAt": pivot}).json()
        window = http.get("/export/jobs", params={"startAt": "2026-11-17T00:00:00+01:00", "endAt": "2026-11-19"}).json()
    assert [j["id"] for j in since] == [j["id"] for j in jobs[5:]]
    assert [j["id"] for j in before] == [j["id"] for j in jobs[:5]]
    assert {j["parameters"]["startAt"][:10] for j in window} == {"2026-11-16", "2026-11-17"}


@pytest.mark.parametrize(
    ("params", "attr", "code"),
    [
        ({"startAt": "2026-11-06T11:59:59Z"}, "startAt", "invalid"),  # more than 14 days ago
        ({"startAt": "yesterday"}, "startAt", "invalid"),
        ({"endAt": "2026-13-01"}, "endAt", "invalid"),
        ({"startAt": ""}, "startAt", "blank"),
        ({"status": "DONE"}, "status", "invalid"),
        ({"startAt": "2026-11-19T00:00:00Z", "endAt": "2026-11-18T00:00:00Z"}, "endAt", "invalid"),
    ],
)
def test_list_rejects_bad_parameters_with_gladly_errors(
    sim: GladlySimulator, params: dict, attr: str, code: str
) -> None:
    with client(sim) as http:
        response = http.get("/export/jobs", params=params)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["attr"], error["code"]) == (attr, code) and error["detail"]


def test_start_at_exactly_fourteen_days_ago_is_allowed(sim: GladlySimulator) -> None:
    with client(sim) as http:
        response = http.get("/export/jobs", params={"startAt": (NOW - timedelta(days=14)).isoformat()})
    assert response.status_code == 200 and len(response.json()) == 16


# --------------------------------------------------------------------------- auth and rate limit


def test_auth_failures_and_unknown_organization(sim: GladlySimulator) -> None:
    cases = {
        "no credentials": (httpx.get(sim.base_url + "/agents"), 401),
        "wrong token": (httpx.get(sim.base_url + "/agents", auth=(sim.agent_email, "nope")), 401),
        "wrong email": (httpx.get(sim.base_url + "/agents", auth=("x@acme.example", sim.api_token)), 401),
        "no API User permission": (
            httpx.get(sim.base_url + "/agents", auth=(sim.unprivileged_agent_email, sim.unprivileged_api_token)),
            403,
        ),
        "unknown organization": (
            httpx.get(sim.base_url.replace("/acme/", "/globex/") + "/agents", auth=(sim.agent_email, sim.api_token)),
            404,
        ),
    }
    for name, (response, status) in cases.items():
        assert response.status_code == status, name
        (error,) = response.json()["errors"]
        # Only the 404 body is documented ({code: not_exist, detail}); the others carry a detail only.
        expected_keys = {"code", "detail"} if status == 404 else {"detail"}
        assert set(error) == expected_keys and error["detail"], name
    with client(sim) as http:
        agents = http.get("/agents").json()
    assert sim.agent_email in {agent["emailAddress"] for agent in agents}  # the API user is an agent too
    assert sim.api_token not in repr(sim.request_log)  # Authorization is stripped from the log


def test_rate_limit_per_method_with_headers() -> None:
    with GladlySimulator(now=NOW, rate_limit_per_second=10) as sim, client(sim) as http:
        responses = [http.get("/topics") for _ in range(14)]
        job = sim.jobs()[0]
        delete = http.delete(f"/export/jobs/{job['id']}")  # another method: its own budget
    statuses = [r.status_code for r in responses]
    assert statuses[:10] == [200] * 10 and 429 in statuses[10:]
    assert all(r.headers["Ratelimit-Limit-Second"] == "10" for r in responses)
    remaining = [int(r.headers["Ratelimit-Remaining-Second"]) for r in responses]
    assert remaining[:10] == list(range(9, -1, -1))
    assert responses[-1].json()["errors"] and "Retry-After" not in responses[-1].headers
    assert delete.status_code == 204 and delete.headers["Ratelimit-Remaining-Second"] == "9"


def test_conftest_simulator_follows_real_time(simulator: GladlySimulator) -> None:
    assert abs(simulator.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert len(simulator.jobs()) == 14
    with pytest.raises(RuntimeError):
        simulator.advance(timedelta(days=1))


# --------------------------------------------------------------------------- jobs over time


def test_retention_follows_the_virtual_clock(sim: GladlySimulator) -> None:
    oldest = sim.jobs()[0]
    sim.advance(timedelta(days=1))
    with client(sim) as http:
        listed = http.get("/export/jobs", params={"status": "COMPLETED"}).json()
        job = http.get(f"/export/jobs/{oldest['id']}")
        file = http.get(file_url(oldest, ITEMS))
    assert oldest["id"] not in [j["id"] for j in listed] and len(listed) == 13
    assert job.status_code == 404 and file.status_code == 404
    assert file.json()["errors"][0]["code"] == "not_exist"


def test_start_finish_delete_lifecycle(sim: GladlySimulator) -> None:
    started = sim.start_job()
    with client(sim) as http:
        assert started["status"] == "IN_PROGRESS" and started["files"] == []
        assert started["id"] in [j["id"] for j in http.get("/export/jobs", params={"status": "IN_PROGRESS"}).json()]
        assert started["id"] not in [j["id"] for j in http.get("/export/jobs", params={"status": "COMPLETED"}).json()]
        assert http.delete(f"/export/jobs/{started['id']}").status_code == 400
        assert http.get(file_url(started, ITEMS)).status_code == 404
        sim.advance(timedelta(minutes=5))
        finished = sim.finish_job(started["id"])
        assert finished["status"] == "COMPLETED" and finished["files"] == ALL_FILES
        assert http.get(f"/export/jobs/{started['id']}").json() == finished
        assert http.get(file_url(finished, ITEMS)).status_code == 200
        assert http.delete(f"/export/jobs/{started['id']}").status_code == 204
        assert http.get(f"/export/jobs/{started['id']}").status_code == 404
        assert http.delete(f"/export/jobs/{started['id']}").status_code == 404


def test_late_and_duplicate_jobs_are_listed(sim: GladlySimulator) -> None:
    sim.advance(timedelta(hours=1))
    newest = sim.complete_job()
    same_instant = sim.complete_job(updated_at=instant(newest["updatedAt"]))
    late = sim.complete_job(updated_at=NOW - timedelta(days=2), fraction_digits=3)
    micro = sim.complete_job(fraction_digits=6)
    with client(sim) as http:
        listed = http.get("/export/jobs", params={"status": "COMPLETED"}).json()
    ids = [j["id"] for j in listed]
    assert ids[-4:] == [newest["id"], same_instant["id"], late["id"], micro["id"]]  # late one after newer ones
    assert same_instant["updatedAt"] == newest["updatedAt"] and len(newest["updatedAt"]) == len(
        "2026-11-20T13:00:00.123456789Z"
    )
    assert re.fullmatch(r"2026-11-18T12:00:00\.\d{3}Z", late["updatedAt"])
    assert re.fullmatch(r".*\.\d{6}Z", micro["updatedAt"])
    # The window the schedule had completed by then; a regenerated late job has no scheduleId.
    assert late["parameters"]["startAt"].startswith("2026-11-17T0") and "scheduleId" not in late
    assert "scheduleId" in newest and "scheduleId" in micro


def test_pending_jobs_start_finish_and_cannot_be_deleted(sim: GladlySimulator) -> None:
    pending = sim.start_job(status="PENDING")
    with client(sim) as http:
        assert pending["id"] in [j["id"] for j in http.get("/export/jobs", params={"status": "PENDING"}).json()]
        refused = http.delete(f"/export/jobs/{pending['id']}")
    assert refused.status_code == 400 and "[PENDING]" in refused.json()["errors"][0]["detail"]
    assert sim.finish_job(pending["id"])["status"] == "COMPLETED"
    with pytest.raises(ValueError, match="PENDING or IN_PROGRESS"):
        sim.start_job(status="COMPLETED")


def test_empty_windows_list_no_files(sim: GladlySimulator) -> None:
    assert sim.complete_job(files=[])["files"] == []
    assert sim.complete_job(conversations=0)["files"] == []
    assert sim.complete_job(files=[CUSTOMERS])["files"] == [CUSTOMERS]
    with pytest.raises(ValueError, match="unknown files"):
        sim.complete_job(files=["orders.jsonl"])


# --------------------------------------------------------------------------- data


def test_files_are_deterministic_for_a_seed() -> None:
    def snapshot(seed: int) -> list[bytes]:
        with GladlySimulator(seed=seed, now=NOW) as sim:
            job = sim.complete_job(malformed_lines=3)
            history = sim.jobs()[3]
            return [sim.file_bytes(j["id"], name) for j in (job, history) for name in ALL_FILES]

    first = snapshot(7)
    assert snapshot(7) == first
    assert snapshot(8) != first


def test_history_covers_every_content_type_and_actor(sim: GladlySimulator) -> None:
    content_types: Counter[str] = Counter()
    actors: set[str] = set()
    digits: set[int] = set()
    outside_conversations = without_initiator = 0
    for job in sim.jobs():
        start, end = instant(job["parameters"]["startAt"]), instant(job["parameters"]["endAt"])
        for item in lines(sim.file_bytes(job["id"], ITEMS)):
            content_types[item["content"]["type"]] += 1
            actors.update(item[key]["type"] for key in ("initiator", "responder") if key in item)
            match = RFC3339.match(item["timestamp"])
            assert match and start <= instant(item["timestamp"]) < end
            digits.add(len(match[1]))
            assert GLADLY_ID.match(item["id"]) and GLADLY_ID.match(item["customerId"])
            if "conversationId" in item:
                assert GLADLY_ID.match(item["conversationId"])
            else:  # posted through the API, outside any conversation
                outside_conversations += 1
                assert item["content"]["type"] == "CUSTOMER_ACTIVITY"
            if "initiator" not in item:
                without_initiator += 1
            elif item["initiator"]["type"] == "SYSTEM":
                assert item["initiator"]["id"] == "SIDEKICK_V2"
    assert set(content_types) == CONTENT_TYPES | UNLISTED_CONTENT_TYPES
    assert all(content_types[kind] < content_types["EMAIL"] / 10 for kind in UNLISTED_CONTENT_TYPES)  # now and then
    assert actors == ACTOR_TYPES
    assert outside_conversations and without_initiator
    assert {2, 3, 6, 9} <= digits
    all_text = b"".join(sim.file_bytes(j["id"], ITEMS) for j in sim.jobs()).decode()
    assert re.search(r"[éüñ]", all_text) and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", all_text)
    assert re.search(r"[\U0001F300-\U0001FAFF]", all_text)  # emoji, written as UTF-8 rather than escaped


def test_customers_agents_topics_look_real_and_change_over_time(sim: GladlySimulator) -> None:
    versions: defaultdict[str, set[str]] = defaultdict(set)
    external_kinds = set()
    missing: set[str] = set()  # sparse profiles: none of these fields is required
    for job in sim.jobs():
        items = lines(sim.file_bytes(job["id"], ITEMS))
        customers = lines(sim.file_bytes(job["id"], CUSTOMERS))
        assert {c["id"] for c in customers} == {i["customerId"] for i in items}  # the customers the window touched
        for customer in customers:
            versions[customer["id"]].add(json.dumps(customer, sort_keys=True))
            assert all(re.fullmatch(r"\+[1-9]\d{7,14}", p) for p in customer.get("phoneNumbers", []))
            assert all(customer[key] for key in ("emailAddresses", "phoneNumbers") if key in customer)
            missing.update(key for key in ("name", "address", "emailAddresses", "phoneNumbers") if key not in customer)
            external_kinds.update(k for k in ("externalCustomerId", "externalCustomerIds") if k in customer)
        agent_ids = {a["id"] for a in lines(sim.file_bytes(job["id"], "agents.jsonl"))}
        assert {i["responder"]["id"] for i in items if i.get("responder", {}).get("type") == "AGENT"} <= agent_ids
    assert sum(len(v) > 1 for v in versions.values()) >= 10  # changed customers reappear with their new state
    assert external_kinds == {"externalCustomerId", "externalCustomerIds"}
    assert missing == {"name", "address", "emailAddresses", "phoneNumbers"}
    with client(sim) as http:
        topics = http.get("/topics").json()
    ids = {t["id"] for t in topics}
    parents = [t["parentId"] for t in topics if "parentId" in t]
    assert parents and set(parents) <= ids and len(parents) < len(topics)  # a tree: children and roots
    assert any(t["disabled"] for t in topics)


def items_by_job(sim: GladlySimulator) -> list[tuple[dict, list[dict]]]:
    """(job, its items) for every completed job, oldest window first."""
    jobs = sorted(sim.jobs(), key=lambda job: job["parameters"]["startAt"])
    return [(job, lines(sim.file_bytes(job["id"], ITEMS)) if ITEMS in job["files"] else []) for job in jobs]


def by_conversation(items: list[dict]) -> dict[str, list[dict]]:
    conversations: defaultdict[str, list[dict]] = defaultdict(list)
    for item in sorted(items, key=lambda item: instant(item["timestamp"])):
        if "conversationId" in item:
            conversations[item["conversationId"]].append(item)
    return conversations


def is_message(item: dict) -> bool:
    return item["content"]["type"] not in ("CONVERSATION_STATUS_CHANGE", "TOPIC_CHANGE", "CONVERSATION_NOTE")


def test_conversations_span_jobs_and_vary_as_analytics_needs(sim: GladlySimulator) -> None:
    history = items_by_job(sim)
    job_of = {item["id"]: job["id"] for job, items in history for item in items}
    assert len(job_of) == sum(len(items) for _, items in history)  # contiguous windows: each item once
    conversations = by_conversation([item for _, items in history for item in items])
    spanning = [c for c in conversations.values() if len({job_of[item["id"]] for item in c}) > 1]
    assert len(spanning) >= 10

    def initiator(item: dict) -> str | None:
        return item.get("initiator", {}).get("type")

    def statuses(items: list[dict]) -> list[str]:
        return [i["content"]["status"] for i in items if i["content"]["type"] == "CONVERSATION_STATUS_CHANGE"]

    # Complete conversations: begun in the first week, so that no later item is still to come.
    first_week = {job["id"] for job, _ in history[:7]}
    complete = [c for c in conversations.values() if job_of[c[0]["id"]] in first_week]
    reopened = [c for c in complete if "OPEN" in statuses(c)]
    assert any(len({job_of[i["id"]] for i in c}) > 1 for c in reopened)  # reopened in a later job
    unanswered = [c for c in complete if not any(initiator(i) == "AGENT" and is_message(i) for i in c)]
    assert any(any(initiator(i) == "CUSTOMER" for i in c) for c in unanswered)
    assert any("CLOSED" not in statuses(c) for c in complete)  # never closed
    automated_first = 0
    for c in complete:
        human = next((n for n, i in enumerate(c) if initiator(i) == "AGENT" and is_message(i)), None)
        if human is not None and any(initiator(i) in ("SYSTEM", "AUTOMATION") and is_message(i) for i in c[:human]):
            automated_first += 1
    assert automated_first >= 3  # Sidekick or an automation answered before any agent
    topic_changes = [i["content"] for c in complete for i in c if i["content"]["type"] == "TOPIC_CHANGE"]
    assert any("removedTopicIds" in t for t in topic_changes) and any("addedTopicIds" in t for t in topic_changes)
    calls = [i["content"] for c in complete for i in c if i["content"]["type"] == "PHONE_CALL"]
    assert any("answeredAt" in call for call in calls) and any("answeredAt" not in call for call in calls)
    # The oldest job holds the rest of conversations begun before the 14-day horizon: their first
    # item there is an agent's, an automation's or a status change, never how a conversation opens.
    _, oldest = history[0]
    assert any(initiator(c[0]) not in ("CUSTOMER", "API", "SYSTEM") for c in by_conversation(oldest).values())


@pytest.mark.parametrize("windows", ["overlapping", "gapped"])
def test_overlapping_windows_repeat_items_and_gaps_lose_them(windows: str) -> None:
    with GladlySimulator(seed=7, now=NOW, rate_limit_per_second=None, windows=windows) as sim:
        history = items_by_job(sim)
    pairs = list(pairwise(history))
    odd = [(a, b) for a, b in pairs if a[0]["parameters"]["endAt"] != b[0]["parameters"]["startAt"]]
    assert 3 <= len(odd) < len(pairs)  # every third window
    for (previous, earlier), (job, later) in odd:
        start, end = instant(job["parameters"]["startAt"]), instant(previous["parameters"]["endAt"])

        def between(items: list[dict], low: datetime, high: datetime) -> list[str]:
            return sorted(json.dumps(i) for i in items if low <= instant(i["timestamp"]) < high)

        if windows == "overlapping":
            assert start < end
            shared = between(earlier, start, end)
            assert shared and shared == between(later, start, end)  # the same items, ids and all
        else:
            assert end < start
            assert between(earlier, end, start) == between(later, end, start) == []


def test_same_seed_same_bytes_whatever_the_order_of_downloads() -> None:
    def files(reverse: bool) -> dict[str, bytes]:
        with GladlySimulator(seed=7, now=NOW, frequency="HOURLY", history_days=1) as sim:
            jobs = sim.jobs()
            return {job["id"]: sim.file_bytes(job["id"], ITEMS) for job in (reversed(jobs) if reverse else jobs)
                    if job["files"]}  # fmt: skip

    assert files(reverse=False) == files(reverse=True)


def test_enumerating_items_agents_and_inboxes_for_derived_data(sim: GladlySimulator) -> None:
    sim.advance(timedelta(hours=1))
    duplicate = sim.complete_job()  # the same window as the newest history job: the same items again
    items = list(sim.conversation_items())
    ids = [item["id"] for item in items]
    in_files = {item["id"] for job, job_items in items_by_job(sim) for item in job_items}
    assert len(ids) == len(set(ids)) and set(ids) == in_files
    assert {i["id"] for i in lines(sim.file_bytes(duplicate["id"], ITEMS))} <= set(ids)
    agent_ids = {agent["id"] for agent in sim.agents()}
    assert {i["initiator"]["id"] for i in items if i.get("initiator", {}).get("type") == "AGENT"} <= agent_ids
    inboxes = sim.inboxes()
    assert {channel for inbox in inboxes for channel in inbox["channels"]} >= CONTENT_TYPES - {
        "CONVERSATION_NOTE", "CONVERSATION_STATUS_CHANGE", "TOPIC_CHANGE", "CUSTOMER_ACTIVITY"
    }  # fmt: skip
    conversation = next(i["conversationId"] for i in items if i["content"]["type"] == "EMAIL")
    inbox = sim.inbox_of(conversation, "EMAIL")
    assert "EMAIL" in inbox["channels"] and inbox in inboxes and sim.inbox_of(conversation, "EMAIL") == inbox


def test_malformed_lines_mutate_and_extra_lines(sim: GladlySimulator) -> None:
    def drift(file_name: str, records: list[dict]) -> list[dict]:
        if file_name == CUSTOMERS:
            records[0]["name"] = {"first": "Schema", "last": "Drift"}  # another type than usual
            records.append(dict(records[1]))  # a duplicate id
        return records

    job = sim.complete_job(malformed_lines=5, mutate=drift, extra_lines={ITEMS: [b'{"id": "x", "": "hostile key"}']})
    for name in (CUSTOMERS, ITEMS):
        data = sim.file_bytes(job["id"], name)
        assert not data.endswith(b"\n")  # the last line is truncated
        bad = []
        for line in data.split(b"\n"):
            try:
                record = json.loads(line)
            except ValueError:
                bad.append("not json")
                continue
            if not isinstance(record, dict):
                bad.append("array")
            elif "id" not in record:
                bad.append("no id")
        assert len(bad) == 5, name
        assert set(bad) == {"not json", "array", "no id"}
    customers = [json.loads(line) for line in sim.file_bytes(job["id"], CUSTOMERS).split(b"\n")[:3]]
    assert customers[0]["name"] == {"first": "Schema", "last": "Drift"}
    assert b'"": "hostile key"' in sim.file_bytes(job["id"], ITEMS)
    assert sim.file_bytes(job["id"], "agents.jsonl").endswith(b"\n")  # only the big files are corrupted


@pytest.mark.slow  # streams a file of tens of megabytes
def test_a_50k_item_job_streams_completely(sim: GladlySimulator) -> None:
    started = time.perf_counter()
    job = sim.complete_job(conversation_items=50_000)
    assert time.perf_counter() - started < 10
    count = 0
    with client(sim) as http, http.stream("GET", file_url(job, ITEMS)) as response:
        assert response.headers["Content-Type"] == "application/x-ndjson"
        assert int(response.headers["Content-Length"]) == sim.file_path(job["id"], ITEMS).stat().st_size
        for _ in response.iter_lines():
            count += 1
    assert count == 50_000
    assert sim.downloads()[-1] == (job["id"], ITEMS)


@pytest.mark.slow  # a million lines; how fast they are generated is the benchmark's to say
def test_a_million_item_job_is_generated_whole() -> None:
    with GladlySimulator(now=NOW) as sim:
        job = sim.complete_job(conversation_items=1_000_000)
        with open(sim.file_path(job["id"], ITEMS), "rb") as file:
            assert sum(1 for _ in file) == 1_000_000


# --------------------------------------------------------------------------- downloads and faults


def test_ranges_are_off_by_default_as_gladly_documents_none(sim: GladlySimulator) -> None:
    job = sim.jobs()[-1]
    with client(sim) as http:
        response = http.get(file_url(job, ITEMS), headers={"Range": "bytes=1000-"})
    assert response.status_code == 200 and response.content == sim.file_bytes(job["id"], ITEMS)
    assert not {"accept-ranges", "etag", "content-range"} & set(response.headers)


def test_range_request_resumes_with_the_tail(sim: GladlySimulator) -> None:
    sim.ranges = True
    job = sim.jobs()[-1]
    full = sim.file_bytes(job["id"], ITEMS)
    with client(sim) as http:
        whole = http.get(file_url(job, ITEMS))
        tail = http.get(file_url(job, ITEMS), headers={"Range": "bytes=1000-"})
        stale = http.get(file_url(job, ITEMS), headers={"Range": "bytes=1000-", "If-Range": '"other"'})
        beyond = http.get(file_url(job, ITEMS), headers={"Range": f"bytes={len(full)}-"})
    assert whole.content == full and whole.headers["Accept-Ranges"] == "bytes"
    assert tail.status_code == 206 and tail.content == full[1000:]
    assert tail.headers["Content-Range"] == f"bytes 1000-{len(full) - 1}/{len(full)}"
    assert stale.status_code == 200 and stale.content == full  # the file changed: start over
    assert beyond.status_code == 416


def test_server_errors_fire_in_order_then_stop(sim: GladlySimulator) -> None:
    sim.faults.server_errors = [500, 502, 503]
    with client(sim) as http:
        statuses = [http.get("/agents").status_code for _ in range(4)]
    assert statuses == [500, 502, 503, 200]
    assert sim.faults.server_errors == [] and not sim.faults.pending


def test_rate_limit_burst_with_retry_after_targets_files_only(sim: GladlySimulator) -> None:
    job = sim.jobs()[-1]
    sim.faults.applies_to = "files"
    sim.faults.rate_limit_burst = 2
    sim.faults.retry_after = 0.05
    with client(sim) as http:
        listing = http.get("/export/jobs")
        first, second, third = (http.get(file_url(job, "topics.jsonl")) for _ in range(3))
    assert listing.status_code == 200
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "0.05" and first.headers["Ratelimit-Remaining-Second"] == "0"
    with pytest.raises(ValueError, match="applies_to must be one of"):
        sim.faults.applies_to = "everything"


def test_reset_cuts_the_body_then_downloads_work_again(sim: GladlySimulator) -> None:
    job = sim.jobs()[-1]
    sim.faults.reset_after_bytes, sim.faults.resets = 500, 1
    with client(sim) as http:
        with pytest.raises(httpx.TransportError):
            http.get(file_url(job, ITEMS))
        retry = http.get(file_url(job, ITEMS))
    assert retry.status_code == 200 and retry.content == sim.file_bytes(job["id"], ITEMS)
    cut = sim.request_log[-2]
    assert (cut.status, cut.bytes_sent, cut.complete) == (200, 500, False)
    assert sim.downloads() == [(job["id"], ITEMS)]  # only the complete one


def test_stall_trips_client_timeouts_then_stops(sim: GladlySimulator) -> None:
    sim.faults.stall_seconds, sim.faults.stalls = 0.6, 1
    with client(sim) as http:
        started = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            http.get("/export/jobs", timeout=0.15)
        assert time.perf_counter() - started < 0.5
        assert http.get("/export/jobs", timeout=0.5).status_code == 200
    # The log is in order of completion: the stalled request ends last, cut short
    # because its client had gone by the time the body was due.
    assert [(r.status, r.complete) for r in sim.request_log] == [(200, True), (200, False)]


def test_expire_on_download_removes_the_job(sim: GladlySimulator) -> None:
    job = sim.jobs()[-1]
    sim.faults.expire_on_download = 1
    with client(sim) as http:
        gone = http.get(file_url(job, CUSTOMERS))
        listed = http.get("/export/jobs").json()
        again = http.get(f"/export/jobs/{job['id']}")
        other = sim.jobs()[-1]
        fine = http.get(file_url(other, CUSTOMERS))
    assert gone.status_code == 404 and again.status_code == 404
    assert job["id"] not in [j["id"] for j in listed]
    assert fine.status_code == 200


def test_request_log_and_clear(sim: GladlySimulator) -> None:
    with client(sim) as http:
        http.get("/export/jobs", params={"status": "COMPLETED"}, headers={"X-Trace": "1"})
    (record,) = sim.request_log
    assert (record.method, record.path, record.query, record.status) == (
        "GET",
        "/export/jobs",
        {"status": "COMPLETED"},
        200,
    )
    assert record.complete and record.bytes_sent > 0 and record.headers["X-Trace"] == "1"
    assert "Authorization" not in record.headers and "authorization" not in record.headers
    sim.clear_log()
    assert sim.request_log == []
    assert isinstance(sim.faults, Faults)


def test_stop_is_quick_with_open_and_stalled_connections() -> None:
    sim = GladlySimulator(now=NOW).start()
    http = client(sim)
    assert http.get("/agents").status_code == 200  # leaves a keep-alive connection open
    sim.faults.stall_seconds, sim.faults.stalls = 30, 1
    stalled = httpx.Client(base_url=sim.base_url, auth=(sim.agent_email, sim.api_token), timeout=0.2)
    with pytest.raises(httpx.ReadTimeout):
        stalled.get("/topics")
    started = time.perf_counter()
    sim.stop()
    assert time.perf_counter() - started < 2
    assert not sim.data_dir.exists()  # the temp dir is removed
    with pytest.raises(httpx.TransportError):
        http.get("/agents")
    http.close()
    stalled.close()


def test_ticker_completes_jobs_in_the_background() -> None:
    with GladlySimulator(now=NOW, conversations_per_job=2) as sim:
        before = len(sim.jobs())
        sim.start_ticker(0.1)
        deadline = time.monotonic() + 5
        while len(sim.jobs()) < before + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sim.jobs()) >= before + 2


# --------------------------------------------------------------------------- CLI


@pytest.mark.slow  # starts the simulator CLI
def test_cli_prints_the_environment_and_exits_cleanly_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gladly_assets.simulator", "--port", "0", "--seed", "3", "--frequency", "HOURLY",
         "--server-errors", "503", "--malformed-lines", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        env = {}
        for line in process.stdout:  # type: ignore[union-attr]
            if match := re.match(r"\s*export (GLADLY_\w+)=(\S+)", line):
                env[match[1]] = match[2]
            if "Ctrl-C" in line:
                break
        assert set(env) == {"GLADLY_BASE_URL", "GLADLY_ORGANIZATION", "GLADLY_AGENT_EMAIL", "GLADLY_API_TOKEN"}
        auth = (env["GLADLY_AGENT_EMAIL"], env["GLADLY_API_TOKEN"])
        assert httpx.get(env["GLADLY_BASE_URL"] + "/agents", auth=auth).status_code == 503  # the armed fault
        jobs = httpx.get(env["GLADLY_BASE_URL"] + "/export/jobs", params={"status": "COMPLETED"}, auth=auth).json()
        # 14 days of hourly jobs; the oldest one drops out of retention a few minutes into the
        # hour (its completion time), so the count depends on the wall clock by one.
        assert len(jobs) in (14 * 24 - 1, 14 * 24)
        busy = next(j for j in reversed(jobs) if j["files"])
        data = httpx.get(f"{env['GLADLY_BASE_URL']}/export/jobs/{busy['id']}/files/{CUSTOMERS}", auth=auth).content
        assert not data.endswith(b"\n")  # --malformed-lines reached the history jobs
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr


# --------------------------------------------------------------------------- a hostile server


def test_echo_errors_put_the_request_headers_in_the_error_body(sim: GladlySimulator) -> None:
    sim.faults.echo_errors, sim.faults.echo_padding = [418], 10
    with client(sim) as http:
        echoed, after = http.get("/export/jobs"), http.get("/export/jobs")
    detail = echoed.json()["errors"][0]["detail"]
    assert echoed.status_code == 418 and detail.startswith("." * 10 + " You sent: ")
    assert "Authorization: Basic " in detail and after.status_code == 200


def test_file_faults_replace_the_body(sim: GladlySimulator) -> None:
    job = sim.jobs()[-1]
    sim.faults.echo_files, sim.faults.html_files = 1, 1
    with client(sim) as http:
        echoed = http.get(file_url(job, CUSTOMERS))
        html = http.get(file_url(job, CUSTOMERS))
        real = http.get(file_url(job, CUSTOMERS))
    assert echoed.headers["content-type"] == "application/x-ndjson"
    assert any(line.startswith("Authorization: Basic ") for line in lines(echoed.content)[0]["request"])
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert html.content.startswith(b"<!DOCTYPE html>")
    assert real.content == sim.file_bytes(job["id"], CUSTOMERS)
    sim.faults.html_files, sim.faults.html_content_type = 1, None
    with client(sim) as http:
        assert "content-type" not in http.get(file_url(job, CUSTOMERS)).headers


def test_hostile_jobs_join_the_next_job_list(sim: GladlySimulator) -> None:
    sim.faults.hostile_job_lists = 1
    with client(sim) as http:
        hostile, normal = http.get("/export/jobs").json(), http.get("/export/jobs").json()
    assert hostile[len(normal) :] == hostile_jobs() and hostile[: len(normal)] == normal


def test_gzip_bomb_is_small_on_the_wire_and_huge_inflated(sim: GladlySimulator) -> None:
    sim.faults.gzip_bomb_bytes, sim.faults.gzip_bombs = 8 << 20, 1
    with client(sim) as http, http.stream("GET", "/export/jobs") as response:
        wire = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip" and len(wire) < 64 << 10
    assert zlib.decompress(wire, 31) == b"\n" * (8 << 20)


def test_an_endless_body_goes_on_until_the_client_hangs_up(sim: GladlySimulator) -> None:
    job = sim.jobs()[-1]
    sim.faults.applies_to, sim.faults.endless_bodies = "files", 1
    received = 0
    with client(sim) as http, http.stream("GET", file_url(job, ITEMS)) as response:
        assert "content-length" not in response.headers
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > 20 * len(sim.file_bytes(job["id"], ITEMS)):
                break
    assert received > 20 * len(sim.file_bytes(job["id"], ITEMS))


def test_a_drip_sends_one_byte_at_a_time(sim: GladlySimulator) -> None:
    sim.faults.applies_to, sim.faults.drips, sim.faults.drip_seconds, sim.faults.drip_bytes = "list", 1, 0.02, 10
    with client(sim) as http:
        started = time.perf_counter()
        dripped = http.get("/export/jobs")
    assert dripped.json() == [] and time.perf_counter() - started >= 11 * 0.02  # a pause between bytes
    assert sim.request_log[-1].bytes_sent == 12 and sim.request_log[-1].complete


def test_a_short_body_closes_cleanly_before_its_content_length(sim: GladlySimulator) -> None:
    job = sim.jobs()[-1]
    sim.faults.short_bodies, sim.faults.short_body_bytes = 1, 100
    with client(sim) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(file_url(job, ITEMS))
        assert http.get(file_url(job, ITEMS)).content == sim.file_bytes(job["id"], ITEMS)
    short = sim.request_log[-2]
    assert (short.status, short.bytes_sent, short.complete) == (200, 100, False)

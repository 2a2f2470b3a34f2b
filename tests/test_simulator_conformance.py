"""The simulator sends what Gladly documents: every record and job it emits validates against
JSON Schemas written from Gladly's published shapes (``tests/schemas/``, see their README),
and the schemas are strict enough to catch the shapes the simulator used to invent."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource

from gladly_assets.simulator import GladlySimulator

from .helpers import simulator_client

pytestmark = pytest.mark.slow  # every job and record of two whole simulated histories, validated against the schemas

SCHEMAS = Path(__file__).parent / "schemas"
BASE = "https://schemas.gladly-assets.test/"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FILE_SCHEMAS = {
    "agents.jsonl": "agent.json",
    "conversation_items.jsonl": "conversation_item.json",
    "customers.jsonl": "customer.json",
    "topics.jsonl": "topic.json",
}
ALL_CONTENT_TYPES = {path.stem.upper() for path in (SCHEMAS / "content").glob("*.json")}


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    resources = []
    for path in SCHEMAS.rglob("*.json"):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry: Registry = Registry().with_resources(resources)
    return jsonschema.Draft202012Validator({"$ref": BASE + name}, registry=registry)


def problems(name: str, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(name).iter_errors(instance)]


def assert_valid(name: str, instance: Any, where: str = "") -> None:
    if not validator(name).is_valid(instance):  # twice as fast as collecting errors
        raise AssertionError((where, problems(name, instance)[:5], instance))


def http(sim: GladlySimulator, **kwargs: Any) -> httpx.Client:
    return simulator_client(sim, timeout=10, **kwargs)


@pytest.fixture(params=["DAILY", "HOURLY"])
def busy_sim(request: pytest.FixtureRequest) -> Iterator[GladlySimulator]:
    """Every option on: unaligned windows that overlap, ranges, extra jobs of every kind."""
    history = 14 if request.param == "DAILY" else 1
    with GladlySimulator(
        seed=11, frequency=request.param, history_days=history, now=NOW, rate_limit_per_second=None,
        windows="overlapping", ranges=True,
    ) as sim:  # fmt: skip
        sim.advance(timedelta(hours=26))
        sim.complete_job(fraction_digits=2)
        sim.complete_job(updated_at=NOW - timedelta(days=1), fraction_digits=3)  # a late, unscheduled job
        sim.complete_job(conversation_items=400, fraction_digits=7)
        sim.fail_job(sim.start_job()["id"])
        sim.start_job(status="PENDING")
        yield sim


def test_every_job_and_record_the_simulator_emits_is_as_documented(busy_sim: GladlySimulator) -> None:
    sim = busy_sim
    content_types: Counter[str] = Counter()
    with http(sim) as client:
        listed = client.get("/export/jobs").json()
        assert_valid("job_list.json", listed)
        assert {job["status"] for job in listed} == {"PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"}
        for job in listed:
            assert_valid("job.json", client.get(f"/export/jobs/{job['id']}").json(), job["id"])
        assert_valid("schedules.json", client.get("/export/schedules").json())
        for agent in client.get("/agents").json():
            assert_valid("agent.json", agent)
        for topic in client.get("/topics").json():
            assert_valid("topic.json", topic)
        for job in listed:
            for name in job["files"]:
                response = client.get(f"/export/jobs/{job['id']}/files/{name}")
                assert response.status_code == 200
                for number, line in enumerate(response.content.splitlines()):
                    record = json.loads(line)
                    assert_valid(FILE_SCHEMAS[name], record, f"{job['id']}/{name}:{number + 1}")
                    if name == "conversation_items.jsonl":
                        content_types[record["content"]["type"]] += 1
    assert set(content_types) == ALL_CONTENT_TYPES  # every content schema was exercised


def test_error_bodies_are_as_documented() -> None:
    with GladlySimulator(seed=7, now=NOW, rate_limit_per_second=None) as sim, http(sim) as client:
        job = sim.jobs()[-1]
        running = sim.jobs("IN_PROGRESS")[0]
        not_found = [
            client.get("/export/jobs/nope"),
            client.get(f"/export/jobs/{job['id']}/files/orders.jsonl"),
            client.delete("/export/jobs/nope"),
            client.get("/no/such/endpoint"),
            httpx.get(sim.base_url.replace("/acme/", "/globex/") + "/agents", auth=(sim.agent_email, sim.api_token)),
        ]
        errors = [
            client.delete(f"/export/jobs/{running['id']}"),
            client.get("/export/jobs", params={"status": "DONE"}),
            client.get("/export/jobs", params={"startAt": ""}),
            client.get("/export/jobs", params={"endAt": (NOW + timedelta(hours=1)).isoformat()}),
            httpx.get(sim.base_url + "/topics", auth=(sim.agent_email, "wrong")),
            httpx.get(sim.base_url + "/topics", auth=(sim.unprivileged_agent_email, sim.unprivileged_api_token)),
            client.post("/topics"),
        ]
        sim.faults.rate_limit_burst = 1
        errors.append(client.get("/topics"))
        sim.faults.server_errors = [503]
        errors.append(client.delete(f"/export/jobs/{job['id']}"))
    assert {r.status_code for r in not_found} == {404}
    for response in not_found:
        assert_valid("not_found.json", response.json(), str(response.request.url))
    assert {400, 401, 403, 405, 429, 503} <= {r.status_code for r in errors}
    for response in errors:
        if response.status_code >= 400:
            assert_valid("error.json", response.json(), f"{response.status_code} {response.request.url}")
    (delete,) = errors[0].json()["errors"]
    assert (delete["attr"], delete["code"]) == ("status", "temporary_failure") and "[IN_PROGRESS]" in delete["detail"]


# What the simulator used to send, and the schemas now refuse (simulator-fidelity.md, by row).
_TEXT_CHAT = {
    "type": "CHAT_MESSAGE", "sessionId": "s1", "content": "hi", "messageType": "TEXT",
}  # fmt: skip
_CALL = {
    "from": "+14155550100", "to": "+18005550100", "startedAt": "2026-11-19T10:00:00.000Z",
    "answeredAt": "2026-11-19T10:00:05.000Z", "completedAt": "2026-11-19T10:05:00.000Z",
    "recordingStatus": "AVAILABLE", "recordingUrl": "/api/v1/conversation-items/i1/media/recording",
    "recordingDuration": 295, "recordingSummary": {"status": "READY", "summary": "ok", "language": "en"},
    "type": "PHONE_CALL",
}  # fmt: skip
_ITEM = {"id": "i1", "conversationId": "c1", "customerId": "u1", "timestamp": "2026-11-19T10:00:00.07Z"}


def _item(content: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {**_ITEM, "initiator": {"id": "u1", "type": "CUSTOMER"}, **envelope, "content": content}


OLD_SHAPES = {
    "1 messageData null on TEXT": _item({**_TEXT_CHAT, "messageData": None}),
    "1 invented quickReply request": _item(
        {
            **_TEXT_CHAT,
            "messageType": "QUICK_REPLY_REQUEST",
            "messageData": {"quickReply": {"options": [{"label": "a", "value": "a"}]}},
        }
    ),
    "1 invented quickReply response": _item(
        {**_TEXT_CHAT, "messageType": "QUICK_REPLY_RESPONSE", "messageData": {"quickReply": {"selected": "a"}}}
    ),
    "2 summary status COMPLETED": _item({**_CALL, "recordingSummary": {"status": "COMPLETED", "summary": "ok"}}),
    "2 language as a BCP 47 tag": _item({**_CALL, "recordingSummary": {"status": "READY", "language": "en-US"}}),
    "3 answeredAt null": _item({**_CALL, "answeredAt": None}),
    "3 zero duration without a recording": _item(
        {**{k: v for k, v in _CALL.items() if k != "recordingUrl"}, "recordingStatus": "ERROR", "recordingDuration": 0}
    ),
    "3 recordingUrl null": _item({**_CALL, "recordingUrl": None}),
    "5 customer name null": {"id": "u1", "name": None},
    "8 empty removedTopicIds": _item({"type": "TOPIC_CHANGE", "addedTopicIds": ["t1"], "removedTopicIds": []}),
    "8 empty cc": _item({"type": "EMAIL", "from": "a@b.example", "to": ["c@d.example"], "cc": [], "content": "x"}),
    "8 empty attachments": _item(
        {"type": "SMS", "from": "+14155550100", "to": "+14155550101", "content": "x", "attachments": []}
    ),
    "9 timestamp with one digit": _item(_TEXT_CHAT, timestamp="2026-11-19T10:00:00.1Z"),
    "11 unknown job status": {
        "id": "j",
        "status": "DONE",
        "updatedAt": "2026-11-19T10:00:00.07Z",
        "parameters": {
            "type": "CONVERSATIONS",
            "startAt": "2026-11-18T07:15:18.07Z",
            "endAt": "2026-11-19T07:15:18.07Z",
        },
        "files": [],
    },
    "13 attr on a 404": {"errors": [{"attr": "jobId", "code": "not_exist", "detail": "No export job x"}]},
    "13 invented 429 code": {"errors": [{"attr": "", "code": "too_many_requests", "detail": "slow down"}]},
    "17 absolute recordingUrl": _item({**_CALL, "recordingUrl": "https://recordings.acme.example/calls/x.mp3"}),
    "19 sessionId outside a voice AI message": _item(_TEXT_CHAT, sessionId="s1"),
}
SCHEMA_OF = {"5": "customer.json", "11": "job.json", "13": "error.json"}


@pytest.mark.parametrize("case", sorted(OLD_SHAPES))
def test_the_schemas_refuse_the_shapes_the_simulator_used_to_invent(case: str) -> None:
    row = case.split()[0]
    schema = "not_found.json" if case == "13 attr on a 404" else SCHEMA_OF.get(row, "conversation_item.json")
    assert problems(schema, OLD_SHAPES[case]), f"{schema} accepts {case}"


def test_the_fixed_shapes_pass_the_same_schemas() -> None:
    """The negative cases above differ from valid records only in what they break."""
    valid = [
        _item(_TEXT_CHAT),
        _item(_CALL),
        _item({**{k: v for k, v in _CALL.items() if k not in ("recordingUrl", "recordingDuration", "answeredAt",
                                                               "recordingSummary")}, "recordingStatus": "ERROR"}),
        _item({"type": "TOPIC_CHANGE", "removedTopicIds": ["t1"]}),
        _item({"type": "VOICE_AI_MESSAGE", "content": "hello"}, sessionId="s1"),
        {k: v for k, v in _ITEM.items() if k != "conversationId"} | {"content": {"type": "CONVERSATION_STATUS_CHANGE",
                                                                                 "status": "CLOSED"}},
    ]  # fmt: skip
    for record in valid:
        assert_valid("conversation_item.json", copy.deepcopy(record))
    assert_valid("customer.json", {"id": "u1"})
    assert_valid("not_found.json", {"errors": [{"code": "not_exist", "detail": "entity does not exist"}]})

"""The webhook receiver in-process (Starlette's test client, events collected instead of sent): MLflow's
signature scheme, the timestamp window, replays, and what each registry change becomes."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from starlette.testclient import TestClient

from gates.errors import BadInputError
from gates.webhook_events import CHAMPION_MOVED, VERSION_CREATED, prefect_event, signature
from tasks.webhook_receiver import Receiver
from tasks.webhooks import model_url, url_model, webhook_name

SECRET = "s3cr3t"


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    """(client, emitted events): secrets for 'fraud' and 'orphan'; a policy for 'fraud' only."""
    monkeypatch.setenv("MODELGATE_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "webhooks").mkdir(parents=True)
    (tmp_path / "home" / "webhooks" / "secrets.json").write_text(json.dumps({"fraud": SECRET, "orphan": SECRET}))
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "fraud.yaml").write_text("model_name: fraud\neval_data: {path: e.parquet, target: y}\n")
    emitted: list = []

    def emit(event):
        emitted.append(event)
        return event

    return TestClient(Receiver(policies, window_s=300, emit=emit).app), emitted


def send(client: TestClient, model: str, data: dict, *, secret: str = SECRET, stamp: int | None = None, **over):
    body = json.dumps(data)
    delivery, when = over.pop("delivery", str(uuid.uuid4())), str(stamp or int(time.time()))
    headers = {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": when,
        "X-MLflow-Signature": signature(secret, delivery, when, body),
        **over,
    }
    return client.post(f"/mlflow?model={model}", content=body, headers=headers)


CREATED = {"entity": "model_version", "action": "created", "data": {"name": "fraud", "version": "4", "run_id": "r"}}
MOVED = {"entity": "model_version_alias", "action": "created", "data": {"name": "fraud", "alias": "champion"}}


def test_signature_is_mlflows_v1_scheme():
    # base64(HMAC-SHA256("s3cr3t", "d1.1700000000.{}")), as mlflow.webhooks.delivery computes it
    from mlflow.webhooks.delivery import _generate_hmac_signature

    assert signature(SECRET, "d1", "1700000000", "{}") == _generate_hmac_signature(SECRET, "d1", "1700000000", "{}")


def test_a_new_version_and_a_champion_move_are_emitted(receiver):
    client, emitted = receiver
    assert send(client, "fraud", CREATED).status_code == 200
    assert send(client, "fraud", MOVED).status_code == 200
    assert [(e.event, e.resource["prefect.resource.id"]) for e in emitted] == [
        (VERSION_CREATED, "modelgate.model.fraud.v4"),
        (CHAMPION_MOVED, "modelgate.model.fraud"),
    ]
    assert client.get("/health").json()["counts"] == {"emitted": 2}


@pytest.mark.parametrize(
    ("case", "status", "answer"),
    [
        ("unsigned", 401, "fraud: unsigned delivery (missing X-MLflow-Delivery-Id, -Timestamp or -Signature)"),
        ("wrong secret", 401, "fraud: wrong signature"),
        ("stale", 401, "fraud: stale delivery: timestamp"),
        ("no secret", 401, "no webhook secret installed for model 'nobody'"),
    ],
)
def test_bad_deliveries_are_refused_and_nothing_is_emitted(receiver, case, status, answer):
    client, emitted = receiver
    if case == "unsigned":
        response = client.post("/mlflow?model=fraud", content=json.dumps(CREATED))
    elif case == "wrong secret":
        response = send(client, "fraud", CREATED, secret="guess")
    elif case == "stale":
        response = send(client, "fraud", CREATED, stamp=int(time.time()) - 3600)
    else:
        response = send(client, "nobody", CREATED)
    assert response.status_code == status and response.json()["refused"].startswith(answer)
    assert emitted == [] and client.get("/health").json()["counts"] == {"refused": 1}


def test_a_replayed_delivery_is_refused(receiver):
    client, emitted = receiver
    assert send(client, "fraud", CREATED, delivery="d-1").status_code == 200
    again = send(client, "fraud", CREATED, delivery="d-1")
    assert again.status_code == 409 and again.json() == {"replayed": "fraud: delivery d-1 was received before"}
    assert len(emitted) == 1


def test_no_policy_another_alias_or_another_model_is_ignored(receiver):
    client, emitted = receiver
    orphan = {**CREATED, "data": {"name": "orphan", "version": "1"}}
    ignored = send(client, "orphan", orphan)
    assert ignored.status_code == 200 and ignored.json()["ignored"].startswith("orphan: no usable policy")
    staging = {**MOVED, "data": {"name": "fraud", "alias": "staging"}}
    assert send(client, "fraud", staging).json() == {"ignored": "fraud: not a new version or a move of 'champion'"}
    other = {**CREATED, "data": {"name": "orphan", "version": "2"}}  # fraud's webhook never speaks for orphan
    assert "ignored" in send(client, "fraud", other).json()
    assert emitted == []


def test_event_mapping_of_odd_bodies():
    assert prefect_event("not json", "champion") is None
    assert prefect_event(json.dumps({"entity": "registered_model", "action": "created", "data": {}}), "x") is None
    deleted = {"entity": "model_version_alias", "action": "deleted", "data": {"name": "m", "alias": "prod"}}
    event = prefect_event(json.dumps(deleted), "prod")
    assert event is not None and event.event == CHAMPION_MOVED and event.payload["action"] == "deleted"


def test_install_urls_and_names():
    assert model_url("http://127.0.0.1:8765/mlflow", "fraud v2") == "http://127.0.0.1:8765/mlflow?model=fraud+v2"
    assert url_model("https://h.example/mlflow?x=1&model=fraud+v2") == "fraud v2"
    with pytest.raises(BadInputError, match="is not an http"):
        model_url("ftp://h/x", "m")
    name = webhook_name("Fraud scorer / EU")
    assert name.startswith("modelgate.Fraud-scorer-EU-") and len(name) < 63
    assert webhook_name("a") != webhook_name("b")


def test_an_event_that_cannot_be_sent_is_answered_503_and_may_be_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELGATE_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "webhooks").mkdir(parents=True)
    (tmp_path / "home" / "webhooks" / "secrets.json").write_text(json.dumps({"fraud": SECRET}))
    (tmp_path / "fraud.yaml").write_text("model_name: fraud\neval_data: {path: e.parquet, target: y}\n")
    answers = iter([None, "sent"])
    client = TestClient(Receiver(tmp_path, emit=lambda event: next(answers)).app)
    failed = send(client, "fraud", CREATED, delivery="d-9")
    assert failed.status_code == 503 and failed.json()["failed"].startswith("modelgate.version.created not emitted")
    assert send(client, "fraud", CREATED, delivery="d-9").status_code == 200  # MLflow's retry goes through


def test_the_receiver_needs_a_prefect_server_and_a_sane_window(tmp_path, monkeypatch):
    from tasks.webhook_receiver import serve

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(BadInputError, match="^the receiver needs PREFECT_API_URL"):
        serve("127.0.0.1", 0, str(tmp_path), 300)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    with pytest.raises(BadInputError, match="^--window must be positive, not 0"):
        serve("127.0.0.1", 0, str(tmp_path), 0)
    with pytest.raises(BadInputError, match="^policy directory not found"):
        serve("127.0.0.1", 0, str(tmp_path / "nope"), 300)
    with pytest.raises(BadInputError, match="^no Prefect server answers at http://127.0.0.1:9/api: ConnectError"):
        serve("127.0.0.1", 0, str(tmp_path), 300)

"""ParallelCluster's REST API served by ``stratus serve``, driven over HTTP as pcluster's API is.

The CLI's operations behind pcluster's routes: create (dry run, validation errors, conflict),
list, describe, fleet stop/start, instances, update (dry run and a real one), delete; pcluster's
error shapes and status codes; the serve token (401 without it, nothing shown); the OpenAPI
document; the same answers as the CLI.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.harness import WALKTHROUGH_CONFIG, wait_for
from tests.web.conftest import Served

CONFIG = WALKTHROUGH_CONFIG.format(idle=0.05, min_count=1, max_count=2)


def test_the_cluster_lifecycle_through_the_rest_api(served: Served, tmp_path: Path) -> None:
    api = served.client()
    # A dry run: pcluster's 412, nothing created.
    r = api.post(
        "/v3/clusters", params={"dryrun": "true"}, json={"clusterName": "web", "clusterConfiguration": CONFIG}
    )
    assert r.status_code == 412, r.text
    assert r.json()["message"] == "Request would have succeeded, but DryRun flag is set."
    assert api.get("/v3/clusters").json() == {"clusters": []}

    r = api.post("/v3/clusters", json={"clusterName": "web", "clusterConfiguration": CONFIG})
    assert r.status_code == 202, r.text
    assert r.json()["cluster"]["clusterName"] == "web"
    assert r.json()["cluster"]["clusterStatus"] == "CREATE_IN_PROGRESS"
    wait_for(
        lambda: api.get("/v3/clusters/web").json()["clusterStatus"] == "CREATE_COMPLETE", 60, what="created"
    )
    again = api.post("/v3/clusters", json={"clusterName": "web", "clusterConfiguration": CONFIG})
    assert again.status_code == 409 and again.json() == {
        "message": "Bad Request: Cluster web already exists."
    }

    # The same answers as the CLI.
    listed = api.get("/v3/clusters").json()
    assert listed == served.stratus.run("list-clusters").json
    described = api.get("/v3/clusters/web").json()
    cli = served.stratus.run("describe-cluster", "-n", "web").json
    assert {k: v for k, v in described.items() if k != "lastUpdatedTime"} == {
        k: v for k, v in cli.items() if k != "lastUpdatedTime"
    }
    instances = api.get("/v3/clusters/web/instances").json()["instances"]
    assert {i["nodeType"] for i in instances} == {"HeadNode", "ComputeNode"}
    assert (
        api.get("/v3/clusters/web/instances", params={"nodeType": "HeadNode"}).json()["instances"][0][
            "nodeType"
        ]
        == "HeadNode"
    )

    # The compute fleet: stop, then start.
    r = api.patch("/v3/clusters/web/computefleet", json={"status": "STOP_REQUESTED"})
    assert r.status_code == 200, r.text
    wait_for(
        lambda: api.get("/v3/clusters/web/computefleet").json()["status"] == "STOPPED", 60, what="stopped"
    )
    r = api.patch("/v3/clusters/web/computefleet", json={"status": "START_REQUESTED"})
    assert r.status_code == 200, r.text
    wait_for(
        lambda: api.get("/v3/clusters/web/computefleet").json()["status"] == "RUNNING", 60, what="running"
    )

    # Update: a dry run answers the change set; a real one is applied.
    bigger = CONFIG.replace("MaxCount: 2", "MaxCount: 3")
    r = api.put("/v3/clusters/web", params={"dryrun": "true"}, json={"clusterConfiguration": bigger})
    assert r.status_code == 412, r.text
    assert r.json()["changeSet"][0]["requestedValue"] == 3
    r = api.put("/v3/clusters/web", json={"clusterConfiguration": bigger})
    assert r.status_code == 202, r.text
    wait_for(
        lambda: api.get("/v3/clusters/web").json()["clusterStatus"] == "UPDATE_COMPLETE", 90, what="updated"
    )

    # Log streams and events, as list-cluster-log-streams and get-cluster-log-events answer.
    streams = api.get("/v3/clusters/web/logstreams").json()
    cli_streams = served.stratus.run("list-cluster-log-streams", "-n", "web").json["logStreams"]
    # The same streams (their last events move on while the cluster runs).
    assert [x["logStreamName"] for x in streams["logStreams"]] == [x["logStreamName"] for x in cli_streams]
    nodes_stream = next(
        x["logStreamName"] for x in streams["logStreams"] if x["logStreamName"].endswith(".clustermgtd")
    )
    events_url = "/v3/clusters/web/logstreams/" + nodes_stream
    head = api.get(events_url, params={"startFromHead": "true", "limit": 2})
    assert head.status_code == 200, head.text
    assert len(head.json()["events"]) <= 2 and "nextToken" in head.json()
    bad = api.get(events_url, params={"startTime": "yesterday"})
    assert bad.status_code == 400 and "ISO 8601" in bad.json()["message"]
    forged = api.get(events_url, params={"nextToken": "forged"})
    assert forged.status_code == 400 and "nextToken is invalid" in forged.json()["message"]
    assert api.get("/v3/clusters/web/logstreams/nope").status_code in (400, 404)

    r = api.delete("/v3/clusters/web")
    assert r.status_code == 202 and r.json()["cluster"]["clusterStatus"] == "DELETE_IN_PROGRESS"
    wait_for(lambda: api.get("/v3/clusters/web").status_code == 404, 60, what="deleted")


def test_bad_requests_get_pcluster_errors(served: Served) -> None:
    api = served.client()
    good = {"clusterName": "a", "clusterConfiguration": CONFIG}
    not_json = {"content-type": "application/json"}
    cases = [
        (api.post("/v3/clusters", json={"clusterName": "x"}), 400, "Field required - 'clusterConfiguration'"),
        (
            api.post("/v3/clusters", json={**good, "clusterName": "1bad"}),
            400,
            "Bad Request: '1bad' does not match '^[a-zA-Z][a-zA-Z0-9-]+$' - 'cluster-name'",
        ),
        (api.post("/v3/clusters", content=b"{not json", headers=not_json), 400, None),
        (api.get("/v3/clusters/nope"), 404, "Cluster 'nope' does not exist"),
        (
            api.patch("/v3/clusters/nope/computefleet", json={"status": "RUNNING"}),
            400,
            "'RUNNING' is not one of",
        ),
        (api.get("/v3/clusters/nope/instances", params={"nodeType": "Login"}), 400, "'Login' is not one of"),
        (api.post("/v3/clusters", params={"dryrun": "maybe"}, json=good), 400, "expected 'boolean'"),
    ]
    for answer, status, words in cases:
        assert answer.status_code == status, answer.text
        message = answer.json()["message"]
        assert message.startswith("Bad Request") or status == 404
        if words:
            assert words in message, message
    # A configuration with errors: pcluster's configurationValidationErrors, nothing created.
    r = api.post(
        "/v3/clusters",
        json={"clusterName": "bad", "clusterConfiguration": CONFIG.replace("MaxCount: 2", "MaxCount: x")},
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["message"] == "Invalid cluster configuration."
    assert any("MaxCount" in e["message"] for e in body["configurationValidationErrors"])
    assert api.get("/v3/clusters").json() == {"clusters": []}
    # A body beyond the limit is refused before it is read.
    huge = api.post(
        "/v3/clusters", content=b"x" * (5 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert huge.status_code == 413


def test_the_serve_token_is_required(served: Served) -> None:
    for token in (None, "wrong", served.token + "x"):
        r = served.client(token).get("/v3/clusters")
        assert r.status_code == 401 and "clusters" not in r.text
        assert r.json()["message"].startswith("Unauthorized")
    token_file = served.stratus.home / "serve" / "token"
    assert oct(token_file.stat().st_mode)[-3:] == "600"
    # The OpenAPI document names pcluster's operations; /health needs nothing.
    doc = served.client().get("/openapi.json").json()
    summaries = {op["summary"] for path in doc["paths"].values() for op in path.values()}
    operations = ("CreateCluster", "ListClusters", "DescribeCluster", "UpdateCluster", "DeleteCluster",
                  "DescribeComputeFleet", "UpdateComputeFleet", "DescribeClusterInstances",
                  "ListClusterLogStreams", "GetClusterLogEvents")  # fmt: skip
    assert set(operations) <= summaries
    assert served.client(None).get("/health").status_code == 200

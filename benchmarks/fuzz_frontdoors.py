"""A fuzzing campaign against a live head node's front doors, and against config validation.

Generates inputs a hostile or careless user could send and counts what must never happen:

  api      every route of the head node's API, with the valid token: random and mutated JSON
           bodies (huge numbers, deep nesting, odd strings, wrong types), raw bytes, odd ids
  slurm    Slurm command lines (sbatch, squeue, scontrol, scancel, sacct, sinfo, sprio, sshare)
           made of real options with generated values, plus generated batch scripts, sent as the
           Slurm commands send them: over the head node's unix socket, no token
  config   ParallelCluster configs: a valid one mutated (keys, values, types, YAML syntax) and
           hostile YAML (control characters, aliases, deep nesting)

Failures counted (all must be 0): an HTTP 5xx, a reply saying "internal error", a request that
hangs (no answer in 10 s), a head node that died or stopped answering, and for configs any
exception other than the validation error, or a validation slower than 2 s.

    python benchmarks/fuzz_frontdoors.py [--count N] [--seed S] [--json FILE]

``--count`` is per front door (default 10,000). The head node runs on a local cluster under a
temporary STRATUS_HOME, deleted at the end; every request goes to 127.0.0.1 or to the cluster's
unix socket.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stratus.config import load_cluster_config  # noqa: E402
from stratus.errors import UserError  # noqa: E402

CONFIG = """\
Region: eu-west-1
Image:
  Os: alinux2
HeadNode:
  InstanceType: t2.micro
  Networking:
    SubnetId: subnet-08c245b78a82c3924
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: 1
  SlurmQueues:
  - Name: queue1
    ComputeResources:
    - Name: t2micro
      Instances:
      - InstanceType: t2.micro
      MinCount: 1
      MaxCount: 4
    Networking:
      SubnetIds:
      - subnet-0b864625631add41e
"""

# A "billion laughs": seven levels of nine aliases each.
LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcdef", "bcdefg", strict=True)
)

COMMANDS = ["sbatch", "squeue", "scontrol", "scancel", "sacct", "sinfo", "sprio", "sshare"]
OPTIONS = {
    "sbatch": [
        "-J",
        "-p",
        "-N",
        "-n",
        "-c",
        "--mem",
        "--mem-per-cpu",
        "-t",
        "-o",
        "-e",
        "-i",
        "--array",
        "-D",
        "--hold",
        "--nice",
        "--exclusive",
        "--gres",
        "-G",
        "--gpus-per-node",
        "--ntasks-per-node",
        "--requeue",
        "--no-requeue",
        "--open-mode",
        "--export",
        "--begin",
        "-C",
        "-d",
        "--dependency",
        "--signal",
        "--test-only",
        "--parsable",
        "-A",
        "--comment",
        "--kill-on-invalid-dep",
    ],
    "squeue": ["-o", "-O", "-h", "-u", "-j", "-p", "-t", "-r", "-S", "--me", "-l", "--json", "--yaml"],
    "scontrol": ["show", "job", "node", "partition", "hold", "release", "requeue", "update", "hostnames"],
    "scancel": ["-u", "-t", "-p", "-n", "-s", "-Q", "-v"],
    "sacct": ["-j", "-u", "-a", "-S", "-E", "-s", "-X", "-P", "-p", "-n", "-b", "-l", "--name", "--format"],
    "sinfo": ["-o", "-O", "-N", "-l", "-s", "-R", "-p", "-t", "-n", "--json"],
    "sprio": ["-l", "-w", "-j", "-u", "-o"],
    "sshare": ["-l", "-a", "-u", "-A", "-o"],
}
SCONTROL_UPDATE_KEYS = ["TimeLimit", "Partition", "NumCPUs", "NumTasks", "NumNodes", "Nice", "JobName"]


class Gen:
    """Random values of the kinds that break parsers."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def text(self) -> str:
        r = self.r
        pick = r.random()
        if pick < 0.2:
            return str(r.choice([0, -1, 1, 2**31, 2**32, 2**63, 2**64, 10**30, -(10**30)]))
        if pick < 0.3:
            return r.choice(["", " ", "UNLIMITED", "INFINITE", "1-0", "0:0:0", "now+1", "%j", "%A_%a"])
        if pick < 0.45:
            return "".join(chr(r.choice([0xFF, 0xDCFF, 0x7, 0x0A, 0x1B, 0x202E, 0x3000])) for _ in range(3))
        if pick < 0.55:
            return "[" * r.randint(1, 3000) + "x" + "]" * r.randint(0, 3000)
        if pick < 0.6:
            return "x" * r.randint(10_000, 200_000)
        alphabet = "abcXYZ019_-:,=@%[]{}()*?!$/\\'\" \t"
        return "".join(r.choice(alphabet) for _ in range(r.randint(0, 24)))

    def json_value(self, depth: int = 0) -> Any:
        r = self.r
        pick = r.random()
        if depth > 4 or pick < 0.3:
            return r.choice([None, True, False, 0, -1, 2**64, 1e308, -1e308, 0.5, self.text()])
        if pick < 0.6:
            return [self.json_value(depth + 1) for _ in range(r.randint(0, 4))]
        return {self.text()[:20]: self.json_value(depth + 1) for _ in range(r.randint(0, 4))}

    def argv(self, cmd: str) -> list[str]:
        r = self.r
        out: list[str] = []
        for _ in range(r.randint(0, 5)):
            opt = r.choice(OPTIONS[cmd])
            out.append(opt)
            if r.random() < 0.7:
                if cmd == "scontrol" and opt == "update":
                    out.append(f"JobId={self.text()}")
                    out.append(f"{r.choice(SCONTROL_UPDATE_KEYS)}={self.text()}")
                else:
                    out.append(self.text())
        if cmd == "sbatch" and r.random() < 0.8:
            out += ["--hold", "--wrap", self.text() or "true"]
        return out


class Tally:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {"inputs": 0, "crash": 0, "5xx": 0, "hang": 0, "head_death": 0}
        self.samples: list[str] = []

    def bad(self, kind: str, sample: str) -> None:
        self.counts[kind] += 1
        if len(self.samples) < 10:
            self.samples.append(f"{kind}: {sample[:300]}")


def _body(argv: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "argv": argv,
        "cwd": "/tmp",
        "env": {"PATH": "/usr/bin:/bin"},
        "uid": os.getuid(),
        "gid": os.getgid(),
        "host": "fuzz",
        **extra,
    }


def _post(
    http: httpx.Client, tally: Tally, method: str, url: str, content: bytes, what: str
) -> httpx.Response | None:
    tally.counts["inputs"] += 1
    try:
        r = http.request(method, url, content=content, timeout=10.0)
    except httpx.TimeoutException:
        tally.bad("hang", f"{method} {url} {what}")
        return None
    except httpx.TransportError as exc:
        tally.bad("head_death", f"{method} {url} {what}: {exc}")
        return None
    if r.status_code >= 500:
        tally.bad("5xx", f"{method} {url} {r.status_code} {what}: {r.text[:200]}")
    elif b"internal error" in r.content:
        tally.bad("crash", f"{method} {url} {what}: {r.content[:200]!r}")
    return r


def campaign_api(http: httpx.Client, gen: Gen, count: int, job_id: int) -> Tally:
    tally = Tally()
    routes = [("POST", f"/slurm/v1/{c}") for c in COMMANDS] + [
        ("POST", "/slurm/v1/steps"),
        ("POST", "/slurm/v1/allocations"),
        ("GET", "/slurm/v1/allocations/{id}"),
        ("POST", "/slurm/v1/allocations/{id}/done"),
        ("GET", "/slurm/v1/wait/{id}"),
        ("GET", "/v3/clusters/fuzz"),
        ("GET", "/v3/clusters/fuzz/computefleet"),
        ("PATCH", "/v3/clusters/{text}/computefleet"),
        ("GET", "/v3/clusters/fuzz/instances"),
    ]
    r = gen.r
    for i in range(count):
        method, url = r.choice(routes)
        ident = r.choice([str(job_id), "0", "-1", "18446744073709551616", "abc", "1e999", "%00"])
        url = url.replace("{id}", ident).replace("{text}", r.choice(["fuzz", "x", "%ff"]))
        pick = r.random()
        if pick < 0.4:  # a well-formed body with one field made hostile
            body = _body(
                gen.argv("squeue") if "slurm" in url else [],
                job_id=job_id,
                io_host="127.0.0.1",
                io_port=9,
                io_token="t",
                status="STOP_REQUESTED" if r.random() < 0.1 else "x",
            )
            key = r.choice(list(body))
            body[key] = gen.json_value()
            content = json.dumps(body).encode()
        elif pick < 0.8:
            content = json.dumps(gen.json_value()).encode()
        elif pick < 0.9:
            content = bytes(r.getrandbits(8) for _ in range(r.randint(0, 200)))
        else:
            content = b'{"argv": ' + b"[" * r.randint(100, 50_000) + b"]" * r.randint(0, 50_000) + b"}"
        _post(http, tally, method, url, content, f"#{i}")
    return tally


def campaign_slurm(http: httpx.Client, gen: Gen, count: int) -> Tally:
    tally = Tally()
    for i in range(count):
        cmd = gen.r.choice(COMMANDS)
        argv = gen.argv(cmd)
        body = _body(argv)
        if cmd == "sbatch" and gen.r.random() < 0.3:
            body["stdin"] = "#!/bin/sh\n#SBATCH " + " ".join(gen.argv("sbatch")) + "\ntrue\n"
            body["argv"] = [a for a in argv if a != "--wrap"][:4]
        r = _post(http, tally, "POST", f"/slurm/v1/{cmd}", json.dumps(body).encode(), f"{cmd} {argv!r}")
        if r is not None and r.status_code != 200:
            tally.bad("crash", f"{cmd} {argv!r}: HTTP {r.status_code} {r.text[:200]}")
        if cmd == "sbatch" and r is not None and r.headers.get("X-Exit-Code") == "0" and i % 50 == 0:
            # Keep the queue small: cancel what was accepted.
            _post(
                http,
                Tally(),
                "POST",
                "/slurm/v1/scancel",
                json.dumps(_body(["-u", str(os.getuid())])).encode(),
                "",
            )
    return tally


def campaign_config(gen: Gen, count: int) -> Tally:
    tally = Tally()
    lines = CONFIG.splitlines()
    r = gen.r
    for i in range(count):
        pick = r.random()
        if pick < 0.6:  # a valid config with one line changed
            mutated = list(lines)
            k = r.randrange(len(mutated))
            head, _, _ = mutated[k].partition(":")
            mutated[k] = r.choice([f"{head}: {gen.text()}", f"{gen.text()}: 1", head, gen.text()])
            text = "\n".join(mutated) + "\n"
        elif pick < 0.8:
            text = r.choice(
                [
                    "a: &a [*a]\n",
                    "x: \x07\n",
                    "[" * 5000 + "]" * 5000,
                    LAUGHS,
                ]
            )
        else:
            text = json.dumps(gen.json_value())
        tally.counts["inputs"] += 1
        t0 = time.monotonic()
        try:
            load_cluster_config(text)
        except UserError:
            pass  # refused with a message naming the problem (what create-cluster prints)
        except Exception as exc:  # anything else is a crash of create-cluster
            tally.bad("crash", f"#{i} {exc.__class__.__name__}: {exc} for {text[:120]!r}")
        if time.monotonic() - t0 > 2.0:
            tally.bad("hang", f"#{i} took {time.monotonic() - t0:.1f} s for {text[:120]!r}")
    return tally


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000, help="inputs per front door")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--doors", default="config,api,slurm", help="which campaigns (comma-separated)")
    args = parser.parse_args()
    doors = set(args.doors.split(","))
    gen = Gen(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="stratus-fuzz-"))
    env = dict(os.environ, STRATUS_HOME=str(tmp / "home"), STRATUS_KILL_WAIT="2")
    (tmp / "cluster.yaml").write_text(CONFIG)

    def stratus(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stratus.cli.main", *a],
            env=env,
            text=True,
            capture_output=True,
            cwd=REPO,
            timeout=300,
        )

    results: dict[str, Tally] = {}
    t0 = time.monotonic()
    if "config" in doors:
        results["config"] = campaign_config(gen, args.count)
    if not doors & {"api", "slurm"}:
        return _report(results, args, time.monotonic() - t0)
    created = stratus("create-cluster", "-n", "fuzz", "-c", str(tmp / "cluster.yaml"), "--wait")
    if created.returncode != 0:
        print(created.stdout, created.stderr)
        return 2
    root = tmp / "home" / "clusters" / "fuzz"
    host, port, _ = (root / "endpoint").read_text().split()
    token = (root / "token").read_text().strip()
    pid = int((root / "controller.lock").read_text().strip())
    try:
        with httpx.Client(
            base_url=f"http://{host}:{port}", headers={"Authorization": f"Bearer {token}"}
        ) as http:
            sb = http.post(
                "/slurm/v1/sbatch", content=json.dumps(_body(["--parsable", "--hold", "--wrap", "true"]))
            )
            job_id = int(sb.text.strip().split(";")[0] or 1)
            if "api" in doors:
                results["api"] = campaign_api(http, gen, args.count, job_id)
            if "slurm" in doors:
                socket = httpx.HTTPTransport(uds=str(root / "api.sock"))
                with httpx.Client(transport=socket, base_url="http://localhost") as local:
                    results["slurm"] = campaign_slurm(local, gen, args.count)
            alive = os.path.exists(f"/proc/{pid}")
            ping = http.get("/v3/clusters/fuzz", timeout=10.0).status_code if alive else 0
    finally:
        stratus("delete-cluster", "-n", "fuzz", "--wait")
    if not alive or ping != 200:
        results.setdefault("head", Tally()).bad("head_death", "the head node is gone or not answering")
    return _report(results, args, time.monotonic() - t0)


def _report(results: dict[str, Tally], args: argparse.Namespace, elapsed: float) -> int:
    print(
        f"stratus front-door fuzzing, seed {args.seed}, {args.count} inputs per front door, {elapsed:.0f} s"
    )
    print(f"{'front door':10} {'inputs':>7} {'crash':>6} {'5xx':>5} {'hang':>5} {'head death':>11}")
    failures = 0
    for name, tally in results.items():
        c = tally.counts
        print(
            f"{name:10} {c['inputs']:7d} {c['crash']:6d} {c['5xx']:5d} {c['hang']:5d} {c['head_death']:11d}"
        )
        failures += c["crash"] + c["5xx"] + c["hang"] + c["head_death"]
        for s in tally.samples:
            print(f"    {s}")
    if args.json:
        Path(args.json).write_text(json.dumps({k: v.counts for k, v in results.items()}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

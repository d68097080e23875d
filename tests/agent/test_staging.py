"""The node's staging program (standard library only) against a real S3 server (rclone).

Run as a job's wrapper runs it: ``python3 -I staging.py in|out SPEC`` in the job's working
directory with the job's environment; checked by looking at the server's files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratus.agent import staging
from tests.s3_server import S3Server, s3_server

PROGRAM = Path(staging.__file__)


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    with s3_server(tmp_path / "s3") as server:
        (server.root / "bkt" / "refs" / "sub").mkdir(parents=True)
        (server.root / "bkt" / "input.txt").write_text("hello\n")
        (server.root / "bkt" / "refs" / "year=2024.csv").write_text("a,b\n")
        (server.root / "bkt" / "refs" / "sub" / "two words.txt").write_text("x\n")
        yield server


def _run(
    s3: S3Server, work: Path, direction: str, spec: dict[str, list[list[str]]], **env: str
) -> subprocess.CompletedProcess[str]:
    work.mkdir(exist_ok=True)
    (work / ".spec.json").write_text(json.dumps(spec))
    full = {"PATH": os.environ.get("PATH", ""), "HOME": str(work), **s3.env(), **env}
    return subprocess.run(
        [sys.executable, "-I", str(PROGRAM), direction, ".spec.json"],
        cwd=work,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_stage_in_objects_and_prefixes_then_out_files_and_folders(s3: S3Server, tmp_path: Path) -> None:
    work = tmp_path / "work"
    spec = {
        "in": [["input.txt", "s3://bkt/input.txt"], ["refs/", "s3://bkt/refs/"]],
        "out": [["results", "s3://bkt/out/"], ["input.txt", "s3://bkt/copy/in.txt"]],
    }
    done = _run(s3, work, "in", spec)
    assert done.returncode == 0, done.stderr
    assert (work / "input.txt").read_text() == "hello\n"
    assert (work / "refs" / "year=2024.csv").read_text() == "a,b\n"
    assert (work / "refs" / "sub" / "two words.txt").read_text() == "x\n"
    assert "stratus: staged in s3://bkt/refs/ -> refs/ (2 objects, 6 bytes)" in done.stderr
    assert not list(work.rglob(".stage-*"))  # no partial files left
    (work / "results" / "deep").mkdir(parents=True)
    (work / "results" / "r.txt").write_text("result\n")
    (work / "results" / "deep" / "d.bin").write_bytes(bytes(range(256)) * 4000)
    done = _run(s3, work, "out", spec)
    assert done.returncode == 0, done.stderr
    assert (s3.root / "bkt" / "out" / "r.txt").read_text() == "result\n"
    assert (s3.root / "bkt" / "out" / "deep" / "d.bin").read_bytes() == bytes(range(256)) * 4000
    assert (s3.root / "bkt" / "copy" / "in.txt").read_text() == "hello\n"


def test_a_key_ending_in_slash_takes_the_file_name(s3: S3Server, tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    (work / "log.txt").write_text("l\n")
    done = _run(s3, work, "out", {"out": [["log.txt", "s3://bkt/logs/"]]})
    assert done.returncode == 0, done.stderr
    assert (s3.root / "bkt" / "logs" / "log.txt").read_text() == "l\n"


_INPUT = [["x", "s3://bkt/input.txt"]]
_FAILURES = [
    ("in", [["x", "s3://bkt/missing.txt"]], {}, "stage-in of s3://bkt/missing.txt: NoSuchKey"),
    ("in", [["x/", "s3://bkt/nothing/"]], {}, "no object under this prefix"),
    ("in", [["x", "s3://nobkt/k"]], {}, "NoSuchBucket"),
    ("in", _INPUT, {"AWS_SECRET_ACCESS_KEY": "wrong"}, "SignatureDoesNotMatch"),
    ("in", _INPUT, {"AWS_ENDPOINT_URL_S3": "ftp://h"}, "not an http(s) URL"),
    ("out", [["nope.txt", "s3://bkt/k"]], {}, "stage-out of nope.txt to s3://bkt/k: no such file"),
]


@pytest.mark.parametrize(("direction", "entries", "env", "words"), _FAILURES)
def test_failures_say_what_failed_and_exit_with_the_direction_status(
    s3: S3Server, tmp_path: Path, direction: str, entries: list[list[str]], env: dict[str, str], words: str
) -> None:
    done = _run(s3, tmp_path / "w", direction, {direction: entries}, **env)
    assert done.returncode == (staging.STAGE_IN_FAILED if direction == "in" else staging.STAGE_OUT_FAILED)
    assert "DataStagingError: " in done.stderr and words in done.stderr, done.stderr


def test_no_credentials_anywhere_is_a_clear_error(s3: S3Server, tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    (work / ".spec.json").write_text(json.dumps({"in": [["x", "s3://bkt/input.txt"]]}))
    done = subprocess.run(
        [sys.executable, "-I", str(PROGRAM), "in", ".spec.json"],
        cwd=work,
        env={"HOME": str(work), "AWS_ENDPOINT_URL_S3": s3.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 121 and "no S3 credentials" in done.stderr


def test_the_shared_credentials_file_is_read_when_the_environment_has_no_key(
    s3: S3Server, tmp_path: Path
) -> None:
    work = tmp_path / "w"
    work.mkdir()
    creds = s3.credentials_file(tmp_path / "creds", profile="lab")
    (work / ".spec.json").write_text(json.dumps({"in": [["x", "s3://bkt/input.txt"]]}))
    done = subprocess.run(
        [sys.executable, "-I", str(PROGRAM), "in", ".spec.json"],
        cwd=work,
        env={"HOME": str(work), "AWS_ENDPOINT_URL_S3": s3.url, "AWS_SHARED_CREDENTIALS_FILE": str(creds),
             "AWS_PROFILE": "lab"},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (work / "x").read_text() == "hello\n"


def test_keys_that_climb_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    # A key with ".." parts (which some servers store) must not write outside the entry's folder;
    # rclone refuses to store one, so the rule is checked on its own.
    root = str(tmp_path / "d")
    assert staging._inside(root, "a/b.txt") == os.path.join(root, "a/b.txt")
    for rel in ("../escape.txt", "a/../../escape.txt", "/etc/passwd", ".."):
        with pytest.raises(staging.StagingError, match="outside"):
            staging._inside(root, rel)

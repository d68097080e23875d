"""Data staging through the Slurm door: ``sbatch --stage-in/--stage-out`` with ``Stratus.S3``.

A real S3 server (rclone) holds the data; the cluster's ``Stratus.S3`` names it and a
credentials file; jobs see the endpoint and key, their inputs are copied in before the script
runs and their outputs out after it, and failures end the job with the staging status and a
``DataStagingError`` line in its output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import WALKTHROUGH_CONFIG, Cluster, Stratus, wait_for
from tests.s3_server import S3Server, s3_server

S3_BLOCK = """\
Stratus:
  S3:
    EndpointUrl: {url}
    CredentialsFile: {creds}
    Profile: lab
"""


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    with s3_server(tmp_path / "s3") as server:
        (server.root / "data" / "refs").mkdir(parents=True)
        (server.root / "data" / "input.txt").write_text("hello staging\n")
        (server.root / "data" / "refs" / "a.txt").write_text("a\n")
        (server.root / "data" / "refs" / "b.txt").write_text("b\n")
        yield server


def _config(s3: S3Server, tmp_path: Path) -> str:
    creds = s3.credentials_file(tmp_path / "s3-credentials", profile="lab")
    base = WALKTHROUGH_CONFIG.format(idle=0.05, min_count=1, max_count=2)
    return base + S3_BLOCK.format(url=s3.url, creds=creds)


def _state(c: Cluster, job: int) -> str:
    r = c.slurm("sacct", "-j", str(job), "-X", "-n", "-P", "-o", "State,ExitCode")
    return r.out.strip()


def _ended(c: Cluster, job: int) -> str:
    return str(
        wait_for(
            lambda: (s := _state(c, job)) and not s.startswith(("PENDING", "RUNNING", "CONFIGURING")) and s,
            90,
            what=f"job {job} ended",
        )
    )


def test_sbatch_stages_in_and_out_through_the_clusters_object_store(
    stratus: Stratus, tmp_path: Path, workdir: Path, s3: S3Server
) -> None:
    c = stratus.create("stg", _config(s3, tmp_path), tmp_path)
    script = workdir / "job.sh"
    script.write_text(
        "#!/bin/sh\n"
        "#SBATCH --stage-in=in.txt=s3://data/input.txt\n"
        "#SBATCH --stage-in=s3://data/refs/\n"
        "#SBATCH --stage-out=out/=s3://data/results/\n"
        "mkdir -p out\n"
        "tr a-z A-Z < in.txt > out/upper.txt\n"
        "cat refs/a.txt refs/b.txt > out/refs.txt\n"
        'echo "endpoint=$AWS_ENDPOINT_URL_S3 key=$AWS_ACCESS_KEY_ID"\n'
    )
    job = c.sbatch("job.sh", cwd=workdir)
    assert _ended(c, job) == "COMPLETED|0:0"
    assert (s3.root / "data" / "results" / "upper.txt").read_text() == "HELLO STAGING\n"
    assert (s3.root / "data" / "results" / "refs.txt").read_text() == "a\nb\n"
    out = (workdir / f"slurm-{job}.out").read_text()
    assert f"endpoint={s3.url} key={s3.access_key}" in out
    assert "stratus: staged in s3://data/input.txt -> in.txt (14 bytes)" in out
    assert "stratus: staged out out/ -> s3://data/results/ (2 files" in out

    # The user's own key wins over the cluster's: a wrong one makes the stage-in fail, the
    # script never runs, and the job ends FAILED with the stage-in status.
    env_key = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    r = c.slurm("sbatch", "--parsable", "--stage-in=x=s3://data/input.txt", "--wrap", "echo ran",
                cwd=workdir, env=env_key)  # fmt: skip
    assert r.code == 0, r.err
    bad_key = int(r.out.strip())
    # A missing object: the same.
    missing = c.sbatch("--stage-in=x=s3://data/nothing.txt", "--wrap", "echo ran", cwd=workdir)
    # An output the script did not write: the script's success becomes the stage-out's failure.
    no_output = c.sbatch("--stage-out=never.txt=s3://data/never.txt", "--wrap", "true", cwd=workdir)
    for job_id, words in (
        (bad_key, "SignatureDoesNotMatch"),
        (missing, "stage-in of s3://data/nothing.txt: NoSuchKey"),
        (no_output, "stage-out of never.txt to s3://data/never.txt: no such file or directory"),
    ):
        status = "122:0" if job_id == no_output else "121:0"
        assert _ended(c, job_id) == f"FAILED|{status}"
        text = (workdir / f"slurm-{job_id}.out").read_text()
        assert "DataStagingError: " in text and words in text, text
        assert "ran" not in text


def test_bad_staging_options_are_refused_at_submission(
    stratus: Stratus, tmp_path: Path, workdir: Path, s3: S3Server
) -> None:
    c = stratus.create("stgbad", _config(s3, tmp_path), tmp_path)
    for option, words in (
        ("--stage-out=s3://data/x", "a stage-out entry needs the local path first"),
        ("--stage-in=in.txt", "not PATH=s3://BUCKET/KEY"),
        ("--stage-in=x=s3://No_Such/x", "not an S3 bucket name"),
    ):
        r = c.slurm("sbatch", option, "--wrap", "true", cwd=workdir)
        assert r.code == 1, r.out + r.err
        assert r.err.startswith("sbatch: error: --stage-") and words in r.err, r.err
    assert c.slurm("squeue", "-h").out == ""


def test_a_credentials_file_that_cannot_be_read_creates_nothing(stratus: Stratus, tmp_path: Path) -> None:
    base = WALKTHROUGH_CONFIG.format(idle=0.05, min_count=0, max_count=1)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(base + S3_BLOCK.format(url="http://127.0.0.1:9", creds=tmp_path / "missing"))
    r = stratus.run("create-cluster", "-n", "nocreds", "-c", str(cfg))
    assert r.code == 1 and "Stratus.S3.CredentialsFile: cannot read" in r.json["message"], r.out
    (tmp_path / "noprofile").write_text("[default]\naws_access_key_id = A\naws_secret_access_key = B\n")
    cfg.write_text(base + S3_BLOCK.format(url="http://127.0.0.1:9", creds=tmp_path / "noprofile"))
    r = stratus.run("create-cluster", "-n", "nocreds", "-c", str(cfg))
    assert r.code == 1 and "has no [lab] profile" in r.json["message"], r.out
    assert not stratus.cluster_dir("nocreds").exists()

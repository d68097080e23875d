"""slurm.conf, gres.conf and burst-mode lines rendered from a cluster's layout."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratus.config import load_cluster_config
from stratus.config.loader import LoadedConfig
from stratus.slurmengine.render import (
    NEVER_SUSPEND_S,
    ConfigSlurmSettings,
    RenderError,
    SlurmSite,
    node_ports,
    render_burst_lines,
    render_gres_conf,
    render_slurm_conf,
    slurm_cluster_name,
)

CONFIG = """\
HeadNode:
  InstanceType: t3.medium
Scheduling:
  Scheduler: slurm
  SlurmSettings:
    ScaledownIdletime: -1
    EnableMemoryBasedScheduling: true
    CustomSlurmSettings:
    - SchedulerParameters: bf_max_job_test=100,bf_policy=conservative
    - MaxArraySize: 5000
    - MinJobAge: 60
    - MaxJobsPerUser: 4
    - PartitionName: all
      Nodes: ALL
      MaxTime: 60
  SlurmQueues:
  - Name: compute
    CustomSlurmSettings:
      MaxTime: 1-00:00:00
      PriorityTier: 10
      MaxJobsPerUser: 2
    ComputeResources:
    - Name: cpu
      InstanceType: c5.xlarge
      MinCount: 2
      MaxCount: 5
    - Name: gpu
      InstanceType: g4dn.xlarge
      MaxCount: 2
  - Name: small
    ComputeResources:
    - Name: micro
      InstanceType: t2.micro
      MaxCount: 3
      DynamicNodePriority: 50
"""

PLAIN = """\
HeadNode:
  InstanceType: t3.medium
Scheduling:
  Scheduler: slurm
  SlurmQueues:
  - Name: q
    ComputeResources:
    - Name: c
      InstanceType: c5.large
      MaxCount: 4
"""


def _site(root: str = "/var/lib/stratus/demo", **changes: object) -> SlurmSite:
    fields: dict[str, object] = {
        "cluster_name": "demo",
        "slurm_cluster_name": "demo",
        "controller_host": "head",
        "state_dir": f"{root}/state",
        "spool_dir": f"{root}/spool",
        "log_dir": f"{root}/log",
        "pid_dir": f"{root}/run",
        "resume_program": "/opt/stratus/bin/slurm-resume",
        "suspend_program": "/opt/stratus/bin/slurm-suspend",
        "munge_socket": f"{root}/munge.socket",
        "slurm_user": "slurm",
    }
    fields.update(changes)
    return SlurmSite(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def loaded() -> LoadedConfig:
    return load_cluster_config(CONFIG)


@pytest.fixture(scope="module")
def conf(loaded: LoadedConfig) -> list[str]:
    settings = ConfigSlurmSettings.from_config(loaded.config)
    return render_slurm_conf(loaded.layout, _site(), settings).splitlines()


def _value(lines: list[str], key: str) -> str:
    found = [line.split("=", 1)[1] for line in lines if line.startswith(f"{key}=")]
    assert len(found) == 1, f"{key}: {found}"
    return found[0]


def _line(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert len(found) == 1, f"{start}: {found}"
    return found[0]


def _assert_slurm_syntax(lines: list[str]) -> None:
    """Every line is a comment or Key=Value words with non-empty values, no Python reprs."""
    for line in lines:
        if not line or line.startswith("#"):
            continue
        for word in line.split(" "):
            key, eq, value = word.partition("=")
            assert eq and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key), line
            assert value and value not in ("None", "True", "False"), line
            assert not any(c in value for c in "'{}()\"") or key == "SlurmctldHost", line


def test_cluster_settings_follow_the_cookbook(conf: list[str]) -> None:
    assert conf[0].startswith("# slurm.conf of stratus cluster demo")
    assert _value(conf, "ClusterName") == "demo"
    assert _value(conf, "SlurmctldHost") == "head(127.0.0.1)"
    assert _value(conf, "SlurmctldPort") == "6817"
    assert _value(conf, "SlurmdPort") == "6818"
    assert _value(conf, "SlurmUser") == "slurm"
    assert _value(conf, "AuthType") == "auth/munge"
    assert _value(conf, "AuthInfo") == "cred_expire=70,socket=/var/lib/stratus/demo/munge.socket"
    assert _value(conf, "StateSaveLocation") == "/var/lib/stratus/demo/state"
    assert _value(conf, "SlurmdSpoolDir") == "/var/lib/stratus/demo/spool/%n"
    assert _value(conf, "SlurmdPidFile") == "/var/lib/stratus/demo/run/slurmd-%n.pid"
    assert _value(conf, "SlurmdLogFile") == "/var/lib/stratus/demo/log/slurmd-%n.log"
    assert _value(conf, "ReconfigFlags") == "KeepPartState"
    assert _value(conf, "SlurmctldParameters") == "idle_on_node_suspend,power_save_min_interval=30"
    assert _value(conf, "TreeWidth") == "65533"
    assert _value(conf, "CommunicationParameters") == "NoAddrCache"
    assert _value(conf, "ResumeProgram") == "/opt/stratus/bin/slurm-resume"
    assert _value(conf, "SuspendProgram") == "/opt/stratus/bin/slurm-suspend"
    assert _value(conf, "ResumeFailProgram") == "/opt/stratus/bin/slurm-suspend"
    for key, value in [
        ("SuspendTimeout", "120"),
        ("ResumeTimeout", "1800"),
        ("ResumeRate", "0"),
        ("SuspendRate", "0"),
        ("PrivateData", "cloud"),
        ("ReturnToService", "1"),
        ("SlurmdTimeout", "180"),
        ("EnforcePartLimits", "ALL"),
        ("SelectType", "select/cons_tres"),
        ("GresTypes", "gpu"),
    ]:
        assert _value(conf, key) == value


def test_memory_based_scheduling_and_never_scaling_down(conf: list[str]) -> None:
    assert _value(conf, "SelectTypeParameters") == "CR_CPU_Memory"
    # ScaledownIdletime -1: finite, so that slurmctld keeps its power-saving module (and resumes).
    assert _value(conf, "SuspendTime") == str(NEVER_SUSPEND_S)


def test_node_lines(conf: list[str]) -> None:
    assert _line(conf, "NodeName=compute-st-cpu-") == (
        "NodeName=compute-st-cpu-[1-2] NodeAddr=127.0.0.1 Port=[6901-6902] CPUs=4 RealMemory=7782 "
        "State=CLOUD Feature=static,c5.xlarge,cpu Weight=1"
    )
    assert _line(conf, "NodeName=compute-dy-cpu-") == (
        "NodeName=compute-dy-cpu-[1-3] NodeAddr=127.0.0.1 Port=[6903-6905] CPUs=4 RealMemory=7782 "
        "State=CLOUD Feature=dynamic,c5.xlarge,cpu Weight=1000"
    )
    # A compute resource named "gpu" names the feature once.
    assert _line(conf, "NodeName=compute-dy-gpu-") == (
        "NodeName=compute-dy-gpu-[1-2] NodeAddr=127.0.0.1 Port=[6906-6907] CPUs=4 RealMemory=15564 "
        "State=CLOUD Feature=dynamic,g4dn.xlarge,gpu Weight=1000 Gres=gpu:t4:1"
    )
    assert _line(conf, "NodeName=small-") == (
        "NodeName=small-dy-micro-[1-3] NodeAddr=127.0.0.1 Port=[6908-6910] CPUs=1 RealMemory=972 "
        "State=CLOUD Feature=dynamic,t2.micro,micro Weight=50"
    )
    assert _value(conf, "SuspendExcNodes") == "compute-st-cpu-[1-2]"


def test_node_sets_and_partitions(conf: list[str]) -> None:
    assert _line(conf, "NodeSet=compute_nodes") == (
        "NodeSet=compute_nodes Nodes=compute-st-cpu-[1-2],compute-dy-cpu-[1-3],compute-dy-gpu-[1-2]"
    )
    assert _line(conf, "NodeSet=small_nodes") == "NodeSet=small_nodes Nodes=small-dy-micro-[1-3]"
    # The queue's CustomSlurmSettings replace the defaults in place or follow them.
    assert _line(conf, "PartitionName=compute") == (
        "PartitionName=compute Nodes=compute_nodes MaxTime=1-00:00:00 State=UP Default=YES PriorityTier=10"
    )
    assert _line(conf, "PartitionName=small") == (
        "PartitionName=small Nodes=small_nodes MaxTime=INFINITE State=UP"
    )
    # The partitions come after their nodes and node sets.
    assert conf.index(_line(conf, "NodeSet=compute_nodes")) < conf.index(_line(conf, "PartitionName=compute"))


def test_custom_slurm_settings_come_last_and_win(conf: list[str]) -> None:
    custom = conf.index("# CUSTOM SLURM SETTINGS (the cluster's CustomSlurmSettings)")
    assert _value(conf, "MinJobAge") == "60"  # the cookbook's 300 is left out
    assert conf.index("MinJobAge=60") > custom
    assert conf.index("MaxArraySize=5000") > custom
    # The stratus-only option is taken out of SchedulerParameters, the rest kept.
    assert _value(conf, "SchedulerParameters") == "bf_max_job_test=100"
    assert _line(conf, "PartitionName=all") == "PartitionName=all Nodes=ALL MaxTime=60"
    assert conf[-1] == "PartitionName=all Nodes=ALL MaxTime=60"


def test_stratus_only_settings_reach_slurm_only_as_comments(conf: list[str]) -> None:
    settings = [line for line in conf if not line.startswith("#")]
    assert not any("MaxJobsPerUser" in line or "bf_policy" in line for line in settings)
    assert "# stratus-only, not passed to Slurm (queue compute): MaxJobsPerUser=2" in conf
    assert (
        "# stratus-only, not passed to Slurm (cluster): SchedulerParameters=bf_policy=conservative "
        "MaxJobsPerUser=4" in conf
    )


def test_output_is_slurm_key_value_lines(loaded: LoadedConfig, conf: list[str]) -> None:
    _assert_slurm_syntax(conf)
    _assert_slurm_syntax(render_gres_conf(loaded.layout, _site()).splitlines())
    _assert_slurm_syntax(render_burst_lines(loaded.layout, _site()).splitlines())
    keys = [line.split("=", 1)[0] for line in conf if line and not line.startswith(("#", "NodeName", "Node"))]
    keys = [k for k in keys if k != "PartitionName"]
    assert len(keys) == len({k.lower() for k in keys}), "a key is set twice"


def test_gres_conf_lists_only_nodes_with_gpus(loaded: LoadedConfig) -> None:
    lines = render_gres_conf(loaded.layout, _site()).splitlines()
    assert lines[0].startswith("#")
    assert lines[1:] == ["NodeName=compute-dy-gpu-[1-2] Name=gpu Type=t4 File=/dev/nvidia0"]
    counted = render_gres_conf(loaded.layout, _site(gpu_device_files=False)).splitlines()
    assert counted[1:] == ["NodeName=compute-dy-gpu-[1-2] Name=gpu Type=t4 Count=1"]
    plain = load_cluster_config(PLAIN)
    assert render_gres_conf(plain.layout, _site()).splitlines()[1:] == []


def test_defaults_without_custom_settings() -> None:
    plain = load_cluster_config(PLAIN)
    lines = render_slurm_conf(plain.layout, _site(cloud_dns=True)).splitlines()
    assert _value(lines, "SuspendTime") == "600"  # ScaledownIdletime 10 minutes
    assert _value(lines, "SelectTypeParameters") == "CR_CPU"
    assert _value(lines, "MinJobAge") == "300"
    assert _value(lines, "SlurmctldParameters") == "idle_on_node_suspend,power_save_min_interval=30,cloud_dns"
    assert not any(line.startswith(("TreeWidth=", "SuspendExcNodes=")) for line in lines)
    assert (
        _line(lines, "PartitionName=q")
        == "PartitionName=q Nodes=q_nodes MaxTime=INFINITE State=UP Default=YES"
    )
    assert not any("CUSTOM SLURM SETTINGS" in line for line in lines)


def test_burst_lines(loaded: LoadedConfig) -> None:
    settings = ConfigSlurmSettings.from_config(loaded.config)
    lines = render_burst_lines(loaded.layout, _site(), settings).splitlines()
    assert lines[0] == "# BEGIN stratus cluster demo: nodes and partitions compute, small."
    assert any("Removing the lines down to END undoes it" in line for line in lines[:6])
    assert lines[-1] == "# END stratus cluster demo"
    assert _value(lines, "ResumeProgram") == "/opt/stratus/bin/slurm-resume"
    assert _value(lines, "SuspendProgram") == "/opt/stratus/bin/slurm-suspend"
    # The site's own settings stay the site's: no cluster-wide keys besides power saving.
    for key in ("ClusterName", "SlurmctldHost", "SuspendTime", "SelectType", "SchedulerParameters"):
        assert not any(line.startswith(f"{key}=") for line in lines)
    # The timers go on the partitions, which are not the site's default.
    assert _line(lines, "PartitionName=compute") == (
        "PartitionName=compute Nodes=compute_nodes MaxTime=1-00:00:00 State=UP "
        f"SuspendTime={NEVER_SUSPEND_S} SuspendTimeout=120 ResumeTimeout=1800 PriorityTier=10"
    )
    assert _line(lines, "NodeName=compute-st-cpu-").startswith(
        "NodeName=compute-st-cpu-[1-2] NodeAddr=127.0.0.1"
    )
    assert "# Static nodes are never powered down: add them to SuspendExcNodes: compute-st-cpu-[1-2]" in lines
    assert not any(line.startswith("PartitionName=all") for line in lines)


def test_node_ports_are_one_per_local_node(loaded: LoadedConfig) -> None:
    ports = node_ports(loaded.layout, _site(slurmd_port_base=7000))
    assert ports["compute-st-cpu-1"] == 7000 and ports["small-dy-micro-3"] == 7009
    assert len(set(ports.values())) == len(ports) == 10
    with pytest.raises(RenderError, match="overlap"):
        node_ports(loaded.layout, _site(slurmd_port_base=6810))


def test_bad_site_and_values_are_refused(loaded: LoadedConfig) -> None:
    with pytest.raises(RenderError, match="ClusterName"):
        _site(slurm_cluster_name="Demo Cluster")
    with pytest.raises(RenderError, match="state_dir"):
        _site(state_dir="/a dir")
    assert slurm_cluster_name("My.Cluster") == "my_cluster"
    bad = ConfigSlurmSettings(cluster=(("SchedulerParameters", None),))
    with pytest.raises(RenderError, match="SchedulerParameters"):
        render_slurm_conf(loaded.layout, _site(), bad)
    booleans = ConfigSlurmSettings(queues=(("small", (("Hidden", True), ("Comment", "two words"))),))
    line = _line(render_slurm_conf(loaded.layout, _site(), booleans).splitlines(), "PartitionName=small")
    assert line.endswith('Hidden=YES Comment="two words"')


# -- real Slurm ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # A short path: munged's socket path must fit a sockaddr_un.
    path = Path(tempfile.mkdtemp(prefix="srt"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(
    shutil.which("slurmctld") is None or shutil.which("munged") is None or shutil.which("scontrol") is None,
    reason="real Slurm (slurmctld, scontrol, munged) is not installed",
)
@pytest.mark.timeout(90)
def test_real_slurmctld_accepts_the_file(loaded: LoadedConfig, short_dir: Path) -> None:
    """slurmctld 22.05 starts on the rendered file, answers, and reads nodes, ports, partitions and
    power saving as written (it has no config-test flag, so it is started and stopped by pid)."""
    d = short_dir
    for sub in ("state", "spool", "log", "run"):
        (d / sub).mkdir()
    (d / "munge.key").write_bytes(os.urandom(1024))
    (d / "munge.key").chmod(0o600)
    port = _free_port()
    base = _free_port() + 100 if port < 60000 else 20000
    site = _site(
        str(d),
        controller_host="localhost",
        controller_port=port,
        slurmd_port=_free_port(),
        slurmd_port_base=base,
        slurm_user=pwd.getpwuid(os.getuid()).pw_name,
        resume_program="/bin/true",
        suspend_program="/bin/true",
        munge_socket=str(d / "munge.sock"),
    )
    settings = ConfigSlurmSettings.from_config(loaded.config)
    conf = render_slurm_conf(loaded.layout, site, settings).replace(
        "SlurmctldDebug=info", "SlurmctldDebug=debug"
    )
    (d / "slurm.conf").write_text(conf)
    (d / "gres.conf").write_text(render_gres_conf(loaded.layout, site))
    env = {**os.environ, "SLURM_CONF": str(d / "slurm.conf")}
    munged = subprocess.Popen(
        [
            "munged",
            "-F",
            "-f",
            f"--socket={d / 'munge.sock'}",
            f"--key-file={d / 'munge.key'}",
            f"--log-file={d / 'log' / 'munged.log'}",
            f"--pid-file={d / 'run' / 'munged.pid'}",
            f"--seed-file={d / 'munged.seed'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ctld: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 10
        while not (d / "munge.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (d / "munge.sock").exists(), "munged did not start"
        with open(d / "log" / "ctld.out", "wb") as out:
            ctld = subprocess.Popen(
                ["slurmctld", "-D", "-f", str(d / "slurm.conf")],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        up = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ctld.poll() is None:
            ping = subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=15)
            if "is UP" in ping.stdout:
                up = True
                break
            time.sleep(0.5)
        log = (d / "log" / "ctld.out").read_text(errors="replace")
        assert up, f"slurmctld did not come up:\n{log[-3000:]}"

        def show(*args: str) -> str:
            return subprocess.run(
                ["scontrol", "show", *args], env=env, capture_output=True, text=True, timeout=15, check=True
            ).stdout

        node = show("node", "compute-dy-gpu-2")
        assert f"Port={base + 6}" in node and "NodeAddr=127.0.0.1" in node
        assert "Gres=gpu:t4:1" in node and "CLOUD" in node and "Weight=1000" in node
        assert "AvailableFeatures=dynamic,g4dn.xlarge,gpu" in node
        partition = show("partition", "compute")
        assert (
            "Default=YES" in partition
            and "MaxTime=1-00:00:00" in partition
            and "PriorityTier=10" in partition
        )
        assert "Nodes=compute-dy-cpu-[1-3],compute-dy-gpu-[1-2],compute-st-cpu-[1-2]" in partition
        assert "PartitionName=all" in show("partition", "all")
        config = show("config")
        assert re.search(r"SuspendExcNodes\s+= compute-st-cpu-\[1-2\]", config)
        assert re.search(r"SelectTypeParameters\s+= CR_CPU_MEMORY", config, re.I)
        assert re.search(r"MaxArraySize\s+= 5000", config)
        assert "power_save module disabled" not in log
        assert "fatal" not in log.lower()
    finally:
        if ctld is not None:
            _stop(ctld)
        _stop(munged)

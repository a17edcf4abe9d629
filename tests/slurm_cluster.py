"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd started as
daemons from a configuration in a temporary folder, sized to this machine, and stopped afterwards.

Needs Debian's ``slurm-wlm`` and ``munge`` packages (``.ci/run`` installs them) and root. Without
them the tests that use it are skipped, except under CI (``CI=true``), where they fail.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol")


def _find(program: str) -> Optional[str]:
    return shutil.which(program) or next(
        (str(Path(d) / program) for d in ("/usr/sbin", "/usr/bin") if (Path(d) / program).exists()), None)


def missing_reason() -> Optional[str]:
    """Why a cluster cannot be started here (None if it can)."""
    missing = [p for p in DAEMONS + CLIENTS if _find(p) is None]
    if missing:
        return f"SLURM/munge programs not installed ({', '.join(missing)}; apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "the test SLURM cluster runs its daemons as root"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie left for another parent to reap counts)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


class SlurmCluster:
    """Start with :meth:`start`, stop with :meth:`stop`; :attr:`env` is what clients need."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="nasflat-slurm-"))
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.socket = self.root / "munge" / "munge.socket"
        self.env: Dict[str, str] = {**os.environ, "SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        """munge key and slurm.conf for one node with this machine's CPUs and memory."""
        for name in ("munge", "state", "spool", "log"):
            (self.root / name).mkdir(mode=0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        r = self.root
        self.conf.write_text("\n".join([
            "ClusterName=nasflat-test", "SlurmctldHost=localhost", "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.socket}",
            "MpiDefault=none", "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
            f"StateSaveLocation={r}/state", f"SlurmdSpoolDir={r}/spool",
            f"SlurmctldPidFile={r}/slurmctld.pid", f"SlurmdPidFile={r}/slurmd.pid",
            f"SlurmctldLogFile={r}/log/slurmctld.log", f"SlurmdLogFile={r}/log/slurmd.log",
            f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
            "ReturnToService=2", "SchedulerParameters=sched_interval=1", "MaxArraySize=1000",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} "
            f"RealMemory={max(1024, _memory_mb() - 1024)} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP", "",
        ]))

    def start(self, timeout_s: float = 60) -> None:
        """Start the daemons and wait until the node is idle; raises RuntimeError if it is not."""
        self.write_config()
        m = self.root / "munge"
        self._run([_find("munged"), "--force", f"--socket={self.socket}", f"--key-file={m}/munge.key",
                   f"--log-file={m}/munged.log", f"--pid-file={m}/munged.pid", f"--seed-file={m}/seed"])
        self._run([_find("slurmctld"), "-f", str(self.conf)])
        self._run([_find("slurmd"), "-f", str(self.conf)])
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            shown = subprocess.run([_find("sinfo"), "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if shown.returncode == 0 and shown.stdout.strip() == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node did not become idle within {timeout_s:.0f} s; logs in {self.root}/log")

    def _run(self, argv) -> None:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} did not start: {' '.join(done.stderr.split())}")

    def _pid(self, path: Path) -> Optional[int]:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop the daemons started by :meth:`start` (by their pid files) and remove the folder."""
        subprocess.run([_find("scontrol"), "shutdown"], env=self.env, capture_output=True, timeout=30)
        pids = [self._pid(self.root / "slurmd.pid"), self._pid(self.root / "slurmctld.pid"),
                self._pid(self.root / "munge" / "munged.pid")]
        for pid in pids:
            if pid is None:
                continue
            deadline = time.time() + 10
            while time.time() < deadline and not _gone(pid):
                try:
                    os.kill(pid, signal.SIGTERM if time.time() + 5 < deadline else signal.SIGKILL)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
        shutil.rmtree(self.root, ignore_errors=True)

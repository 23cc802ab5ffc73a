"""A one-machine Slurm cluster for the tests: munged, slurmctld and slurmd on localhost, each with its own
key, socket, ports, state and logs in a temporary folder (nothing under /etc or /run is used or changed).

Debian's slurm-wlm and munge are installed by `make cluster-deps` (part of `make test`). `SlurmCluster.start`
raises `Unavailable` with the reason (and the daemons' log tails) when the binaries are missing or the
daemons cannot start here; the test turns that into a skip that says so.
"""
import os
import shutil
import socket
import subprocess
import time

BINARIES = ["munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scontrol"]


def alive(pid):
    """Whether `pid` runs (a zombie left for an init that does not reap counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Unavailable(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    def __init__(self, root):
        self.root = str(root)
        self.host = socket.gethostname().split(".")[0]
        self.conf = os.path.join(self.root, "slurm.conf")
        self.pids = []  # pid files of the daemons this cluster started
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def start(self, timeout=60):
        missing = [b for b in BINARIES if shutil.which(b) is None]
        if missing:
            raise Unavailable(f"{', '.join(missing)} not installed (make cluster-deps installs slurm-wlm and munge)")
        for d in ("munge", "state", "spool", "log"):
            os.makedirs(self.path(d), mode=0o700, exist_ok=True)
        os.chmod(self.root, 0o711)  # munged wants its socket's folders searchable by everyone
        key = self.path("munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        sock = self.path("munge", "munge.sock")
        self._daemon(["munged", "--force", f"--key-file={key}", f"--socket={sock}",
                      f"--pid-file={self.path('munge', 'munged.pid')}", f"--log-file={self.path('log', 'munged.log')}",
                      f"--seed-file={self.path('munge', 'munged.seed')}"], self.path("munge", "munged.pid"))
        cpus = max(4, os.cpu_count() or 1)
        with open(self.conf, "w") as f:
            f.write(f"""ClusterName=ckpttest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={self.path('state')}
SlurmdSpoolDir={self.path('spool')}
SlurmctldPidFile={self.path('slurmctld.pid')}
SlurmdPidFile={self.path('slurmd.pid')}
SlurmctldLogFile={self.path('log', 'slurmctld.log')}
SlurmdLogFile={self.path('log', 'slurmd.log')}
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# The node's CPU count as configured, not as probed: four array tasks may share a smaller machine.
SlurmdParameters=config_overrides
ReturnToService=2
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
""")
        self._daemon(["slurmctld", "-f", self.conf, "-i"], self.path("slurmctld.pid"))
        self._daemon(["slurmd", "-f", self.conf, "-N", self.host], self.path("slurmd.pid"))
        deadline = time.time() + timeout
        while time.time() < deadline:
            p = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if p.returncode == 0 and p.stdout.strip() in ("idle", "mixed", "allocated"):
                return self
            time.sleep(0.5)
        raise Unavailable(f"the node did not come up within {timeout} s (sinfo: {p.stdout.strip() or p.stderr.strip()})\n" + self.logs())

    def _daemon(self, argv, pid_file):
        p = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise Unavailable(f"{argv[0]} did not start (exit {p.returncode}): {p.stderr.strip()}\n" + self.logs())
        self.pids.append(pid_file)
        deadline = time.time() + 20
        while not os.path.isfile(pid_file) and time.time() < deadline:
            time.sleep(0.1)

    def logs(self, lines=15):
        out = []
        for name in sorted(os.listdir(self.path("log"))) if os.path.isdir(self.path("log")) else []:
            with open(self.path("log", name), errors="replace") as f:
                out.append(f"--- {name}\n" + "".join(f.readlines()[-lines:]))
        return "\n".join(out)

    def sbatch(self, *args, wait=False, timeout=300):
        """Submits a job; returns its id (and, with wait, the job's exit status)."""
        argv = ["sbatch", "--parsable", *(["--wait"] if wait else []), *args]
        p = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)
        if not wait and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed: {p.stderr}\n" + self.logs())
        job = p.stdout.strip().split(";")[0]
        return (job, p.returncode) if wait else job

    def stop(self):
        """Stops the daemons this cluster started, by the pids they wrote (slurmd, slurmctld, then munged)."""
        for pid_file in reversed(self.pids):
            try:
                pid = int(open(pid_file).read().strip())
                os.kill(pid, 15)
                for _ in range(50):
                    if not alive(pid):
                        break
                    time.sleep(0.1)
                else:
                    os.kill(pid, 9)
            except (OSError, ValueError):
                pass
        self.pids = []

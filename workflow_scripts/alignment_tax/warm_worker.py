"""Run rule scripts in a forked child of a warm, pre-imported Python process.

Why this exists: a toy-world evaluation job spends ~5 s importing torch, transformers and
lm-eval and only 1-3 s evaluating (benchmarks/bench_eval_job.py), and the toy DAG has
hundreds of them; a toy training job spends ~5.5 s of its 15-100 s importing TRL, PEFT and
datasets, and a figure ~1 s of its 2 s importing matplotlib and pandas. Snakemake starts
a new interpreter for every ``script:`` job, and neither Snakemake nor Python offers a
process shared between jobs (``multiprocessing``'s forkserver belongs to one parent
process). So a rule script that calls ``hand_off`` at its top sends itself to a small
local server that imported the stack once; the server forks a child per job, and the
child runs the very same script file (Snakemake's temporary copy, preamble included) with
the job's environment, working directory and stdin/stdout/stderr (passed over the socket
as file descriptors). The child's exit status becomes the job's.
Results are the same as in a fresh interpreter: the script seeds and sets its threads
itself, and the parent never runs torch code (no threads, no CUDA before the fork).

When it is used: on Linux, outside a SLURM allocation (``SLURM_JOB_ID`` unset), with no
GPU visible, unless ``ALIGNMENT_TAX_WARM_WORKER=0``. ``ALIGNMENT_TAX_WARM_WORKER=1`` forces
it on (macOS included), but never where a GPU is visible: CUDA does not survive a fork, and
on a GPU machine the imports are seconds against minutes of GPU work. For the same reason
the server refuses a job (which then runs in its own interpreter) if CUDA was ever
initialised in it.

Lifetime: the server stops when every Snakemake run it served has ended (the client names
its Snakemake process), or after ``IDLE_SECONDS`` without a job. A child cannot join the
job's process group (the server lives in a session of its own, and a process group cannot
span sessions); instead each child watches its client's socket and exits as soon as the
job's process is gone, so killing the job (or Snakemake) stops the work done for it.

Safety: the socket lives in a per-user directory with mode 0700 (checked), and the server
serves only peers of its own uid (SO_PEERCRED). A server is keyed by the interpreter, the
versions of the preloaded libraries and the size and mtime of every file of this package,
and the environment variables that these libraries read when they are imported (threads,
caches, CUDA, Hugging Face, matplotlib), so editing the code or such a variable starts a
fresh server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path

ENV_SWITCH = "ALIGNMENT_TAX_WARM_WORKER"
ENV_IN_CHILD = "ALIGNMENT_TAX_IN_WARM_WORKER"
IDLE_SECONDS = 60.0
START_TIMEOUT_SECONDS = 180.0
# What the server imports once: the stack of the scripts that call hand_off (evaluation,
# merging fits, training, figures) and what Snakemake's script preamble unpickles.
PRELOAD = (
    "snakemake.iocontainers",
    "snakemake.logging",
    "torch",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "lm_eval.evaluator",
    "lm_eval.models.huggingface",
    "pandas",
    "datasets",
    "peft",
    # trl resolves its trainers lazily: name the modules the training stages use
    "trl.trainer.sft_trainer",
    "trl.trainer.dpo_trainer",
    "trl.trainer.reward_trainer",
    "trl.experimental.ppo.ppo_trainer",
    "alignment_tax.benchmarks",
    "alignment_tax.eval_models",
    "alignment_tax.recipes",
    "alignment_tax.reward_eval",
    "alignment_tax.hma",
    "alignment_tax.adamerging",
    "alignment_tax.training_common",
    "alignment_tax.figures",  # sets matplotlib's Agg backend before pyplot
)
_PACKAGE_DIR = Path(__file__).resolve().parent
_LIBRARY_DISTRIBUTIONS = (
    "torch", "transformers", "lm_eval", "pandas", "safetensors", "trl", "peft", "datasets",
    "accelerate", "matplotlib", "snakemake",
)
_MAX_MESSAGE = 1 << 20
# Environment variables read at import by the preloaded libraries (torch, transformers,
# datasets, lm-eval, matplotlib, OpenMP/MKL): a server imported under other values would
# run a job differently from a fresh interpreter, so they are part of its key.
_IMPORT_ENV_PREFIXES = (
    "OMP_", "MKL_", "KMP_", "OPENBLAS_", "TORCH", "PYTORCH_", "CUDA_", "NCCL_", "HF_",
    "HUGGINGFACE_", "TRANSFORMERS_", "TOKENIZERS_", "DATASETS_", "ACCELERATE_", "MPL",
    "PYTHONHASHSEED", "LD_PRELOAD", "LD_LIBRARY_PATH", "XDG_CACHE_HOME",
)
_RUN_CHECK_SECONDS = 2.0


def gpu_visible(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process could see a GPU (NVIDIA or ROCm device files, not hidden by
    CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES), without importing torch."""
    env = os.environ if environ is None else environ
    hidden = {"", "-1", "none", "nodevfiles"}
    nvidia = any(Path("/dev").glob("nvidia[0-9]*")) and (
        env.get("CUDA_VISIBLE_DEVICES", "0").strip().lower() not in hidden)
    rocm = Path("/dev/kfd").exists() and (
        env.get("HIP_VISIBLE_DEVICES", env.get("ROCR_VISIBLE_DEVICES", "0")).strip().lower()
        not in hidden)
    return nvidia or rocm


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``hand_off`` sends jobs to a warm worker here (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_IN_CHILD) == "1":
        return False
    switch = env.get(ENV_SWITCH, "").strip().lower()
    if switch in {"0", "false", "no", "off"} or gpu_visible(env):
        return False
    if switch in {"1", "true", "yes", "on"}:
        return hasattr(os, "fork") and hasattr(socket, "AF_UNIX")
    return sys.platform.startswith("linux") and "SLURM_JOB_ID" not in env


def server_key(environ: Mapping[str, str] | None = None) -> str:
    """Identity of a server: interpreter, library versions, this package's files and the
    environment variables read at import (_IMPORT_ENV_PREFIXES)."""
    from importlib import metadata

    env = os.environ if environ is None else environ
    parts = [sys.executable, sys.version]
    parts += sorted(f"{k}={v}" for k, v in env.items() if k.startswith(_IMPORT_ENV_PREFIXES))
    for dist in _LIBRARY_DISTRIBUTIONS:
        try:
            parts.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}==absent")
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        stat = path.stat()
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def socket_dir() -> Path:
    """Private per-user directory for the sockets; refuses one others could enter."""
    path = Path(tempfile.gettempdir()) / f"alignment_tax-warm-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    stat = path.stat()
    if stat.st_uid != os.getuid() or stat.st_mode & 0o077:
        raise PermissionError(f"{path} must be owned by uid {os.getuid()} with mode 0700")
    return path


# ----------------------------------------------------------------------------- messages
def _send_message(conn: socket.socket, payload: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(payload).encode()
    header = struct.pack("!I", len(data))
    if fds:
        socket.send_fds(conn, [header + data], fds)
    else:
        conn.sendall(header + data)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    chunks = b""
    while len(chunks) < n:
        chunk = conn.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("warm worker connection closed mid-message")
        chunks += chunk
    return chunks


def _recv_message(conn: socket.socket, max_fds: int = 0) -> tuple[dict, list[int]]:
    fds: list[int] = []
    if max_fds:
        msg, fds, _flags, _addr = socket.recv_fds(conn, 4, max_fds)
        if not msg:
            raise ConnectionError("warm worker connection closed before a message")
        header = msg + _recv_exact(conn, 4 - len(msg))
    else:
        header = _recv_exact(conn, 4)
    (length,) = struct.unpack("!I", header)
    if length > _MAX_MESSAGE:
        raise ValueError(f"warm worker message of {length} bytes is too long")
    return json.loads(_recv_exact(conn, length)), fds


# ----------------------------------------------------------------------------- client
def _connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    return conn


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_server(sock_path: Path) -> None:
    log_path = sock_path.with_suffix(".log")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(_PACKAGE_DIR.parent), env.get("PYTHONPATH", "")])
    env.pop(ENV_IN_CHILD, None)
    with open(log_path, "a") as log:
        subprocess.Popen(
            [sys.executable, "-m", "alignment_tax.warm_worker", str(sock_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd="/",
            env=env,
            start_new_session=True,  # outlives this job; exits on its own when idle
        )


def connect_or_start(sock_path: Path | None = None) -> socket.socket:
    """A connection to the warm worker for this code, starting one if none is running."""
    sock_path = sock_path or socket_dir() / f"{server_key()}.sock"
    conn = _connect(sock_path)
    if conn is not None:
        return conn
    with _locked(sock_path.with_suffix(".lock")):
        conn = _connect(sock_path)
        if conn is None:
            _start_server(sock_path)
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while conn is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"warm worker did not start within {START_TIMEOUT_SECONDS:.0f} s; "
                        f"see {sock_path.with_suffix('.log')} (or set {ENV_SWITCH}=0)"
                    )
                time.sleep(0.1)
                conn = _connect(sock_path)
    return conn


def is_snakemake(cmdline: bytes) -> bool:
    """Whether a /proc/<pid>/cmdline is Snakemake's main process (``snakemake ...``,
    ``python .../bin/snakemake ...`` or ``python -m snakemake ...``), not a job's shell
    that merely mentions ``.snakemake/scripts``."""
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0")[:3]]
    return any(Path(a).name == "snakemake" for a in args[:2]) or args[1:3] == ["-m", "snakemake"]


def snakemake_pid() -> int | None:
    """The Snakemake run this job belongs to: the nearest ancestor that is Snakemake's
    main process (Linux /proc), or None."""
    pid = os.getppid()
    while pid > 1:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        if is_snakemake(cmdline):
            return pid
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4: the parent's pid
    return None


def run_script(script_path: str | Path, *, sock_path: Path | None = None) -> int | None:
    """Run ``script_path`` in a child of the warm worker; return its exit status, or None
    when the server refused the job (the caller then runs it itself)."""
    request = {
        "script": str(Path(script_path).resolve()),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "argv": list(sys.argv),
        "run_pid": snakemake_pid(),
    }
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    for attempt in range(2):
        conn = connect_or_start(sock_path)
        with conn:
            try:
                _send_message(conn, request, fds=[0, 1, 2])
                ack, _ = _recv_message(conn)
            except (ConnectionError, OSError):
                # a server that went idle just as we connected: nothing ran; start afresh
                if attempt == 0:
                    continue
                raise
            if not ack.get("started"):
                print(f"warm worker refused the job ({ack.get('reason')}): running it here",
                      file=sys.stderr, flush=True)
                return None
            try:
                reply, _ = _recv_message(conn)
            except ConnectionError as err:
                raise RuntimeError("the warm worker's child died before finishing the job") from err
        return int(reply["returncode"])
    raise AssertionError("unreachable")


def hand_off(script_globals: Mapping) -> None:
    """Call at the top of a rule script: when enabled, run this script in the warm worker
    and exit with its status; otherwise (or inside the worker's child) return at once."""
    if not enabled():
        return
    # Snakemake runs a temporary copy of the script (preamble included) and points
    # __file__ at the original; __real_file__ is the copy that recreates `snakemake`.
    script = script_globals.get("__real_file__") or script_globals.get("__file__")
    if not script:
        return
    returncode = run_script(script)
    if returncode is not None:
        sys.exit(returncode)


# ----------------------------------------------------------------------------- server
def _child(conn: socket.socket, listener: socket.socket, request: dict, fds: list[int]
           ) -> None:
    """In the forked child: adopt the client's world, run its script, report the status."""
    import runpy
    import signal
    import threading

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the job's own subprocesses are waited on
    listener.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[ENV_IN_CHILD] = "1"
    os.chdir(request["cwd"])
    sys.argv = list(request["argv"])
    _send_message(conn, {"started": True})

    def exit_if_client_dies() -> None:
        # the client sends nothing more; EOF means the job was killed: stop working for it
        with contextlib.suppress(OSError):
            conn.recv(1)
        os._exit(1)

    threading.Thread(target=exit_if_client_dies, daemon=True).start()
    returncode = 0
    try:
        runpy.run_path(request["script"], run_name="__main__")
    except SystemExit as stop:
        code = stop.code
        returncode = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - report every failure as the job's own
        traceback.print_exc()
        returncode = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        _send_message(conn, {"returncode": returncode})
    os._exit(0)


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _cuda_initialised() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(sock_path: Path, idle_seconds: float = IDLE_SECONDS) -> None:
    """Import the stack, then fork one child per connection until every Snakemake run it
    served has ended, or it was idle for ``idle_seconds``."""
    import importlib
    import signal

    os.environ["TOKENIZERS_PARALLELISM"] = os.environ.get("TOKENIZERS_PARALLELISM", "false")
    for module in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    os.chmod(sock_path, 0o600)
    own_inode = sock_path.stat().st_ino
    pid_path = sock_path.with_suffix(".pid")
    pid_path.write_text(str(os.getpid()))
    listener.listen(16)
    listener.settimeout(min(idle_seconds, _RUN_CHECK_SECONDS))
    print(f"warm worker {os.getpid()} serving {sock_path}", flush=True)
    runs: set[int] = set()  # the Snakemake processes whose jobs it ran
    last_job = time.monotonic()
    reason = f"idle for {idle_seconds:.0f} s"
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if runs and not any(_alive(pid) for pid in runs):
                    reason = "the Snakemake runs it served have ended"
                    break
                if time.monotonic() - last_job > idle_seconds:
                    break
                continue
            last_job = time.monotonic()
            fds: list[int] = []
            try:
                if sys.platform.startswith("linux") and _peer_uid(conn) != os.getuid():
                    continue
                conn.settimeout(10.0)  # the request follows the connection at once
                request, fds = _recv_message(conn, max_fds=3)
                conn.settimeout(None)
                if len(fds) != 3:
                    continue
                if request.get("run_pid"):
                    runs.add(int(request["run_pid"]))
                if _cuda_initialised():  # a forked child could not use CUDA
                    _send_message(conn, {"started": False,
                                         "reason": "CUDA is initialised in the server"})
                    continue
                if os.fork() == 0:
                    try:
                        _child(conn, listener, request, fds)
                    finally:
                        os._exit(1)
            except (OSError, ConnectionError, ValueError) as err:
                print(f"warm worker: a bad request ({err})", flush=True)
            finally:
                for fd in fds:
                    os.close(fd)
                conn.close()
    finally:
        listener.close()
        # a successor may already be bound to the same path: remove only our own socket
        with contextlib.suppress(FileNotFoundError):
            if sock_path.stat().st_ino == own_inode:
                sock_path.unlink()
                pid_path.unlink()
        print(f"warm worker {os.getpid()} exiting: {reason}", flush=True)


def stop_all() -> list[int]:
    """Stop this user's idle-waiting servers now (they would exit after IDLE_SECONDS);
    return their pids. A job still running in a child is not affected."""
    import signal

    stopped = []
    for pid_path in socket_dir().glob("*.pid"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_path.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if sys.platform.startswith(
                "linux") else b"alignment_tax.warm_worker"
            if b"alignment_tax.warm_worker" in cmdline:
                os.kill(pid, signal.SIGTERM)
                stopped.append(pid)
        for path in (pid_path, pid_path.with_suffix(".sock")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return stopped


if __name__ == "__main__":
    if sys.argv[1:] == ["--stop"]:
        print("stopped warm workers:", stop_all() or "none")
    else:
        serve(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else IDLE_SECONDS)

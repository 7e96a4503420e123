"""The warm worker runs a rule script in a forked child with the client's world and status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from alignment_tax import warm_worker

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the warm worker is on by default on Linux only"
)


def test_enabled_follows_platform_slurm_and_switch():
    on_linux = sys.platform.startswith("linux")
    assert warm_worker.enabled({}) is on_linux
    assert warm_worker.enabled({"SLURM_JOB_ID": "7"}) is False  # cluster jobs stay cold
    assert warm_worker.enabled({warm_worker.ENV_SWITCH: "0"}) is False
    assert warm_worker.enabled({warm_worker.ENV_SWITCH: "1", "SLURM_JOB_ID": "7"}) is True
    assert warm_worker.enabled({warm_worker.ENV_IN_CHILD: "1"}) is False  # no recursion


def test_server_key_changes_with_package_files(tmp_path, monkeypatch):
    (tmp_path / "mod.py").write_text("x = 1\n")
    monkeypatch.setattr(warm_worker, "_PACKAGE_DIR", tmp_path)
    before = warm_worker.server_key()
    assert warm_worker.server_key() == before
    (tmp_path / "mod.py").write_text("x = 22\n")
    assert warm_worker.server_key() != before


def _client(script: Path, sock: Path, cwd: Path, **env) -> subprocess.Popen:
    """A separate client process, as Snakemake's script job would be."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / "workflow_scripts")!r})
        from pathlib import Path
        from alignment_tax.warm_worker import run_script
        sys.exit(run_script({str(script)!r}, sock_path=Path({str(sock)!r})))
    """)
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def sock(tmp_path_factory):
    # a short path of its own (AF_UNIX paths are limited to ~100 characters)
    path = warm_worker.socket_dir() / f"test-{os.getpid()}.sock"
    yield path
    if path.exists():
        path.unlink()


def test_child_runs_script_with_client_world_and_status(tmp_path, sock):
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent("""
            import os, sys
            from pathlib import Path
            Path("out.txt").write_text(
                f"{os.getpid()} {os.getppid()} {os.environ['JOB_VALUE']} {os.getcwd()}"
            )
            print("to stdout")
            print("to stderr", file=sys.stderr)
            sys.exit(int(os.environ["JOB_EXIT"]))
        """)
    )
    seen = []
    for value, code in (("first", 0), ("second", 3)):
        client = _client(script, sock, tmp_path, JOB_VALUE=value, JOB_EXIT=str(code))
        out, err = client.communicate(timeout=180)
        assert client.returncode == code, err
        assert out == "to stdout\n"
        assert err == "to stderr\n"
        pid, parent, got, cwd = (tmp_path / "out.txt").read_text().split()
        assert (got, cwd) == (value, str(tmp_path))
        assert int(pid) != client.pid
        seen.append(parent)
    assert seen[0] == seen[1], "both jobs should be forked from the same warm server"


def test_exception_is_reported_as_failure(tmp_path, sock):
    script = tmp_path / "fail.py"
    script.write_text("raise ValueError('the job failed here')\n")
    client = _client(script, sock, tmp_path)
    _, err = client.communicate(timeout=180)
    assert client.returncode == 1
    assert "ValueError: the job failed here" in err


def test_killed_client_stops_its_child(tmp_path, sock):
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent("""
            import os, time
            from pathlib import Path
            Path("child.pid").write_text(str(os.getpid()))
            time.sleep(60)
            Path("finished").write_text("yes")
        """)
    )
    client = _client(script, sock, tmp_path)
    deadline = time.monotonic() + 180
    while not (tmp_path / "child.pid").exists():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.1)
    child = int((tmp_path / "child.pid").read_text())
    client.send_signal(signal.SIGKILL)
    client.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists():
        assert time.monotonic() < deadline, "the child outlived its killed client"
        time.sleep(0.1)
    assert not (tmp_path / "finished").exists()


def test_never_used_where_a_gpu_is_visible(monkeypatch, tmp_path):
    """CUDA does not survive a fork: with a GPU visible the worker is off, even when forced."""
    monkeypatch.setattr(warm_worker, "gpu_visible", lambda env=None: True)
    assert warm_worker.enabled({}) is False
    assert warm_worker.enabled({warm_worker.ENV_SWITCH: "1"}) is False


def test_gpu_visibility_follows_device_files_and_visible_devices(monkeypatch, tmp_path):
    devices = tmp_path / "dev"
    devices.mkdir()
    real_path = Path

    def fake_path(*parts):
        path = real_path(*parts)
        return devices / path.relative_to("/dev") if str(path).startswith("/dev") else path

    monkeypatch.setattr(warm_worker, "Path", fake_path)
    assert warm_worker.gpu_visible({}) is False
    (devices / "nvidia0").touch()
    assert warm_worker.gpu_visible({}) is True
    assert warm_worker.gpu_visible({"CUDA_VISIBLE_DEVICES": ""}) is False
    assert warm_worker.gpu_visible({"CUDA_VISIBLE_DEVICES": "-1"}) is False
    assert warm_worker.gpu_visible({"CUDA_VISIBLE_DEVICES": "1"}) is True


def test_server_key_follows_the_variables_read_at_import():
    base = {"PATH": "/bin", "HOME": "/root"}
    key = warm_worker.server_key(base)
    assert warm_worker.server_key({**base, "HOME": "/elsewhere"}) == key  # not read at import
    for name, value in (("OMP_NUM_THREADS", "4"), ("HF_HOME", "/data/hf"),
                        ("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True"),
                        ("MPLBACKEND", "pdf"), ("TRANSFORMERS_OFFLINE", "1")):
        assert warm_worker.server_key({**base, name: value}) != key, name


def test_snakemake_main_process_is_told_from_a_jobs_shell():
    assert warm_worker.is_snakemake(b"/x/.venv/bin/python\0/x/.venv/bin/snakemake\0--cores\x002\0")
    assert warm_worker.is_snakemake(b"snakemake\0--profile\0slurm\0")
    assert warm_worker.is_snakemake(b"python3\0-m\0snakemake\0-n\0")
    assert not warm_worker.is_snakemake(
        b"/bin/bash\0-c\0set -euo pipefail; python /x/.snakemake/scripts/tmp1.job.py\0")
    assert not warm_worker.is_snakemake(b"python\0-m\0alignment_tax.warm_worker\0/tmp/k.sock\0")


def test_server_stops_when_the_snakemake_run_it_served_ends(tmp_path):
    """A job names its Snakemake process; the server exits once that process is gone,
    long before its idle timeout."""
    sock = warm_worker.socket_dir() / f"test-run-{os.getpid()}.sock"
    server = subprocess.Popen(
        [sys.executable, "-m", "alignment_tax.warm_worker", str(sock), "600"],
        cwd=REPO / "workflow_scripts", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    assert "serving" in server.stdout.readline()  # imported and listening
    # a stand-in Snakemake process, parent of a job that calls run_script
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "snakemake").write_text("import subprocess, sys\n"
                                        "sys.exit(subprocess.call(sys.argv[1:]))\n")
    script = tmp_path / "job.py"
    script.write_text("print('ran')\n")
    job = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / "workflow_scripts")!r})
        from pathlib import Path
        from alignment_tax.warm_worker import run_script
        sys.exit(run_script({str(script)!r}, sock_path=Path({str(sock)!r})))
    """)
    try:
        run = subprocess.run([sys.executable, str(fake_bin / "snakemake"), sys.executable, "-c",
                              job], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert run.stdout == "ran\n"
        out, _ = server.communicate(timeout=60)  # the run has ended: the server follows
        assert "the Snakemake runs it served have ended" in out
    finally:
        server.kill()
        for suffix in (".sock", ".pid"):
            sock.with_suffix(suffix).unlink(missing_ok=True)


def test_a_refused_job_runs_in_its_own_interpreter(tmp_path):
    """A server that cannot fork safely (CUDA initialised in it) refuses: run_script
    returns None and hand_off lets the script go on in the job's own process."""
    import socket
    import threading

    sock = warm_worker.socket_dir() / f"test-refuse-{os.getpid()}.sock"
    sock.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.listen(1)

    def refuse():
        conn, _ = listener.accept()
        with conn:
            _, fds = warm_worker._recv_message(conn, max_fds=3)
            for fd in fds:
                os.close(fd)
            warm_worker._send_message(conn, {"started": False, "reason": "CUDA"})

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    try:
        assert warm_worker.run_script(tmp_path / "job.py", sock_path=sock) is None
    finally:
        thread.join(timeout=10)
        listener.close()
        sock.unlink(missing_ok=True)

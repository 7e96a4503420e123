"""rule_logging: everything a job writes reaches its log file, not Snakemake's terminal."""

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_rule_logging_catches_early_handlers_and_descriptor_writes(tmp_path):
    # in a subprocess: the test redirects the process's own descriptors
    log = tmp_path / "logs" / "job.log"
    code = textwrap.dedent(f"""
        import logging, os, sys
        from types import SimpleNamespace
        sys.path.insert(0, {str(REPO / "workflow_scripts")!r})
        from alignment_tax.rule_io import rule_logging

        # a library handler made before the job, bound to the stderr of that moment
        early = logging.getLogger("early_library")
        early.addHandler(logging.StreamHandler(sys.stderr))
        early.propagate = False
        job = SimpleNamespace(log=[{str(log)!r}], rule="job")
        with rule_logging(job) as logger:
            print("python stdout")
            logger.info("job logger")
            early.warning("early handler")
            os.write(2, b"descriptor 2\\n")
            os.write(1, b"descriptor 1\\n")
        print("after the job")
        early.warning("early handler after")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    for line in ("python stdout", "job logger", "early handler", "descriptor 2",
                 "descriptor 1"):
        assert line in text, line
    assert "after" not in text
    assert done.stdout == "after the job\n"
    assert done.stderr == "early handler after\n"


def test_rule_logging_without_log_file_leaves_streams_alone():
    from types import SimpleNamespace

    from alignment_tax.rule_io import rule_logging

    before = (sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino)
    with rule_logging(SimpleNamespace(log=[], rule="job")) as logger:
        assert isinstance(logger, logging.Logger)
        assert (sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino) == before

"""The network runner's daemons share its session (so thread niceness decides the CPU share under
autogroup scheduling) but not its process group (so a terminal's Ctrl-C reaches only the runner)."""

from __future__ import annotations

import json
import os
import sys

from services.network_runner import start_daemon_process


def test_a_daemon_runs_in_the_runners_session_and_its_own_process_group(tmp_path):
    report = tmp_path / "ids.json"
    code = ("import json, os, sys; json.dump({'sid': os.getsid(0), 'pgid': os.getpgid(0), 'pid': os.getpid()}, "
            "open(sys.argv[1], 'w'))")
    with open(tmp_path / "out.log", "ab") as out:
        proc = start_daemon_process([sys.executable, "-c", code, str(report)], out)
    assert proc.wait(60) == 0
    ids = json.loads(report.read_text())
    assert ids["sid"] == os.getsid(0), "same session: one autogroup with the other daemons"
    assert ids["pgid"] == ids["pid"] == proc.pid, "own process group: the terminal's signals skip it"
    assert ids["pgid"] != os.getpgid(0)


def test_the_daemon_gets_the_extra_environment(tmp_path):
    with open(tmp_path / "out.log", "ab") as out:
        proc = start_daemon_process([sys.executable, "-c", "import os; print(os.environ['TASTR_PROBE'])"], out,
                                    {"TASTR_PROBE": "yes"})
    assert proc.wait(60) == 0
    assert (tmp_path / "out.log").read_text().strip() == "yes"

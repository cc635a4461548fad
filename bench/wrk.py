"""Throughput ceilings measured with `wrk` (Debian's package), which is faster than the servers it loads.

Requests are pre-signed here (RSA for webhooks, HMAC for Slack) and sent by `bench/wrk.lua`: webhooks
from a file cycled, each given its own delivery id there, and commands from a new file for every run,
each with its own trigger_id. Each run records the server's and wrk's CPU time: a figure
counts only when the server was the one that ran out (it used more CPU than wrk, and most of a core).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import re
import resource
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

HERE = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def webhook_requests(path: str, signer, n: int = 2000) -> str:
    with open(path, "w") as f:
        for i in range(n):
            status = random.choice(["RECORDING", "PAUSED", "UPLOADING"])
            body = ('{"event":"recording.statusUpdate","recording":{"id":"' + str(uuid.uuid4()) + '","status":"'
                    + status + '","meetingId":"wrk-meeting"},"meeting":{"id":"wrk-meeting","sessionId":"s'
                    + str(i) + '"}}')
            f.write(f"{signer.sign(body.encode())}\t{body}\n")
    return path


COMMANDS_PER_SECOND = 8000  # a file of commands holds this many a second of its run: above any server here


def command_requests(folder: str, secret: str, text: str) -> Callable[[int], str]:
    """A maker of files of signed `/rec TEXT` commands, a new file for every run, every command with its own
    trigger_id. The id is in the signed body, so wrk cannot vary it as it varies a webhook's delivery id,
    and recbot acks a repeated trigger_id and drops it (Slack's retries): cycling a few thousand, as the
    bench once did, measured that drop, not the command."""
    verifier, made = SignatureVerifier(secret), itertools.count()

    def make(n: int) -> str:
        path, ts = os.path.join(folder, f"commands-{next(made)}.tsv"), str(int(time.time()))
        with open(path, "w") as f:
            for _ in range(n):
                body = urlencode({"token": "legacy", "team_id": "T0BENCH", "channel_id": "C0BENCH",
                                  "user_id": "U0BENCH", "command": "/rec", "text": text, "api_app_id": "A0REC",
                                  "response_url": "http://127.0.0.1:9/response_url",
                                  "trigger_id": f"{uuid.uuid4().hex}.1.x"})
                f.write(f"{ts}\t{verifier.generate_signature(timestamp=ts, body=body)}\t{body}\n")
        return path

    return make


def _tree(pid: int) -> list[tuple[Path, list[str]]]:
    """/proc's folder and stat fields of a server's process and of the processes it started (recbot's
    ingest process)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            found.append((stat.parent, fields))
    return found


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """CPU time of a server and (`children`) the processes it started."""
    found = _tree(pid) if children else [(None, Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split())]
    return sum(int(fields[11]) + int(fields[12]) for _, fields in found) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    """Resident memory of a server and its processes, in MB."""
    total = 0
    for folder, _ in _tree(pid):
        with contextlib.suppress(OSError, StopIteration):
            total += int(next(line for line in (folder / "status").read_text().splitlines()
                              if line.startswith("VmRSS:")).split()[1])
    return total / 1024


def run(url: str, data: str | Callable[[int], str], kind: str, server_pid: int, *, seconds: int = 10,
        connections: int = 64, threads: int = 1, warmup: int = 2) -> dict:
    """`data`: a file of requests, cycled, or a maker of a new file of as many distinct requests as the
    run can send (`command_requests`). `warmup` seconds of the same load first, not counted, for every
    server alike: a process's first seconds (its first connections, code paths run for the first time, a
    database file and WAL that grow) are not its ceiling."""
    if not isinstance(data, str) and threads != 1:  # each wrk thread would start at the same line
        raise ValueError("distinct commands need one wrk thread")

    def file(for_seconds: int) -> tuple[str, int | None]:
        if isinstance(data, str):
            return data, None
        return data(COMMANDS_PER_SECOND * for_seconds), COMMANDS_PER_SECOND * for_seconds

    if warmup:
        subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{warmup}s", "-s", str(HERE / "wrk.lua"), url,
                        "--", file(warmup)[0], kind], capture_output=True, check=True, timeout=warmup + 60)
    path, distinct = file(seconds)
    before_server = cpu_seconds(server_pid)
    before_wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                          str(HERE / "wrk.lua"), url, "--", path, kind],
                         capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    elapsed = time.monotonic() - began
    after_wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = cpu_seconds(server_pid) - before_server
    wrk_cpu = (after_wrk.ru_utime + after_wrk.ru_stime) - (before_wrk.ru_utime + before_wrk.ru_stime)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    r = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
         "p50_ms": _latency(out, "50%"), "p99_ms": _latency(out, "99%"),
         "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)) else 0,
         "socket_errors": sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)),
         "server_cores": server_cpu / elapsed, "wrk_cores": wrk_cpu / elapsed, "server_rss_mb": rss_mb(server_pid),
         "all_distinct": distinct is None or requests <= distinct}
    # The generator is the bottleneck when wrk saturates its threads, or works harder than the server; and it
    # failed when it ran out of distinct requests.
    r["generator_faster"] = r["wrk_cores"] < min(0.8 * threads, r["server_cores"]) and r["all_distinct"]
    return r


def _latency(out: str, q: str) -> float:
    m = re.search(rf"^\s*{re.escape(q)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

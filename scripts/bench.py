#!/usr/bin/env python3
"""Benchmark of wamux against the fake WhatsApp Web; run it through scripts/bench.sh.

What it measures, in this order, with N sessions and M sends each:

1. POST /api/sessions for all N sessions at once (one thread each), then GET .../status every
   50 ms: the seconds from the POST to `qrAvailable` (median, max). With `-- --warm-spares K`
   the sessions are created once the K spares are ready, and the idle figures count the
   spares started behind the ones taken.
2. Each session's QR payload (GET .../qr?format=raw) is scanned at the fake with
   POST /__fake/scan (a 410 means the payload rotated: read it again); the seconds from the
   scan to WORKING.
3. Idle: once the daemon's process tree has used little CPU for two seconds in a row (at most
   --settle-max s), the PSS (/proc/PID/smaps_rollup) of the tree: total, gateway (wamux and
   wamux-worker), browsers (the rest: chromedriver, Chromium) and total/N; then the tree's
   CPU over 5 s (utime+stime of /proc/PID/stat, % of one core). The tree is the daemon, its
   descendants by ppid, every member of their process groups (a worker leads the group of its
   chromedriver and Chromium) and anything naming this run's temp dir.
4. M sends per session, one after another within a session, sessions in parallel: the
   seconds from the request to its 200 answer; each text is then looked for, once, in the
   fake's GET /__fake/sent?from=PHONE.
5. GET /api/sessions throughput for 5 s: `wrk` when it is on PATH, else Python threads.
6. DELETE of every session, then the count of the daemon's other processes still alive (the
   warm spares still waiting for a session are not counted: they are meant to run).

Both servers listen on 127.0.0.1 port 0 (each prints the port it got), each in a process
group of its own. On exit, error, Ctrl-C or SIGTERM the daemon gets SIGTERM, and whatever of
its tree still runs a few seconds later SIGKILL; the fake likewise. The temp dir (data dir and
logs) is removed, and no process naming it may remain. Figures go to stdout as a Markdown
table and to --out as JSON with the raw samples; progress goes to stderr. The exit status is
1 when a session, a send or the cleanup failed.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
DEADLINE = 120.0


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def call(method, url, body=None, timeout=60.0):
    """(status, parsed JSON or None); status 0 when the server did not answer."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    try:
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with OPENER.open(req, timeout=timeout) as resp:
            code, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        code, raw = e.code, e.read()
    except OSError:
        return 0, None
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, None


def median(values):
    return round(statistics.median(values), 3) if values else None


def p95(values):
    """Nearest-rank 95th percentile."""
    return round(sorted(values)[-(-95 * len(values) // 100) - 1], 3) if values else None


def since(t0):
    return round(time.monotonic() - t0, 4)


def in_threads(fn, items):
    threads = [threading.Thread(target=fn, args=(i,), daemon=True) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def read(pid, name):
    """/proc/PID/NAME as text, "" once the process is gone."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def stat(pid):
    """(ppid, pgid, state, utime+stime ticks, starttime, comm), or None once gone."""
    s = read(pid, "stat")
    if not s:
        return None
    comm, f = s[s.find("(") + 1:s.rfind(")")], s[s.rfind(")") + 2:].split()
    return int(f[1]), int(f[2]), f[0], int(f[11]) + int(f[12]), int(f[19]), comm


def cmdline(pid):
    return read(pid, "cmdline").replace("\0", " ")


def pss_kb(pid):
    rollup = read(pid, "smaps_rollup").splitlines()
    return sum(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))


def live_stats():
    """{pid: stat} of every process but zombies."""
    stats = {int(d): stat(int(d)) for d in os.listdir("/proc") if d.isdigit()}
    return {pid: st for pid, st in stats.items() if st and st[2] != "Z"}


class Tree:
    """The daemon's process tree, watched every 0.25 s. A process is remembered by pid and
    start time, so that one reparented away (a browser whose worker died) is still known, and
    a recycled pid is not."""

    def __init__(self, root, marker):
        self.root, self.marker, self.seen, self.checked = root, marker, {}, set()
        self.lock = threading.Lock()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        while True:
            self.scan()
            time.sleep(0.25)

    def scan(self):
        """{pid: stat} of the tree's live processes."""
        stats = live_stats()
        children = {}
        for pid, st in stats.items():
            children.setdefault(st[0], []).append(pid)
        found, todo = set(), [self.root] if self.root in stats else []
        while todo:
            pid = todo.pop()
            found.add(pid)
            todo.extend(c for c in children.get(pid, []) if c not in found)
        groups = {stats[p][1] for p in found} - {os.getpgrp(), 0, 1}
        with self.lock:
            for pid, st in stats.items():
                if pid in found or st[1] in groups:
                    self.seen[pid] = st[4]
                elif (pid, st[4]) not in self.checked and pid != os.getpid():
                    # Outside the tree, a process is ours only if it names our temp dir.
                    self.checked.add((pid, st[4]))
                    if self.marker in cmdline(pid):
                        self.seen[pid] = st[4]
            return {p: stats[p] for p, start in self.seen.items()
                    if p in stats and stats[p][4] == start}

    def kill(self):
        """SIGKILL to every live process of the tree, and to the groups they lead."""
        for pid, st in self.scan().items():
            targets = [(os.killpg, pid)] if st[1] == pid else []
            for kill, target in targets + [(os.kill, pid)]:
                try:
                    kill(target, signal.SIGKILL)
                except OSError:
                    pass


def is_waiting_spare(pgid, tmp):
    """Whether process group `pgid` is a warm spare (`--warm-spares`) still waiting: its worker
    runs as `spare.HEX` on a folder that no deleted session took with it."""
    m = re.search(r"--session-id (spare\.[0-9a-f]{16}) ", cmdline(pgid))
    return bool(m) and os.path.isdir(os.path.join(tmp, "data", "sessions", m.group(1)))


def cpu_percent(tree, seconds):
    before = {p: (st[4], st[3]) for p, st in tree.scan().items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    ticks = sum(st[3] - before[p][1] for p, st in tree.scan().items()
                if p in before and before[p][0] == st[4])
    return 100.0 * ticks / CLK_TCK / (time.monotonic() - t0)


def start(cmd, log_path, prefix):
    """Starts `cmd` in a session of its own; (process, the URL of its `prefix` line)."""
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, start_new_session=True)
    for line in proc.stdout:
        text = line.decode(errors="replace").strip()
        if text.startswith(prefix):
            # Keep reading, so that a full pipe never blocks the server.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, text[len(prefix):]
    proc.wait()
    raise RuntimeError(f"{cmd[0]} exited ({proc.returncode}) before it listened")


def stop(proc, tree=None, grace=8.0):
    """SIGTERM, then SIGKILL to whatever of it and of `tree` still runs after `grace` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log(f"{proc.args[0]} still runs {grace:.0f} s after SIGTERM: SIGKILL")
    if tree:
        tree.kill()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def wait_for_spares(api):
    """With --warm-spares, creating starts once every spare shows its QR: what a server that
    has been up a while offers."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < DEADLINE:
        code, body = call("GET", f"{api}/api/stats")
        spares = body.get("warmSpares", {}) if code == 200 and isinstance(body, dict) else {}
        if spares.get("ready", 0) >= spares.get("wanted", 0):
            if spares.get("wanted"):
                log(f"{spares['wanted']} warm spares ready after {since(t0)} s")
            return
        time.sleep(0.1)
    raise RuntimeError("the warm spares were not ready in time")


def create(api, sessions):
    barrier = threading.Barrier(len(sessions))

    def one(s):
        barrier.wait()
        t0 = time.monotonic()
        code, body = call("POST", f"{api}/api/sessions", {"sessionId": s["id"]})
        if code != 201:
            s["error"] = f"POST /api/sessions answered {code}: {body}"
            return
        s["created"] = True
        while time.monotonic() - t0 < DEADLINE:
            code, body = call("GET", f"{api}/api/sessions/{s['id']}/status")
            body = body if code == 200 and isinstance(body, dict) else {}
            if body.get("qrAvailable"):
                s["qr_s"] = since(t0)
                return
            if body.get("status") in ("FAILED", "STOPPED"):
                s["error"] = f"{body['status']} before a QR: {body.get('lastError')}"
                return
            time.sleep(0.05)
        s["error"] = "no QR in time"

    in_threads(one, sessions)


def link(api, fake, sessions):
    def one(s):
        for _ in range(10):
            code, body = call("GET", f"{api}/api/sessions/{s['id']}/qr?format=raw")
            if code == 200 and body:
                scan = {"qr": body["qr"], "phone": s["phone"]}
                code, _ = call("POST", f"{fake}/__fake/scan", scan)
                if code == 200:
                    break
            time.sleep(0.2)
        else:
            s["error"] = f"the scan failed ({code})"
            return
        t0 = time.monotonic()
        while time.monotonic() - t0 < DEADLINE:
            code, body = call("GET", f"{api}/api/sessions/{s['id']}/status")
            if code == 200 and body.get("status") == "WORKING":
                s["working_s"] = since(t0)
                return
            time.sleep(0.05)
        s["error"] = "not WORKING in time after the scan"

    in_threads(one, [s for s in sessions if "qr_s" in s])


def idle(tree, n, settle_max):
    """Waits for two calm seconds in a row (under 15% of a core, or 5% per session; at most
    `settle_max` s), then takes the tree's PSS and 5 s of its CPU."""
    t0, calm = time.monotonic(), 0
    while calm < 2 and time.monotonic() - t0 < settle_max:
        calm = calm + 1 if cpu_percent(tree, 1.0) <= max(15.0, 5.0 * n) else 0
    settled = since(t0)
    procs = [{"pid": pid, "comm": st[5], "pss_kb": pss_kb(pid)} for pid, st in tree.scan().items()]
    gateway = sum(p["pss_kb"] for p in procs if p["comm"].startswith("wamux"))
    total = sum(p["pss_kb"] for p in procs)
    return {"settle_s": round(settled, 1), "pss_total_mb": round(total / 1024, 1),
            "pss_gateway_mb": round(gateway / 1024, 1),
            "pss_browsers_mb": round((total - gateway) / 1024, 1),
            "pss_per_session_mb": round(total / 1024 / max(n, 1), 1),
            "idle_cpu_percent": round(cpu_percent(tree, 5.0), 1), "processes": procs}


def send(api, fake, sessions, m, run_id):
    def one(s):
        s["sends"] = []
        for k in range(m):
            to, text = str(5215500000001 + s["index"] * m + k), f"bench {run_id} {s['id']} #{k + 1}"
            t0 = time.monotonic()
            code, body = call("POST", f"{api}/api/sessions/{s['id']}/send-message",
                              {"phoneNumber": to, "message": text})
            s["sends"].append({"to": to, "text": text, "code": code, "latency_s": since(t0),
                               "messageId": (body or {}).get("messageId")})
        code, sent = call("GET", f"{fake}/__fake/sent?from={s['phone']}")
        seen = [(x["to"], x["text"]) for x in sent] if code == 200 else []
        for x in s["sends"]:
            x["found_at_fake"] = seen.count((x["to"], x["text"]))

    in_threads(one, [s for s in sessions if "working_s" in s])


def throughput(api, seconds, client):
    url = f"{api}/api/sessions"
    if client == "auto" and shutil.which("wrk"):
        out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", url], capture_output=True,
                             text=True, timeout=seconds + 30).stdout
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if rps:
            return {"client": "wrk -t2 -c8", "rps": round(float(rps.group(1))),
                    "non_2xx": int(bad.group(1)) if bad else 0}
        log("wrk gave no figure: Python threads measure instead")
    host, port = url.split("/")[2].split(":")
    counts, stop_at = [], time.monotonic() + seconds

    def one(_):
        conn, ok, bad = http.client.HTTPConnection(host, int(port), timeout=10), 0, 0
        while time.monotonic() < stop_at:
            conn.request("GET", "/api/sessions")
            resp = conn.getresponse()
            resp.read()
            ok, bad = (ok + 1, bad) if resp.status == 200 else (ok, bad + 1)
        counts.append((ok, bad))

    t0 = time.monotonic()
    in_threads(one, range(8))
    return {"client": "Python, 8 threads", "rps": round(sum(c[0] for c in counts) / since(t0)),
            "non_2xx": sum(c[1] for c in counts)}


def delete(api, sessions):
    def one(s):
        t0 = time.monotonic()
        s["delete_code"], _ = call("DELETE", f"{api}/api/sessions/{s['id']}")
        s["delete_s"] = since(t0)

    in_threads(one, [s for s in sessions if "created" in s])


def table(f):
    rows = [("sessions", f["sessions"]), ("create failures", f["create_failures"]),
            ("POST → QR median / max (s)", f"{f['qr_median_s']} / {f['qr_max_s']}"),
            ("scan → WORKING median (s)", f["working_median_s"]),
            ("sends answered 200 / found once at the fake",
             f"{f['sends_200']} / {f['sends_found_once']} of {f['sends_requested']}"),
            ("send latency median / p95 (s)", f"{f['send_median_s']} / {f['send_p95_s']}"),
            ("idle PSS total (MB)", f["pss_total_mb"]),
            ("idle PSS gateway: wamux + workers (MB)", f["pss_gateway_mb"]),
            ("idle PSS browsers: chromedriver + Chromium (MB)", f["pss_browsers_mb"]),
            ("idle PSS per session (MB)", f["pss_per_session_mb"]),
            ("idle CPU (% of one core)", f["idle_cpu_percent"]),
            (f"GET /api/sessions req/s ({f['throughput_client']})", f["throughput_rps"]),
            ("leftover processes after DELETE", f["leftover_processes"])]
    return "\n".join(["| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])


def run(args, tmp, held):
    fake_cmd = [os.path.join(args.bin_dir, "wamux-fake-web"), "--listen", "127.0.0.1:0"]
    fake, fake_url = start(fake_cmd, os.path.join(tmp, "fake.log"), "listening on ")
    held.append((fake, None))
    log(f"fake WhatsApp Web on {fake_url}")
    extra = list(args.extra)
    if not any(a.split("=")[0] == "--max-sessions" for a in extra):
        extra += ["--max-sessions", str(max(args.sessions, 5))]
    daemon_cmd = [os.path.join(args.bin_dir, "wamux"), "serve", "--listen", "127.0.0.1:0",
                  "--web-url", fake_url, "--data-dir", os.path.join(tmp, "data")] + extra
    daemon, api = start(daemon_cmd, os.path.join(tmp, "wamux.log"), "wamux listening on ")
    tree = Tree(daemon.pid, tmp)
    held.append((daemon, tree))
    t0 = time.monotonic()
    while call("GET", f"{api}/health", timeout=2)[0] != 200:
        if time.monotonic() - t0 > 30:
            raise RuntimeError("wamux does not answer GET /health")
        time.sleep(0.1)
    log(f"wamux serve on {api}, extra flags: {' '.join(extra)}")
    wait_for_spares(api)

    sessions = [{"index": i, "id": f"bench{i + 1}", "phone": str(5215590000001 + i)}
                for i in range(args.sessions)]
    log(f"creating {args.sessions} sessions at once")
    create(api, sessions)
    log("linking them")
    link(api, fake_url, sessions)
    working = [s for s in sessions if "working_s" in s]
    log(f"{len(working)} WORKING; waiting for the tree to calm down")
    at_idle = idle(tree, len(working), args.settle_max)
    log(f"sending {args.sends} messages per session")
    send(api, fake_url, sessions, args.sends, os.path.basename(tmp))
    log("measuring GET /api/sessions throughput")
    tput = throughput(api, 5, args.client)
    log("deleting the sessions")
    delete(api, sessions)
    leftovers = [p for p, st in tree.scan().items()
                 if p != daemon.pid and not is_waiting_spare(st[1], tmp)]
    for s in sessions:
        if "error" in s:
            log(f"{s['id']}: {s['error']}")

    sends = [x for s in sessions for x in s.get("sends", [])]
    ok = [x["latency_s"] for x in sends if x["code"] == 200]
    qr = [s["qr_s"] for s in sessions if "qr_s" in s]
    figures = {
        "sessions": args.sessions, "create_failures": args.sessions - len(qr),
        "working": len(working), "qr_median_s": median(qr),
        "qr_max_s": round(max(qr), 3) if qr else None,
        "working_median_s": median([s["working_s"] for s in working]),
        "sends_requested": args.sessions * args.sends, "sends_200": len(ok),
        "sends_found_once": sum(1 for x in sends if x.get("found_at_fake") == 1),
        "send_median_s": median(ok), "send_p95_s": p95(ok),
        **{k: v for k, v in at_idle.items() if k != "processes"},
        "throughput_rps": tput["rps"], "throughput_client": tput["client"],
        "throughput_non_2xx": tput["non_2xx"], "leftover_processes": len(leftovers),
    }
    meta = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
            "kernel": os.uname().release, "sends_per_session": args.sends,
            "wamux_serve_flags": daemon_cmd[2:]}
    samples = {"sessions": sessions, "idle_processes": at_idle["processes"],
               "leftover_pids": leftovers}
    return {"meta": meta, "figures": figures, "samples": samples}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin-dir", required=True, help="where wamux and wamux-fake-web are")
    p.add_argument("--sessions", type=int, default=5)
    p.add_argument("--sends", type=int, default=5, help="per session")
    p.add_argument("--out", default="bench-results.json")
    p.add_argument("--settle-max", type=float, default=20.0, help="longest wait for idle CPU, s")
    p.add_argument("--client", choices=("auto", "python"), default="auto",
                   help="throughput client: wrk when on PATH (auto), or Python threads")
    p.add_argument("extra", nargs="*", help="after --: more `wamux serve` flags")
    args = p.parse_args()
    if args.sessions < 1 or args.sends < 0:
        p.error("--sessions must be at least 1 and --sends at least 0")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    tmp = tempfile.mkdtemp(prefix="wamux-bench-")
    held, code = [], 0
    try:
        result = run(args, tmp, held)
        with open(args.out, "w") as out:
            json.dump(result, out, indent=2)
        f = result["figures"]
        print(table(f))
        log(f"JSON in {args.out}")
        code = int(bool(f["create_failures"] or f["sends_200"] < f["sends_requested"]
                        or f["sends_found_once"] < f["sends_requested"]
                        or f["leftover_processes"]))
    except KeyboardInterrupt:
        log("interrupted")
        code = 130
    except SystemExit as e:  # SIGTERM or SIGHUP, through the handlers above
        log("stopped by a signal")
        code = e.code
    except Exception as e:  # noqa: BLE001 - told, then everything started is stopped
        log(f"error: {e!r}")
        code = 1
    finally:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        left = []
        for proc, tree in reversed(held):  # the daemon first: it closes its browsers
            stop(proc, tree)
            left += list(tree.scan()) if tree else []
        for name in ("wamux.log", "fake.log"):
            if code == 1 and os.path.exists(os.path.join(tmp, name)):
                with open(os.path.join(tmp, name), errors="replace") as lines:
                    sys.stderr.write(f"--- end of {name}\n" + "".join(lines.readlines()[-15:]))
        shutil.rmtree(tmp, ignore_errors=True)
        left += [p for p in live_stats() if p != os.getpid() and tmp in cmdline(p)]
        if left:
            log(f"left behind: {[(p, cmdline(p)[:120]) for p in set(left)]}")
            code = code or 1
    return code


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A soak of the running system: the demo server under mixed staff-page, API and import load
for a while, its memory and its latency sampled every window.

    python3 bench/soak.py --binary /var/tmp/sesshu-target/release/sesshu --minutes 60

Four client threads loop over: the JSON API's person read (40 %) and kana search (20 %), the staff
page of a person in a logged-in session (30 %) and /health (10 %). Every minute the day's resident
feed is imported again from the command line (all 5,000 rows compared, nothing changed), as a
scheduler would, beside the traffic. Every window (default 60 s) prints one line: requests, errors,
p50 and p99 in ms, and the server's resident memory (VmRSS). The summary compares the first and
the last fifth of the run. Only the standard library: nothing to install.
"""

import argparse
import csv
import http.client
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PORT = 18431


def start_demo(binary, workdir, port):
    proc = subprocess.Popen(
        [binary, "serve", "--demo", "--listen", f"127.0.0.1:{port}"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "SESSHU_LOG": "warn"},
    )
    token = password = None
    for line in proc.stdout:
        m = re.search(r"(sesshu_999997_[0-9a-f_]+)", line)
        if m and token is None:
            token = m.group(1)
        m = re.search(r"ログイン hoken / パスワード (\S+)", line)
        if m:
            password = m.group(1)
        if "待ち受けています" in line:
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    if not token or not password:
        sys.exit("the demo did not print its token and clerk's password")
    return proc, token, password


def cookies_of(response):
    out = {}
    for k, v in response.getheaders():
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            out[name] = rest.split(";", 1)[0]
    return out


def page_login(port, password):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/login")
    r = c.getresponse()
    body = r.read().decode()
    pre_cookie = cookies_of(r)["sesshu_pre"]
    pre = re.search(r'name="pre" value="([^"]+)"', body).group(1)
    form = urllib.parse.urlencode(
        {"pre": pre, "municipality": "999997", "login": "hoken", "password": password}
    )
    c.request(
        "POST",
        "/login",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"sesshu_pre={pre_cookie}",
        },
    )
    r = c.getresponse()
    r.read()
    session = cookies_of(r).get("sesshu_session")
    if not session:
        sys.exit(f"page login failed: {r.status}")
    return session


def addresses(workdir):
    with open(os.path.join(workdir, "sesshu-demo", "residents.csv"), encoding="cp932") as f:
        rows = list(csv.reader(f))
    return [r[0] for r in rows[1:] if r and r[0].isdigit()]


class Window:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.errors = 0

    def add(self, ms, ok):
        with self.lock:
            self.latencies.append(ms)
            if not ok:
                self.errors += 1

    def take(self):
        with self.lock:
            lat, err = self.latencies, self.errors
            self.latencies, self.errors = [], 0
        return lat, err


def client(port, token, session, people, window, stop):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    kana = ["ア", "カ", "サ", "タ", "ナ", "ハ", "マ", "ヤ", "ワ"]
    while not stop.is_set():
        roll = random.random()
        if roll < 0.4:
            path = f"/api/v1/municipalities/999997/persons/{random.choice(people)}"
            headers = {"Authorization": f"Bearer {token}"}
        elif roll < 0.6:
            q = urllib.parse.quote(random.choice(kana))
            path = f"/api/v1/municipalities/999997/persons?kana={q}&limit=20"
            headers = {"Authorization": f"Bearer {token}"}
        elif roll < 0.9:
            path = f"/persons/{random.choice(people)}"
            headers = {"Cookie": f"sesshu_session={session}"}
        else:
            path, headers = "/health", {}
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            r.read()
            ok = r.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        window.add((time.perf_counter() - started) * 1000, ok)


def importer(binary, workdir, stop, every, results):
    env = {
        **os.environ,
        "SESSHU_DATABASE_URL": "sqlite://sesshu-demo/sesshu.db",
        "SESSHU_KEY_FILE": "sesshu-demo/sesshu.key",
        "SESSHU_MUNICIPALITY": "999997",
        "SESSHU_LOG": "warn",
    }
    while not stop.wait(every):
        started = time.perf_counter()
        done = subprocess.run(
            [binary, "import", "residents", "sesshu-demo/residents.csv", "--mode", "full"],
            cwd=workdir,
            env=env,
            capture_output=True,
        )
        results.append((time.perf_counter() - started, done.returncode))
        if done.returncode != 0:
            # A failed import is a finding: keep what it said.
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
            print("import failed (exit %d): %s" % (done.returncode, " | ".join(tail)), flush=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--import-every", type=float, default=60)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="sesshu-soak-")
    proc, token, password = start_demo(args.binary, workdir, PORT)
    try:
        session = page_login(PORT, password)
        people = addresses(workdir)
        window, stop, imports = Window(), threading.Event(), []
        threads = [
            threading.Thread(target=client, args=(PORT, token, session, people, window, stop))
            for _ in range(args.clients)
        ]
        threads.append(
            threading.Thread(
                target=importer, args=(args.binary, workdir, stop, args.import_every, imports)
            )
        )
        for t in threads:
            t.start()
        rows = []
        print("minute,requests,errors,p50_ms,p99_ms,rss_mib,imports", flush=True)
        end = time.time() + args.minutes * 60
        while time.time() < end:
            time.sleep(args.window)
            lat, err = window.take()
            row = (
                len(rows) + 1,
                len(lat),
                err,
                percentile(lat, 0.5),
                percentile(lat, 0.99),
                rss_kib(proc.pid) / 1024,
                len(imports),
            )
            rows.append(row)
            print("%d,%d,%d,%.1f,%.1f,%.1f,%d" % row, flush=True)
        stop.set()
        for t in threads:
            t.join()
        fifth = max(1, len(rows) // 5)
        first, last = rows[:fifth], rows[-fifth:]

        def mean(rs, i):
            return sum(r[i] for r in rs) / len(rs)

        failed_imports = sum(1 for _, code in imports if code != 0)
        print(
            "summary: %d requests, %d errors; first fifth p99 %.1f ms, rss %.1f MiB; "
            "last fifth p99 %.1f ms, rss %.1f MiB; %d imports (%d failed, %.1f s each on average)"
            % (
                sum(r[1] for r in rows),
                sum(r[2] for r in rows),
                mean(first, 4),
                mean(first, 5),
                mean(last, 4),
                mean(last, 5),
                len(imports),
                failed_imports,
                sum(s for s, _ in imports) / max(1, len(imports)),
            ),
            flush=True,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()

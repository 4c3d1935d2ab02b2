#!/usr/bin/env python3
"""Sign-in under a flood of failed sign-ins (issue 9, finding 4).

Starts `portcullis serve` (the binary named by --bin, default target/release/portcullis)
on a fresh SQLite database with throttling opened wide, so that every failed attempt
reaches the Argon2 check, then measures:

1. the server's RSS before and after a burst of 150 failed sign-ins (50 at a time, from
   127.0.0.1), and again after 10 s idle;
2. the latency of a legitimate sign-in from another address (127.0.0.2), 20 times with
   no other load, then 20 times while 32 connections keep failing to sign in from
   127.0.0.1.

Standard library only. Prints one line per figure; the figures vary from run to run on
a shared machine, so compare binaries in one run (pass --bin twice).

    python3 bench/signin_flood.py --bin target/release/portcullis
    python3 bench/signin_flood.py --bin /old/portcullis --bin target/release/portcullis
"""

import argparse
import html.parser
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PASSWORD = "correct horse battery staple"


class FormParser(html.parser.HTMLParser):
    """The first form's action and hidden inputs."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.hidden = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attrs.get("action")
        if tag == "input" and attrs.get("type") == "hidden":
            self.hidden[attrs.get("name")] = attrs.get("value", "")


class Browser:
    """One keep-alive connection from `source`, with its cookies."""

    def __init__(self, port, source):
        self.port = port
        self.source = source
        self.cookies = {}
        self.conn = None

    def request(self, method, path, body=None):
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            body = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=60, source_address=(self.source, 0)
                )
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                if val:
                    self.cookies[key] = val
                else:
                    self.cookies.pop(key, None)
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, data

    def login_form(self):
        status, page = self.request("GET", "/login?return_to=%2Fhealthz")
        assert status == 200, status
        parser = FormParser()
        parser.feed(page.decode())
        return parser

    def sign_in(self, username, password):
        form = self.login_form()
        fields = dict(form.hidden)
        fields.update(username=username, password=password)
        status, _ = self.request("POST", form.action, fields)
        return status


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run(binary):
    workdir = tempfile.mkdtemp(prefix="portcullis-flood-")
    db = f"sqlite://{workdir}/portcullis.db"
    env = dict(os.environ, RUST_LOG="error",
               PORTCULLIS_LOGIN_FREE_ATTEMPTS="1000000",
               PORTCULLIS_LOGIN_ADDRESS_FAILURES="1000000",
               PORTCULLIS_LOGIN_MAX_DELAY="1")
    for key in list(env):
        if key.startswith("PORTCULLIS_") and key not in (
                "PORTCULLIS_LOGIN_FREE_ATTEMPTS", "PORTCULLIS_LOGIN_ADDRESS_FAILURES",
                "PORTCULLIS_LOGIN_MAX_DELAY"):
            del env[key]
    subprocess.run([binary, "--database-url", db, "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([binary, "--database-url", db, "user", "create", "--username", "alice",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen(
        [binary, "--database-url", db, "serve", "--bind", f"127.0.0.1:{port}",
         "--issuer", f"http://127.0.0.1:{port}"], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                if Browser(port, "127.0.0.1").request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        print(f"== {binary}")
        warm = Browser(port, "127.0.0.2")
        assert warm.sign_in("alice", PASSWORD) in (302, 303)
        before = rss_kib(server.pid)

        def fail_once(i):
            Browser(port, "127.0.0.1").sign_in(f"user{i}", "guess")

        for wave in range(3):
            threads = [threading.Thread(target=fail_once, args=(wave * 50 + i,))
                       for i in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        after = rss_kib(server.pid)
        time.sleep(10)
        idle = rss_kib(server.pid)
        print(f"RSS before a burst of 150 failed sign-ins: {before / 1024:.1f} MiB; "
              f"after it: {after / 1024:.1f} MiB; after 10 s idle: {idle / 1024:.1f} MiB")

        def latencies():
            owner = Browser(port, "127.0.0.2")
            times = []
            for _ in range(20):
                started = time.perf_counter()
                status = owner.sign_in("alice", PASSWORD)
                times.append((time.perf_counter() - started) * 1000)
                assert status in (302, 303), status
            return times

        quiet = latencies()
        stop = threading.Event()
        failures = [0]

        def flood():
            browser = Browser(port, "127.0.0.1")
            n = 0
            while not stop.is_set():
                browser.sign_in(f"flood{n}", "guess")
                n += 1
            failures[0] += n

        flooders = [threading.Thread(target=flood) for _ in range(32)]
        for t in flooders:
            t.start()
        time.sleep(2)
        loaded = latencies()
        stop.set()
        for t in flooders:
            t.join()
        for name, times in (("alone", quiet), ("during the flood", loaded)):
            print(f"legitimate sign-in {name}: median {statistics.median(times):.0f} ms, "
                  f"max {max(times):.0f} ms (20 sign-ins)")
        print(f"flood: {failures[0]} failed sign-ins from 32 connections")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", action="append", help="portcullis binary (repeatable)")
    args = parser.parse_args()
    for binary in args.bin or ["target/release/portcullis"]:
        run(os.path.abspath(binary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

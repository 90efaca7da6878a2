"""Load generator, run in its own process: POST PSI review callbacks with N threads.

Reads a JSON job on stdin ``{"host", "port", "path", "auth", "bodies": [...], "concurrency"}`` and
prints ``{"latencies_ms": [...], "statuses": {...}, "elapsed_s": ...}``.

Closed loop by default (each caller sends its next request when the last is answered). With
``"rate"`` (requests/s) the load is open: request *i* is due at ``start + i / rate`` whatever the
answers, and its latency counts from when it was due, so time spent queued on the caller's side
is counted too (no coordinated omission). Connections are kept alive
when the server allows it (gunicorn's sync workers close after each response: we reconnect).
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections import Counter


def main() -> None:
    job = json.load(sys.stdin)
    bodies = [b.encode() for b in job["bodies"]]
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    statuses: Counter = Counter()
    headers = {"Content-Type": "application/json", "Authorization": job["auth"]}
    rate = job.get("rate")

    def worker() -> None:
        conn = None
        local_lat, local_st = [], Counter()
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(bodies):
                break
            due = None
            if rate:
                due = start + i / rate
                time.sleep(max(0.0, due - time.perf_counter()))
            for _ in range(3):
                if conn is None:
                    conn = http.client.HTTPConnection(job["host"], job["port"], timeout=60)
                t0 = time.perf_counter()
                try:
                    conn.request("POST", job["path"], body=bodies[i], headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                except (ConnectionError, http.client.HTTPException, OSError):
                    conn.close()
                    conn = None
                    local_st["connection_error"] += 1
                    continue
                local_lat.append((time.perf_counter() - (due or t0)) * 1000)
                local_st[str(resp.status)] += 1
                if resp.will_close:
                    conn.close()
                    conn = None
                break
        with lock:
            latencies.extend(local_lat)
            statuses.update(local_st)

    threads = [threading.Thread(target=worker) for _ in range(job["concurrency"])]
    start = time.perf_counter()  # (re)set just before the callers start
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    json.dump({"latencies_ms": latencies, "statuses": dict(statuses), "elapsed_s": elapsed},
              sys.stdout)


if __name__ == "__main__":
    main()

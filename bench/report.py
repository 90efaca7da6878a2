"""The benchmark's summary table and the targets it checks."""

from __future__ import annotations

from bench import outbox

TARGETS = {
    "queries": 8, "floor_fraction": 0.40, "p99_ms": 50.0, "growth_ratio": 1.5,
}


def table(results: list[dict]) -> str:
    rows: list[tuple[str, ...]] = [("measure", *[r["db"] for r in results], "target")]

    def add(label, fn, target=""):
        cells = []
        for r in results:
            try:
                cells.append(fn(r))
            except (KeyError, TypeError):
                cells.append("-")
        rows.append((label, *cells, target))

    h = lambda r: r["http"]  # noqa: E731
    add("HTTP server", lambda r: h(r)["server"].split(" (")[0])
    add("HTTP callbacks/s, closed loop", lambda r: f"{h(r)['per_s']:.0f}")
    add("HTTP concurrency", lambda r: str(h(r)["concurrency"]))
    add("HTTP p50 / p95 / p99 ms", lambda r: "{p50_ms} / {p95_ms} / {p99_ms}".format(**h(r)["latency"]),
        "p99 < 50 ms")
    add("HTTP non-200 answers", lambda r: str(h(r)["non_200"]), "0")
    add("HTTP open loop: offered /s, p50 / p99 ms",
        lambda r: "{:.0f}, {p50_ms} / {p99_ms}".format(h(r)["open_loop"]["offered_per_s"],
                                                       **h(r)["open_loop"]["latency"]),
        "p99 < 50 ms")
    add("HTTP at concurrency 2: /s, p50 / p99 ms",
        lambda r: "{:.0f}, {p50_ms} / {p99_ms}".format(h(r)["at_concurrency_2"]["per_s"],
                                                       **h(r)["at_concurrency_2"]["latency"]))
    add("SQL queries per callback (mean, max)",
        lambda r: f"{r['inproc']['queries_mean']:.1f}, {r['inproc']['queries_max']}", "<= 8")
    add("  of which BEGIN/COMMIT/SAVEPOINT", lambda r: f"{r['inproc']['tx_control_mean']:.1f}")
    add("in-process callbacks/s (test client)", lambda r: f"{r['inproc']['per_s']:.0f}")
    add("in-process p50 / p99 ms",
        lambda r: "{p50_ms} / {p99_ms}".format(**r["inproc"]["latency"]))
    add("raw floor reviews/s, 1 conn", lambda r: f"{r['floor']['one']['per_s']:.0f}")
    add("raw floor reviews/s, 2 conns", lambda r: f"{r['floor']['two']['per_s']:.0f}")
    add("HTTP / floor (2 conns)", lambda r: f"{r['floor']['http_fraction']:.0%}", ">= 40%")
    add("in-process / floor (1 conn)", lambda r: f"{r['floor']['inproc_fraction']:.0%}")
    add("lifecycle create->start->submit /s", lambda r: f"{r['lifecycle']['per_s']:.0f}")
    add("outbox backlog: rows sent (webhooks), in s",
        lambda r: "{:,} ({:,}), {:.1f}".format(r["outbox"]["rows_sent"],
                                              r["outbox"]["webhook_backlog"],
                                              r["outbox"]["drained_s"]))
    add("outbox backlog: rows/s, default options", lambda r: f"{r['outbox']['rows_per_s']:.0f}")
    for i, (threads, ms) in enumerate(outbox.REPLAYS):
        add(f"  webhooks only: {threads} send thread(s), receiver {ms} ms, /s",
            lambda r, i=i: f"{r['outbox']['replays'][i]['webhooks_per_s']:.0f}")
    sizes = sorted({p["attempts"] for r in results for p in (r.get("growth") or {}).get("points", [])})
    for size in sizes:
        def cell(r, size=size):
            p = next(p for p in r["growth"]["points"] if p["attempts"] == size)
            return " / ".join(str(p.get(k, "-")) for k in (
                "callback_p50_ms", "queue_median_ms", "queue_course_staff_median_ms"))
        add(f"growth {size:>9,}: callback p50 / queue / queue (course staff) ms", cell)
    if sizes:
        add("growth ratio largest/10k: callback, queue, queue (course staff)",
            lambda r: f"{r['growth']['callback_ratio']:.2f}, {r['growth']['queue_ratio']:.2f}, "
                      f"{r['growth'].get('queue_course_staff_ratio', float('nan')):.2f}",
            "< 1.5")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- child: one database ------------------------------------------------------------------------

#!/usr/bin/env python3
"""report.html in a real browser: every example scenario's report, opened in headless Chromium.

    check_html.py FLEETSIM_BINARY SOURCE_DIR WORKDIR

Runs the fleetsim binary (from SOURCE_DIR) on every example scenario (seed 7; rollout_10k at a tenth of its size)
and opens each run's report.html in headless Chromium (Debian's chromium; .ci/setup installs it) with the network
off. Each page must:
  - reference nothing outside itself (no src= or href= to a URL or file: scripts, styles and data are inlined);
  - run its script to the end without an error (body[data-ready="true"], no body[data-errors]: the page records
    uncaught errors and console.error calls there);
  - draw every chart with data (each .chart has data-points > 0) and at least the charts its run calls for: a
    completion curve per operation, nodes per state and bytes over time when the run sampled states, buffers and
    delivery delays when it had telemetry, drain times when an outage left a backlog;
  - show the run's result and each expectation.
Then a two-axis sweep's sweep.html (a chart per metric, a heat map, a linked report.html per point) and compare.html
of two runs (their curves overlaid, the regression in the table) and of two sweeps, the same way.
The screenshots of a few pages (SCREENSHOTS, sweep, compare) are saved in WORKDIR; docs/images/ keeps some.
Exit 0 when every page holds, 1 with the list of problems. Registered in ctest as report_html.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

PROBLEMS = []
# The pages whose screenshots are kept (docs/images/ has some as report-<scenario>.png): a browser launch each, the
# window tall enough for the charts worth showing.
SCREENSHOTS = {"canary_bad_release": 2400, "outage_cache": 2400, "gpu_inference": 2400, "capacity_study": 2400,
               "rollout_flaky_lte": 3000}


def problem(text):
    PROBLEMS.append(text)
    print("FAIL " + text, flush=True)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("check_html.py: no chromium on the PATH (Debian: apt-get install chromium; .ci/setup installs it)")


def browse(browser, page, *args):
    """Runs headless Chromium on a local page with no network; returns its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--no-first-run", "--disable-extensions", "--user-data-dir=" + profile,
                   "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",  # any fetch fails
                   "--virtual-time-budget=10000", *args, "file://" + os.path.abspath(page)]
        p = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        if p.returncode != 0:
            problem(f"{page}: chromium exited {p.returncode}: {p.stderr[-2000:]}")
        return p.stdout


def page_state(dom):
    """What a page's script left on <body> (data-ready, data-errors, ...) and its charts' point counts."""
    body = re.search(r"<body([^>]*)>", dom)
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1))) if body else {}
    charts = [int(n) for n in re.findall(r'<div class="chart" data-points="(\d+)"', dom)]
    return (body.group(0) if body else "no <body>"), attrs, charts


def check_sweep(browser, fleetsim, source, work, env):
    """A two-axis sweep over 3 seeds: sweep.html draws a chart per metric shown and a heat map, and links a
    report.html per point that renders too."""
    out = os.path.join(work, "sweep")
    p = subprocess.run([fleetsim, "sweep", "scenarios/uplink_sizing.lua", "-p", "stores=2", "-p", "uplink=10Mbps,20Mbps",
                        "-p", "image=100MiB,200MiB", "--seeds", "3", "--metric", "upgrade.time_to_50", "--out", out,
                        "--no-progress"], cwd=source, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=600)
    if p.returncode != 0:
        problem(f"sweep: exited {p.returncode}: {p.stderr[-2000:]}")
        return
    page = os.path.join(out, "sweep.html")
    dom = browse(browser, page, "--dump-dom")
    body, attrs, charts = page_state(dom)
    if attrs.get("data-ready") != "true" or "data-errors" in attrs:
        problem(f"sweep.html: not drawn, or script errors: {body}")
    if len(charts) < 1 or 0 in charts:
        problem(f"sweep.html: charts {charts}: one per metric shown, each with data")
    if 'class="heat"' not in dom:
        problem("sweep.html: no heat map for a two-axis grid")
    links = re.findall(r'<a href="(points/p\d+/report.html)"', dom)
    if len(links) != 4:
        problem(f"sweep.html: {len(links)} links to the points' reports, expected 4")
    for link in links[:1]:
        point = json.load(open(os.path.join(out, os.path.dirname(link), "seed-1", "report.json")))
        check_page(browser, "sweep." + os.path.dirname(link).replace("/", "."), os.path.join(out, os.path.dirname(link)),
                   point)
    browse(browser, page, "--window-size=1280,2000", "--screenshot=" + os.path.join(work, "sweep.png"))
    print(f"ok sweep.html: {len(charts)} charts, {attrs.get('data-points')} points, {len(links)} point reports",
          flush=True)


def check_compare(browser, fleetsim, source, work, env):
    """compare.html of two runs (curves overlaid, a chart per operation) and of a sweep with itself (metrics only)."""
    def fleetsim_run(*args):
        return subprocess.run([fleetsim, *args], cwd=source, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=600)
    base, slow, out = (os.path.join(work, "compare", d) for d in ("base", "slow", "out"))
    fleetsim_run("run", "scenarios/uplink_sizing.lua", "-p", "stores=2", "--out", base, "-q", "--no-html")
    fleetsim_run("run", "scenarios/uplink_sizing.lua", "-p", "stores=2", "-p", "uplink=16Mbps", "--out", slow, "-q",
                 "--no-html")
    p = fleetsim_run("compare", base, slow, "--out", out)
    if p.returncode != 1:
        problem(f"compare: exited {p.returncode} (a 20 % slower uplink must be a regression): {p.stderr[-2000:]}")
    for label, page, wanted in (("compare.runs", os.path.join(out, "compare.html"), 2),
                                ("compare.sweeps", None, 0)):
        if page is None:
            sweep = os.path.join(work, "sweep")
            fleetsim_run("compare", sweep, sweep, "--out", os.path.join(work, "compare", "sweeps"))
            page = os.path.join(work, "compare", "sweeps", "compare.html")
        if not os.path.exists(page):
            problem(f"{label}: no compare.html")
            continue
        dom = browse(browser, page, "--dump-dom")
        body, attrs, charts = page_state(dom)
        if attrs.get("data-ready") != "true" or "data-errors" in attrs:
            problem(f"{label}: not drawn, or script errors: {body}")
        if len(charts) < wanted or 0 in charts:
            problem(f"{label}: charts {charts}, expected {wanted} with data")
        if '<table id="metrics">' not in dom or "REGRESSION" not in dom and label == "compare.runs":
            problem(f"{label}: the metrics table, with the regression, is missing")
        print(f"ok {label}: {len(charts)} charts", flush=True)
    browse(browser, os.path.join(out, "compare.html"), "--window-size=1280,1600",
           "--screenshot=" + os.path.join(work, "compare.png"))


def check_page(browser, label, out, report):
    page = os.path.join(out, "report.html")
    if not os.path.exists(page):
        problem(f"{label}: no report.html")
        return
    text = open(page, encoding="utf-8").read()
    for attr, url in re.findall(r'\b(src|href)\s*=\s*["\']([^"\']+)', text):
        if not url.startswith("#"):
            problem(f"{label}: report.html loads {attr}={url!r}: a report must hold everything it shows")
    size = os.path.getsize(page)
    dom = browse(browser, page, "--dump-dom")
    body, attrs, charts = page_state(dom)
    if attrs.get("data-ready") != "true":
        problem(f"{label}: the page's script did not finish (body {body})")
    if "data-errors" in attrs:
        problem(f"{label}: script errors: {html.unescape(attrs['data-errors'])}")
    empty = [k for k, n in enumerate(charts) if n == 0]
    if empty:
        problem(f"{label}: {len(empty)} of {len(charts)} charts without data")
    wanted = len(report.get("operations", []))
    if report.get("states"):
        wanted += 1
    if report.get("telemetry"):
        wanted += 2
    if len(charts) < wanted:
        problem(f"{label}: {len(charts)} charts, expected at least {wanted}")
    # The charts of bytes over time (with states sampled), of drains (outages that left a backlog) and of delivery
    # delays (messages delivered), each by its title.
    titles = [html.unescape(t) for t in re.findall(r'<div class="chart"[^>]*><h3>([^<]*)</h3>', dom)]
    groups = (report.get("telemetry") or {}).get("groups", [])
    for needed, title in ((bool(report.get("states")), "Registry egress"),
                          (any(g["drains"] > g["undrained"] for g in groups), "Drain time after each outage"),
                          (any(g["delivered"] > 0 for g in groups), "Delivery delay")):
        if needed and not any(t.startswith(title) for t in titles):
            problem(f"{label}: no chart '{title}...' (charts: {titles})")
    result = re.search(r'<span class="result [a-z]+" id="result">([A-Z]+)</span>', dom)
    if not result or result.group(1) != report["result"].upper():
        problem(f"{label}: the header does not show the result {report['result'].upper()}")
    for op in report.get("operations", []):
        for reason in op.get("failures_by_reason", {}):
            if f'<option value="{reason}">' not in dom:
                problem(f"{label}: the node table cannot be filtered by the failure reason {reason!r}")
    for e in report.get("expectations", []):
        if html.escape(e["expect"], quote=False) not in dom:
            problem(f"{label}: expectation {e['expect']!r} is not on the page")
    if label in SCREENSHOTS:
        browse(browser, page, f"--window-size=1280,{SCREENSHOTS[label]}",
               "--screenshot=" + os.path.join(os.path.dirname(out), label + ".png"))
    print(f"ok {label}: {len(charts)} charts, {attrs.get('data-points')} points, {size / 1e6:.2f} MB", flush=True)


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    fleetsim, source, work = (os.path.abspath(a) for a in argv[1:])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    browser = chromium()
    env = dict(os.environ, CI="1")
    jobs = []
    for name in sorted(os.listdir(os.path.join(source, "scenarios"))):
        if not name.endswith(".lua"):
            continue
        label = name[:-4]
        args = ["--seed", "7"]
        if label == "rollout_10k":  # 10,000 nodes: at a tenth of its size, as tests/tools/snapshot_outputs does
            args += ["--set", "site.dsl.count=20", "--set", "site.lte.count=12", "--set", "site.fiber.count=8"]
        jobs.append((label, [fleetsim, "run", os.path.join("scenarios", name), *args, "--out",
                             os.path.join(work, label), "--no-progress", "-q"]))

    def one(job):
        label, command = job
        p = subprocess.run(command, cwd=source, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=600)
        out = command[command.index("--out") + 1]
        if p.returncode not in (0, 1):
            problem(f"{label}: fleetsim run exited {p.returncode}: {p.stderr[-2000:]}")
            return
        check_page(browser, label, out, json.load(open(os.path.join(out, "report.json"))))

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, jobs))
    check_sweep(browser, fleetsim, source, work, env)
    check_compare(browser, fleetsim, source, work, env)
    if PROBLEMS:
        print(f"{len(PROBLEMS)} problem(s)")
        return 1
    print(f"every report.html of {len(jobs)} example scenarios renders with data")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

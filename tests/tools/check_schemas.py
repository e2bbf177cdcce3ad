#!/usr/bin/env python3
"""The JSON Schemas of fleetsim's reports (reports/schemas/) against real outputs, and docs/REPORTS.md against both.

    check_schemas.py FLEETSIM_BINARY SOURCE_DIR WORKDIR

Runs the fleetsim binary (from SOURCE_DIR, so scenario paths stay relative) on runs that together write every
optional part of the reports: every example scenario (rollout_10k at a tenth of its size), a failed expectation,
a run stopped at max_time (an invariant fails), SimGrid's solver, a scenario written here that has every kind of
fault, telemetry that never drains, batches and unplaced nodes, a scenario error found by running (exit 2, with a
report), a scenario that does not load (exit 2, no report), an interrupted run (SIGTERM, exit 130), a sweep, and a
sweep in two shards merged (failed, erroring and missing runs, metrics no seed reached). Then:

  1. each schema is a valid draft 2020-12 schema, with $id, title and a description on every property;
  2. every report.json, events.jsonl line, sweep.json and sweep_definition.json written validates against its
     schema (every error printed as file, JSON path, message);
  3. the runs reached what the schemas describe as optional (so this test keeps covering it);
  4. mutated copies of real outputs (a field removed, an unknown field, a wrong type, ...) are rejected;
  5. every property name of the schemas, and every column of the CSV files written, is in docs/REPORTS.md.

Needs python3-jsonschema (Debian 12's 4.10 or later; .ci/setup installs it). Exit 0 when everything holds, 1 with
the list of problems otherwise. Registered in ctest as report_schemas (tests/CMakeLists.txt).
"""
import copy
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

try:
    from jsonschema import Draft202012Validator
except ImportError:  # pragma: no cover
    sys.exit("check_schemas.py: the Python module jsonschema is missing (Debian: apt-get install python3-jsonschema; "
             ".ci/setup installs it)")

SCHEMAS = ("report", "event", "sweep", "sweep_definition")
PROBLEMS = []


def problem(text):
    PROBLEMS.append(text)
    print("FAIL " + text, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Scenarios written for this test: together with the examples they reach every optional part of the reports.

# Every fault kind but gpu_failure (gpu_inference.lua has it), random outages, a custom bus and a preset one,
# telemetry that never drains (kiosks: 10 kB/s over a 64 kbps uplink), a node crash on a bus's node (bus.crash and
# bus.boot), a deploy with unplaced nodes, a rollout in batches that fails on nodes without room, a rollout whose
# nodes time out, an expectation at another percentage (time_to_95), and expectations never reached.
KITCHEN_SINK = """\
scenario { name = "kitchen_sink" }
local uplink = param("uplink", "20Mbps")
local stores = param("stores", 4)
site { name = "store", count = stores, nodes = 2, uplink = { down = uplink, up = "2Mbps", latency = "40ms" },
       labels = { region = "west" },
       sensors = { { name = "temp", rate = "2/s", size = "100B" } },
       bus = { storage = "memory", max_bytes = "64KiB", ttl = "20m" } }
site { name = "kiosk", count = 3, nodes = 1, uplink = { down = "10Mbps", up = "64kbps", latency = "60ms" },
       sensors = { { name = "cam", rate = "100/s", size = "100B" } }, bus = { preset = "mosquitto_bridge" },
       hardware = { memory = "1GiB" }, outages = { mtbf = "30m", mttr = "2m" } }
app { name = "pos", versions = { ["1.0"] = { image = "20MiB" },
                                 ["2.0"] = { image = "25MiB", requires = { memory = "2GiB" } },
                                 ["3.0"] = { image = "30MiB", start_time = "3h" } } }
app { name = "big", versions = { ["1"] = { image = "5MiB", requires = { memory = "4GiB" } } } }
at("0s", deploy { app = "pos", version = "1.0", name = "install" })
at("0s", deploy { app = "big", version = "1", name = "big_install" })
at("20m", fault.degrade { template = "store", factor = 0.5, duration = "10m", name = "slow" })
at("25m", fault.registry_outage { duration = "1m", name = "reg" })
at("30m", rollout { app = "pos", version = "2.0", name = "upgrade",
                    strategy = { kind = "batches", size = 3, healthy_time = "2m" } })
at("32m", fault.node_crash { nodes = { "store-1/n1" }, reboot_after = "3m", name = "power" })
at("33m", fault.disk_full { nodes = { "store-2/n2" }, free = "1MiB", duration = "5m", name = "disk" })
at("34m", fault.orchestrator_restart { downtime = "2m", name = "orch" })
at("2h", rollout { app = "pos", version = "3.0", name = "slowstart", node_deadline = "10m" })
simulation { duration = "30m", states_sample = "10m", telemetry_sample = "10m" }
expect "upgrade.time_to_95 <= 1h"
expect "slowstart.time_to_100 <= 1h"
expect "fleet.nodes >= 1"
"""

# A fault after the run's end: found only by running, so the run writes its reports with "result": "error".
LATE_FAULT = """\
scenario { name = "late_fault" }
site { name = "store", count = 2, nodes = 1, uplink = { down = "20Mbps", latency = "40ms" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("10h", fault.partition { sites = { "store-1" }, duration = "1h", name = "too_late" })
"""

# Does not load (an unknown key): exit 2 and junit.xml only.
BAD = """\
scenario { name = "bad" }
site { name = "store", count = 2, nodes = 1, uplink = { down = "20Mbps", latency = "40ms" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install", colour = "red" })
"""

# Long enough in wall time (seconds) to be interrupted in the middle (tests/cli_test.cpp's kLongRun).
LONG = """\
scenario { name = "long" }
site { name = "store", count = 300, nodes = 10, uplink = { down = "20Mbps", latency = "40ms" },
       agent = { notify_jitter = "30s" } }
app { name = "pos", versions = { ["1"] = { image = "50MiB" }, ["2"] = { image = "60MiB" } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
for hour = 1, 100 do
  at(hour .. "h", rollout { app = "pos", version = tostring(2 - hour % 2), name = "flip" .. hour })
end
"""

# A sweep's grid with a passing point, a failing one (no seed reaches upgrade.time_to_100: statistics with n = 0)
# and erroring ones (the fault comes after the run's end: exit 2).
SWEEP_PROBE = """\
scenario { name = "sweep_probe" }
local crash = param("crash", 0)
local fault_at = param("fault_at", "1m")
site { name = "store", count = 3, nodes = 1, uplink = { down = "20Mbps", latency = "40ms" } }
app { name = "pos", versions = { ["1"] = { image = "10MiB" }, ["2"] = { image = "12MiB", crash_on_start = crash } } }
at("0s", deploy { app = "pos", version = "1", name = "install" })
at("5m", rollout { app = "pos", version = "2", name = "upgrade" })
at(fault_at, fault.partition { sites = { "store-1" }, duration = "1m", name = "blip" })
expect "upgrade.failed == 0"
"""


class Runner:
    def __init__(self, fleetsim, source, work):
        self.fleetsim, self.source, self.work = fleetsim, source, work
        self.env = dict(os.environ, CI="1")  # never a progress line

    def scenario(self, name, text):
        path = os.path.join(self.work, "scenarios", name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def command(self, args, out, expected, label):
        """Runs fleetsim with args (from SOURCE_DIR); a problem if its exit code is not one of expected."""
        started = time.monotonic()
        p = subprocess.run([self.fleetsim] + args, cwd=self.source, env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
        took = time.monotonic() - started
        print(f"  {label}: exit {p.returncode} in {took:.1f} s", flush=True)
        if p.returncode not in expected:
            problem(f"{label}: fleetsim {' '.join(args)} exited {p.returncode}, expected {sorted(expected)}\n"
                    f"--- stdout\n{p.stdout[-3000:]}--- stderr\n{p.stderr[-3000:]}")
        return p.returncode

    def run(self, label, scenario, expected, *extra):
        out = os.path.join(self.work, "runs", label)
        self.command(["run", scenario, "--out", out, "--no-progress", "-q"] + list(extra), out, expected, label)

    def interrupted(self, label, scenario):
        """Starts a long run, waits until it has loaded its scenario (its first line), then sends SIGTERM."""
        out = os.path.join(self.work, "runs", label)
        started = time.monotonic()
        p = subprocess.Popen([self.fleetsim, "run", scenario, "--out", out, "--no-progress"], cwd=self.source,
                             env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        p.stdout.readline()
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=120)
        print(f"  {label}: exit {p.returncode} in {time.monotonic() - started:.1f} s", flush=True)
        if p.returncode != 130:
            problem(f"{label}: expected exit 130 after SIGTERM, got {p.returncode}\n--- stdout\n{stdout[-3000:]}"
                    f"--- stderr\n{stderr[-3000:]}")


def produce_outputs(runner):
    os.makedirs(os.path.join(runner.work, "scenarios"))
    kitchen = runner.scenario("kitchen_sink.lua", KITCHEN_SINK)
    late = runner.scenario("late_fault.lua", LATE_FAULT)
    bad = runner.scenario("bad.lua", BAD)
    long_run = runner.scenario("long.lua", LONG)
    probe = runner.scenario("sweep_probe.lua", SWEEP_PROBE)
    sweeps = os.path.join(runner.work, "sweeps")

    jobs = []  # (function, args): run two at a time, the longest first
    for path in sorted(glob.glob(os.path.join(runner.source, "scenarios", "*.lua")), key=lambda p: (
            os.path.basename(p) != "outage_cache.lua", p)):
        name = os.path.splitext(os.path.basename(path))[0]
        rel = os.path.relpath(path, runner.source)
        if name == "rollout_10k":  # 10,000 nodes: at a tenth of its size, as tests/tools/snapshot_outputs runs it
            jobs.append((runner.run, ("example.rollout_10k.small", rel, {0, 1}, "--seed", "7", "--set",
                                      "site.dsl.count=20", "--set", "site.lte.count=12", "--set", "site.fiber.count=8")))
        else:
            jobs.append((runner.run, ("example." + name, rel, {0, 1}, "--seed", "7")))
    jobs += [
        (runner.run, ("failed_expectation", "scenarios/uplink_sizing.lua", {1}, "-p", "budget=1m", "-p", "stores=5",
                      "--seed", "2")),
        (runner.run, ("max_time", "scenarios/uplink_sizing.lua", {1}, "-p", "stores=5", "--set",
                      "simulation.max_time=700s")),
        (runner.run, ("simgrid_solver", "scenarios/rollout_basic.lua", {0}, "--set", "simulation.crosstraffic=true",
                      "--cfg", "network/TCP-gamma:4194304")),
        (runner.run, ("kitchen_sink", kitchen, {1}, "-p", "stores=3", "--set", "site.kiosk.count=2")),
        (runner.run, ("scenario_error_at_run_time", late, {2})),
        (runner.run, ("scenario_does_not_load", bad, {2})),
        (runner.interrupted, ("interrupted", long_run)),
        (runner.command, (["sweep", "scenarios/uplink_sizing.lua", "-p", "uplink=10Mbps,20Mbps", "--seeds", "2", "-j",
                           "2", "--set", "simulation.states_sample=10m", "--out", os.path.join(sweeps, "sizing"),
                           "--no-progress"], None, {0}, "sweep sizing")),
    ]
    probe_args = ["sweep", probe, "-p", "crash=0,1", "-p", "fault_at=1m,10h", "--seeds", "2", "-j", "2",
                  "--no-progress"]
    # Exit 1 or 3 (runs failed, runs in error): the sweep's exit code is not what this test is about.
    shard_jobs = [(runner.command, (probe_args + ["--shard", f"{i}/2", "--out", os.path.join(sweeps, f"probe-{i}")],
                                    None, {1, 2, 3}, f"sweep probe shard {i}/2")) for i in (0, 1)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(f, *a) for f, a in jobs + shard_jobs]:
            future.result()
    runner.command(["merge", "--out", os.path.join(sweeps, "probe-merged"), os.path.join(sweeps, "probe-0"),
                    os.path.join(sweeps, "probe-1")], None, {1, 2, 3}, "merge probe")


# ---------------------------------------------------------------------------------------------------------------
# 1. The schemas themselves.

def walk_properties(schema, path="#"):
    """Yields (path, name, subschema) for every entry of every "properties" in a schema, however deep, except in
    the conditions (if, then, else, not), which only narrow properties declared and described elsewhere."""
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            yield f"{path}/properties/{name}", name, sub
        for key, value in schema.items():
            if key not in ("if", "then", "else", "not") and isinstance(value, (dict, list)):
                yield from walk_properties(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from walk_properties(value, f"{path}/{i}")


def load_schemas(source):
    schemas = {}
    for name in SCHEMAS:
        path = os.path.join(source, "reports", "schemas", f"{name}.schema.json")
        with open(path) as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)  # raises, with the reason, on a schema that is not valid
        if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problem(f"{path}: $schema is not draft 2020-12")
        for key in ("$id", "title", "description"):
            if not schema.get(key):
                problem(f"{path}: no {key}")
        for where, prop, sub in walk_properties(schema):
            if not isinstance(sub, dict) or not sub.get("description"):
                problem(f"{path}: {where} has no description")
        schemas[name] = schema
    # sweep.json starts with its definition: the same fields, described the same way.
    for prop, sub in schemas["sweep_definition"]["properties"].items():
        if prop != "schema" and schemas["sweep"]["properties"].get(prop) != sub:
            problem(f"sweep.schema.json: property {prop} differs from sweep_definition.schema.json's")
    return schemas


# ---------------------------------------------------------------------------------------------------------------
# 2. Real outputs against the schemas.

def errors_of(validator, instance):
    return sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))


def check(validator, instance, where):
    errors = errors_of(validator, instance)
    for e in errors[:20]:
        problem(f"{where}: {e.json_path}: {e.message[:300]} (schema: {'/'.join(map(str, e.absolute_schema_path))})")
    if len(errors) > 20:
        problem(f"{where}: {len(errors) - 20} more errors")
    return not errors


def read_json(path):
    with open(path) as f:
        return json.load(f)


def validate_outputs(work, validators):
    """Validates every report of every run (the sweeps' runs too); returns what was read, for the checks below."""
    seen = {"reports": {}, "events": [], "sweeps": {}, "definitions": {}}
    run_dirs = sorted(glob.glob(os.path.join(work, "runs", "*")) +
                      glob.glob(os.path.join(work, "sweeps", "*", "points", "*", "seed-*")))
    for d in run_dirs:
        if not os.path.isdir(d):
            continue
        rel = os.path.relpath(d, work)
        report_path = os.path.join(d, "report.json")
        if os.path.exists(report_path):
            report = read_json(report_path)
            check(validators["report"], report, os.path.relpath(report_path, work))
            seen["reports"][rel] = report
            present = set(os.listdir(d))
            if set(report.get("files", [])) != present:
                problem(f"{rel}: report.json lists files {sorted(report.get('files', []))}, the directory has "
                        f"{sorted(present)}")
        events_path = os.path.join(d, "events.jsonl")
        if os.path.exists(events_path):
            last_t = 0.0
            with open(events_path) as f:
                for number, line in enumerate(f, 1):
                    where = f"{os.path.relpath(events_path, work)}:{number}"
                    try:
                        event = json.loads(line)
                    except ValueError as e:
                        problem(f"{where}: not JSON ({e})")
                        continue
                    check(validators["event"], event, where)
                    seen["events"].append(event)
                    t = event.get("t")
                    if isinstance(t, (int, float)):
                        if t < last_t:
                            problem(f"{where}: t = {t} comes before the previous line's {last_t} (not in time order)")
                        last_t = t
    for d in sorted(glob.glob(os.path.join(work, "sweeps", "*"))):
        rel = os.path.relpath(d, work)
        for name, key, schema in (("sweep.json", "sweeps", "sweep"),
                                  ("sweep_definition.json", "definitions", "sweep_definition")):
            path = os.path.join(d, name)
            if not os.path.exists(path):
                problem(f"{rel}: no {name}")
                continue
            instance = read_json(path)
            check(validators[schema], instance, os.path.relpath(path, work))
            seen[key][rel] = instance
        sweep, definition = seen["sweeps"].get(rel), seen["definitions"].get(rel)
        if sweep and definition:
            for field in definition:
                if field != "schema" and sweep.get(field) != definition[field]:
                    problem(f"{rel}: sweep.json's {field} differs from sweep_definition.json's")
            for point in sweep.get("points", []):
                for run in point.get("runs", []):
                    if run.get("dir") != f"points/{point.get('id')}/seed-{run.get('seed')}":
                        problem(f"{rel}/sweep.json: point {point.get('id')}: run dir {run.get('dir')} is not "
                                f"points/<id>/seed-<seed>")
    return seen


# ---------------------------------------------------------------------------------------------------------------
# 3. The runs reached what the schemas describe as optional (else this test would stop testing it).

def check_coverage(work, seen, schemas):
    reports = list(seen["reports"].values())
    report_props = schemas["report"]["properties"]
    ops = [op for r in reports for op in r.get("operations", [])]
    groups = [g for r in reports for g in r.get("telemetry", {}).get("groups", [])]
    points = [p for s in seen["sweeps"].values() for p in s.get("points", [])]
    stats = [m for p in points for m in p.get("metrics", {}).values()]
    wanted = {
        "every result": {r.get("result") for r in reports} >= set(report_props["result"]["enum"]),
        "telemetry": any("telemetry" in r for r in reports),
        "telemetry.never_drains not empty": any(r.get("telemetry", {}).get("never_drains") for r in reports),
        "a custom bus and a preset": "custom" in {g.get("preset") for g in groups} and
                                      any(g.get("preset") not in ("custom", "") for g in groups),
        "gpu frames": any(g.get("gpu", {}).get("frames_arrived") for g in groups),
        "telemetry drain times": any(g.get("drain_max_s") is not None for g in groups),
        "scenario_errors": any("scenario_errors" in r for r in reports),
        "hit_max_time": any(r.get("hit_max_time") for r in reports),
        "invariant_violations": any(r.get("invariant_violations") for r in reports),
        "network.solver null and not": {r.get("network", {}).get("solver") is None for r in reports} == {True, False},
        "scenario.parameters given": any(p.get("given") for r in reports for p in r["scenario"].get("parameters", [])),
        "scenario.overrides": any(r["scenario"].get("overrides") for r in reports),
        "an engine setting from --cfg": any(k not in schemas["report"]["properties"]["engine"]["properties"]
                                            for r in reports for k in r.get("engine", {})),
        "every fault kind": {f.get("kind") for r in reports for f in r.get("faults", [])} >=
                            set(schemas["report"]["$defs"]["fault"]["properties"]["kind"]["enum"]),
        "every event type": {e.get("type") for e in seen["events"]} >=
                            set(schemas["event"]["properties"]["type"]["enum"]),
        "an operation never finished": any(op.get("finished_at_s") is None for op in ops),
        "an aborted operation": any(op.get("aborted_at_s") is not None for op in ops),
        "a rollback": any(op.get("is_rollback") for op in ops),
        "unplaced nodes": any(op.get("unplaced") for op in ops),
        "failed and timed-out nodes": {n.get("outcome") for op in ops for n in op.get("failed_nodes", [])} >=
                                      {"failed", "timed_out"},
        "several batches": any(len(op.get("batches", [])) > 1 for op in ops),
        "a batch never completed": any(b.get("completed_s") is None for op in ops for b in op.get("batches", [])),
        "time_to_pct_s beyond 50/90/99/100": any(set(op.get("time_to_pct_s", {})) - {"50", "90", "99", "100"}
                                                 for op in ops),
        "an expectation never measured": any(e.get("measured") is None for r in reports
                                             for e in r.get("expectations", [])),
        "every unit of expectations": {e.get("unit") for r in reports for e in r.get("expectations", [])} >=
                                      {"seconds", "bytes", "count"},
        "sweep runs of every result": {run.get("result") for p in points for run in p.get("runs", [])} >=
                                      {"pass", "fail", "error", "missing"},
        "statistics with n = 0 and n > 0": {s.get("n", 0) > 0 for s in stats} == {True, False},
        "sweep run_args": any(s.get("run_args") for s in seen["sweeps"].values()),
        "a bad scenario writes junit.xml and no report.json":
            sorted(os.listdir(os.path.join(work, "runs", "scenario_does_not_load"))) == ["junit.xml"],
    }
    for what, reached in wanted.items():
        if not reached:
            problem(f"coverage: no run wrote {what} (a scenario of this test changed?)")


# ---------------------------------------------------------------------------------------------------------------
# 4. The schemas reject what is wrong: mutated copies of real outputs.

def mutations_of_report(report):
    def m(description, change):
        copy_ = copy.deepcopy(report)
        change(copy_)
        return description, copy_

    def first_op(r):
        return r["operations"][0]

    def set_(path, value):
        def change(r):
            target = r
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        return change

    return [
        m("a required field removed (result)", lambda r: r.pop("result")),
        m("an unknown top-level field (wall_s)", set_(["wall_s"], 1.5)),
        m("a count as a string (fleet.nodes)", set_(["fleet", "nodes"], "8")),
        m("a negative count (nodes_failed)", set_(["nodes_failed"], -1)),
        m("null where a time is always known (operations[0].started_at_s)", lambda r: first_op(r).update(
            started_at_s=None)),
        m("a string where a time or null goes (operations[0].finished_at_s)", lambda r: first_op(r).update(
            finished_at_s="soon")),
        m("an unknown field in an operation", lambda r: first_op(r).update(colour="red")),
        m("time_to_pct_s without 100", lambda r: first_op(r)["time_to_pct_s"].pop("100")),
        m("time_to_pct_s at 101 %", lambda r: first_op(r)["time_to_pct_s"].update({"101": 1.0})),
        m("a result outside the enum", set_(["result"], "passed")),
        m("an unknown drop reason", lambda r: r["telemetry"]["groups"][0]["dropped_by_reason"].update(lost=1)),
        m("a unit outside the enum", lambda r: r["expectations"][0].update(unit="minutes")),
        m("scenario_errors with result fail", lambda r: r.update(scenario_errors=["x.lua:1: late"])),
        m("a SimGrid setting that is not a string", lambda r: r["engine"].update({"surf/precision": 1e-9})),
        m("a file the run never writes", lambda r: r["files"].append("summary.txt")),
        m("a failed node with an unknown outcome",
          lambda r: next(op for op in r["operations"] if op["failed_nodes"])["failed_nodes"][0].update(
              outcome="pending")),
        m("versions with a version entry that is empty",
          lambda r: r["versions"][sorted(r["versions"])[0]].update({"9.9": {}})),
    ]


def mutations_of_event(event):
    def m(description, **changes):
        e = dict(event, **changes)
        return description, {k: v for k, v in e.items() if v is not None}

    return [
        m("an unknown type", type="fault.begin"),
        m("a missing target", target=None),
        m("a time as a string", t="10s"),
        m("a bus event with a fault kind", type="bus.crash", fault="", kind="partition"),
        m("an unknown field", colour="red"),
    ]


def mutations_of_sweep(sweep):
    def m(description, change):
        copy_ = copy.deepcopy(sweep)
        change(copy_)
        return description, copy_

    def reached(s):  # the statistics of a metric some seed reached
        for p in s["points"]:
            for stats in p["metrics"].values():
                if stats["n"] > 0:
                    return stats
        raise AssertionError("no statistics with n > 0")

    def first_run(s):
        return s["points"][0]["runs"][0]

    return [
        m("statistics without their mean", lambda s: reached(s).pop("mean")),
        m("a missing run with an exit code", lambda s: first_run(s).update(result="missing", exit_code=0)),
        m("a run with a result outside the enum", lambda s: first_run(s).update(result="passed")),
        m("an unknown field in a point", lambda s: s["points"][0].update(wall_s=3.0)),
        m("a seed as a number", lambda s: first_run(s).update(seed=1)),
        m("schema_version 2", lambda s: s.update(schema_version=2)),
    ]


def check_rejections(seen, validators):
    kitchen = seen["reports"].get("runs/kitchen_sink")
    merged = seen["sweeps"].get("sweeps/probe-merged")
    if kitchen is None or merged is None or not seen["events"]:
        problem("mutations: the kitchen_sink report, the merged sweep or events are missing")
        return
    cases = [("report", kitchen, mutations_of_report(kitchen)),
             ("event", seen["events"][0], mutations_of_event(seen["events"][0])),
             ("sweep", merged, mutations_of_sweep(merged))]
    for schema, original, mutations in cases:
        if errors_of(validators[schema], original):
            problem(f"mutations: the original {schema} is not valid, so no mutation proves anything")
            continue
        for description, mutated in mutations:
            errors = errors_of(validators[schema], mutated)
            if errors:
                print(f"  rejected as it should: {schema} with {description}: {errors[0].json_path}: "
                      f"{errors[0].message[:120]}")
            else:
                problem(f"mutations: {schema}.schema.json accepts a {schema} with {description}")


# ---------------------------------------------------------------------------------------------------------------
# 5. docs/REPORTS.md names every property of the schemas and every column of the CSV files.

def csv_header(path):
    with open(path) as f:
        return next(iter(f), "").rstrip("\n").split(",")


def documented_columns(work, seen):
    """(file, column as docs/REPORTS.md writes it) for every CSV column the runs wrote."""
    columns = set()
    stats = ("mean", "p50", "p95", "min", "max")
    for rel, report in seen["reports"].items():
        d = os.path.join(work, rel)
        ops = sorted((op["name"] for op in report.get("operations", [])), key=len, reverse=True)
        reasons = {f"dropped_{r}" for g in report.get("telemetry", {}).get("groups", [])
                   for r in g.get("dropped_by_reason", {})}
        for name in ("nodes.csv", "states.csv", "network.csv", "telemetry.csv", "telemetry_sites.csv",
                     "telemetry_drains.csv"):
            path = os.path.join(d, name)
            if not os.path.exists(path):
                continue
            for column in csv_header(path):
                op = next((o for o in ops if column.startswith(o + ".")), None) if name == "nodes.csv" else None
                if op is not None:
                    column = "<op>." + column[len(op) + 1:]
                elif column in reasons:
                    column = "dropped_<reason>"
                columns.add((name, column))
    for rel, sweep in seen["sweeps"].items():
        axes = {a["name"] for a in sweep.get("axes", [])}
        for column in csv_header(os.path.join(work, rel, "sweep.csv")):
            if column in axes:
                column = "<axis>"
            elif column.rsplit(".", 1)[-1] in stats and "." in column:
                column = "<metric>." + column.rsplit(".", 1)[-1]
            columns.add(("sweep.csv", column))
    return columns


def check_docs(source, work, schemas, seen):
    path = os.path.join(source, "docs", "REPORTS.md")
    with open(path) as f:
        docs = f.read()
    named = set(re.findall(r"`([^`\n]+)`", docs))
    for schema_name, schema in schemas.items():
        for where, prop, _ in walk_properties(schema):
            if prop not in named:
                problem(f"docs/REPORTS.md does not name `{prop}` ({schema_name}.schema.json {where})")
    for name, column in sorted(documented_columns(work, seen)):
        if column not in named:
            problem(f"docs/REPORTS.md does not name `{column}`, a column of {name}")


# ---------------------------------------------------------------------------------------------------------------

def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    fleetsim, source, work = os.path.abspath(argv[1]), os.path.abspath(argv[2]), os.path.abspath(argv[3])
    started = time.monotonic()
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    schemas = load_schemas(source)
    validators = {name: Draft202012Validator(schema) for name, schema in schemas.items()}
    print(f"schemas: {', '.join(f'{n}.schema.json' for n in SCHEMAS)} are valid draft 2020-12 schemas")
    print(f"running {fleetsim} into {work}:")
    produce_outputs(Runner(fleetsim, source, work))
    seen = validate_outputs(work, validators)
    print(f"validated {len(seen['reports'])} report.json, {len(seen['events'])} events.jsonl lines, "
          f"{len(seen['sweeps'])} sweep.json and {len(seen['definitions'])} sweep_definition.json")
    check_coverage(work, seen, schemas)
    check_rejections(seen, validators)
    check_docs(source, work, schemas, seen)
    print(f"{len(PROBLEMS)} problem(s) in {time.monotonic() - started:.1f} s")
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

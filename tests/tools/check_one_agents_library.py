#!/usr/bin/env python3
"""Proof that the simulator and the real runtime run the same agents code (issue 14): one library, linked into both.

  check_one_agents_library.py --nm NM --agents libfleetsim_agents.a
      --archive libfleetsim_sim.a --archive libfleetsim_net.a ...
      --map fleetsim.map=node_agent,orchestrator,telemetry --map fleetsim-agent.map=node_agent ...

1. The agents archive defines the agents' code (strong text symbols in fleetsim::agents).
2. No other library of the build defines any of it: a second copy of any agents logic (a source compiled twice, a
   function pasted into a runtime) would show up as a strong fleetsim::agents text symbol there.
3. Each executable's linker map (-Map, written by the build: cmake/FleetsimHelpers.cmake fleetsim_link_map) shows
   the members it names taken from that one archive file, with code in them, and no object of the same name from
   anywhere else.
Exit 0 when all hold; 1 with every finding on stderr.
"""
import argparse
import os
import re
import subprocess
import sys

NAMESPACE = "fleetsim::agents::"


def strong_agents_text(nm, archive):
    """Demangled names of the strong (T) text symbols in fleetsim::agents an archive defines."""
    out = subprocess.run([nm, "-C", "--defined-only", archive], check=True, capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] == "T" and parts[2].startswith(NAMESPACE):
            names.add(parts[2])
    return names


def members(archive):
    out = subprocess.run(["ar", "t", archive], check=True, capture_output=True, text=True).stdout
    return [m for m in out.split() if m.endswith(".o")]


MEMBER = re.compile(r"(\S+\.a)\(([^()\s]+\.o)\)")
# An input section of the memory map: " .text 0xADDR 0xSIZE file" on one line, or, when the section's name is long
# (-ffunction-sections: ".text._ZN..."), the name alone and "  0xADDR 0xSIZE file" on the next.
SECTION = re.compile(r"^ (\.\S+)(?:\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+))?\s*$")
CONTINUED = re.compile(r"^\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)\s*$")
IN_ARCHIVE = re.compile(r"^(\S+\.a)\(([^()\s]+\.o)\)$")


def check_map(path, agents_archive, agent_members, wanted):
    """Findings (strings) for one executable's map."""
    findings = []
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    real_agents = os.path.realpath(agents_archive)
    # Relative inputs are relative to where the linker ran: the executable's build directory, where its map is.
    base = os.path.dirname(os.path.abspath(path))

    def real(p):
        return os.path.realpath(p if os.path.isabs(p) else os.path.join(base, p))

    code = {}  # member -> bytes of .text taken from the agents archive
    for line in text.splitlines():
        for archive, member in MEMBER.findall(line):
            if member in agent_members and real(archive) != real_agents:
                findings.append(f"{path}: {member} comes from {archive}, not from {agents_archive}")
    # Code linked in: the .text input sections of the memory map (not its list of discarded sections before it).
    marker = text.find("\nLinker script and memory map")
    if marker < 0:
        findings.append(f"{path}: not a GNU ld map (no 'Linker script and memory map')")
        return findings, code
    section = None
    for line in text[marker:].splitlines():
        m = SECTION.match(line)
        if m:
            section = m.group(1)
            if m.group(2) is None:
                continue  # its address, size and file come on the next line
            size, source = m.group(2), m.group(3)
        else:
            c = CONTINUED.match(line)
            if not c or section is None:
                section = None
                continue
            size, source = c.group(1), c.group(2)
        a = IN_ARCHIVE.match(source)
        if section.startswith(".text") and a and real(a.group(1)) == real_agents:
            code[a.group(2)] = code.get(a.group(2), 0) + int(size, 16)
        section = None
    # A bare object (compiled into the executable itself) with an agents member's name is a second copy.
    for token in re.findall(r"(?<![(\w])(\S*/)?([\w.-]+\.o)(?=\s|$)", text):
        if token[1] in agent_members:
            findings.append(f"{path}: {token[0]}{token[1]} is linked as an object of its own, not from {agents_archive}")
    for member in wanted:
        if code.get(member, 0) == 0:
            findings.append(f"{path}: no code from {agents_archive}({member}) (its linker map names none)")
    return findings, code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--agents", required=True)
    ap.add_argument("--archive", action="append", default=[])
    ap.add_argument("--map", action="append", default=[], help="FILE=member,member (members without .cpp.o)")
    a = ap.parse_args()

    findings = []
    agents_code = strong_agents_text(a.nm, a.agents)
    if len(agents_code) < 10:
        findings.append(f"{a.agents}: defines {len(agents_code)} fleetsim::agents functions; expected the agents' code")
    agent_members = set(members(a.agents))
    for archive in a.archive:
        copies = strong_agents_text(a.nm, archive)
        for name in sorted(copies)[:20]:
            findings.append(f"{archive}: defines {name}, which belongs to the agents library alone")
    for spec in a.map:
        path, _, wanted = spec.partition("=")
        want = [w + ".cpp.o" for w in wanted.split(",") if w]
        for w in want:
            if w not in agent_members:
                findings.append(f"{a.agents}: has no member {w}")
        found, code = check_map(path, a.agents, agent_members, want)
        findings += found
        print(f"{os.path.basename(path)}: " + ", ".join(f"{m} {code.get(m, 0)} B" for m in want))
    print(f"{a.agents}: {len(agents_code)} fleetsim::agents functions; {len(a.archive)} other libraries define none")
    for f in dict.fromkeys(findings):  # each finding once, in order
        print(f, file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

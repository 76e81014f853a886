#!/usr/bin/env python3
"""The boot matrix (`ninja matrix`): boot build/aerie.img from reset on a
set of machines and run ktest on each, two at a time (one per core).

Each row changes one thing from the baseline machine (q35, 1 GiB, -cpu max,
-smp 1, std VGA with no window, the image as a SATA disk); the last row
combines several. A row passes if QEMU exits with status 33 (ktest passed)
and KTAP ends "N passed, 0 failed". Boot times come from the TSC at
loglevel=debug: the loader's cycles before and inside ExitBootServices
(its own serial line) and the kernel's "boot: loader N ms, kernel M ms"
line, converted with the TSC rate the kernel calibrated. Under QEMU TCG
they are emulated, not a real machine's.

usage: scripts/matrix.py [--markdown FILE]  (prints the table; with
--markdown, also writes it, with the command, date and host CPU, to FILE)
"""

import concurrent.futures
import datetime
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import qemu  # noqa: E402  (scripts/qemu.py)
import test  # noqa: E402  (scripts/test.py: Disk, fresh_vars, describe_exit)
import vm  # noqa: E402  (scripts/vm.py)

BASELINE = {"machine": "q35", "mem": "1G", "cpu": "max", "smp": "1", "vga": "std",
            "usb": False}

# (what the row shows, what it changes from BASELINE)
ROWS = [
    ("baseline", {}),
    ("128 MiB", {"mem": "128M"}),
    ("8 GiB", {"mem": "8G"}),
    ("-cpu qemu64", {"cpu": "qemu64"}),
    ("-cpu Nehalem", {"cpu": "Nehalem"}),
    ("-cpu EPYC", {"cpu": "EPYC"}),
    ("-smp 4", {"smp": "4"}),
    ("-machine pc (i440FX)", {"machine": "pc"}),
    ("-vga none", {"vga": "none"}),
    ("USB stick", {"usb": True}),
    ("laptop-like: pc, EPYC, 8 GiB, -smp 4, USB", {"machine": "pc", "cpu": "EPYC",
                                                   "mem": "8G", "smp": "4", "usb": True}),
]

PASSED_RE = re.compile(r"^(\d+) passed, 0 failed(, \d+ skipped)?$", re.M)
LOADER_RE = re.compile(r"^aerie-loader: timing: (\d+) TSC cycles before ExitBootServices, "
                       r"(\d+) in it$", re.M)
KERNEL_RE = re.compile(r"^aerie: boot: loader (\d+) ms, kernel (\d+) ms", re.M)
TSC_RE = re.compile(r"^aerie: timer: .*TSC (\d+) kHz", re.M)


def qemu_extra(machine):
    """QEMU arguments beyond qemu.command's: a later -machine replaces q35."""
    extra = ["-machine", machine["machine"], "-smp", machine["smp"]]
    if machine["vga"] == "none":
        extra += ["-vga", "none"]
    return extra


def timings(log):
    """(loader ms before ExitBootServices, ExitBootServices ms, kernel ms),
    each None if its line is missing."""
    loader, kernel, tsc = LOADER_RE.search(log), KERNEL_RE.search(log), TSC_RE.search(log)
    if not tsc:
        return None, None, int(kernel.group(2)) if kernel else None
    khz = int(tsc.group(1))
    before = int(loader.group(1)) / khz if loader else None
    inside = int(loader.group(2)) / khz if loader else None
    return before, inside, int(kernel.group(2)) if kernel else None


def boot_row(workdir, index, label, changes):
    """Boot one row's machine with `ktest loglevel=debug`; returns its result."""
    machine = dict(BASELINE, **changes)
    name = f"matrix-{index}"
    disk = test.Disk(workdir, name)
    disk.put("/aerie/cmdline", b"ktest loglevel=debug\n")
    status, log, elapsed = vm.boot(disk.path, test.fresh_vars(workdir, name),
                                   mem=machine["mem"], cpu=machine["cpu"], usb=machine["usb"],
                                   timeout=test.BOOT_TIMEOUT, extra=qemu_extra(machine))
    passed = PASSED_RE.search(log)
    problems = []
    if status != qemu.EXIT_TESTS_PASSED:
        problems.append(test.describe_exit(status, elapsed))
    if not passed:
        problems.append("no 'N passed, 0 failed' line")
    return {"label": label, "machine": machine, "ok": not problems,
            "why": "; ".join(problems), "tests": passed.group(1) if passed else "-",
            "times": timings(log), "wall": elapsed, "log": log}


def ms(value):
    return "-" if value is None else f"{value:.0f}"


def disk_kind(machine):
    """How the image is attached: q35's default disk is AHCI, pc's is IDE."""
    if machine["usb"]:
        return "USB (xHCI)"
    return "SATA" if machine["machine"] == "q35" else "IDE"


def table(results):
    """The results as a Markdown table."""
    lines = ["| row | machine | mem | cpu | smp | vga | disk | result | ktests passed | "
             "loader ms | ExitBootServices ms | kernel ms | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        m = r["machine"]
        verdict = "pass" if r["ok"] else f"FAIL: {r['why']}"
        before, inside, kernel = r["times"]
        lines.append(f"| {r['label']} | {m['machine']} | {m['mem']} | {m['cpu']} | {m['smp']} | "
                     f"{m['vga']} | {disk_kind(m)} | {verdict} | "
                     f"{r['tests']} | {ms(before)} | {ms(inside)} | {ms(kernel)} | "
                     f"{r['wall']:.1f} |")
    return "\n".join(lines)


def host_cpu():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main(argv):
    problem = qemu.firmware_missing()
    if problem:
        print(f"matrix.py: {problem}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="aerie-matrix-") as workdir:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(boot_row, workdir, i, label, changes)
                       for i, (label, changes) in enumerate(ROWS)]
            results = [f.result() for f in futures]
    for r in results:
        if not r["ok"]:
            print(f"# {r['label']} failed: {r['why']}; the end of its log:")
            print("\n".join("#   " + line for line in r["log"].splitlines()[-25:]))
    text = table(results)
    print(text)
    failed = sum(not r["ok"] for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    if len(argv) > 2 and argv[1] == "--markdown":
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        Path(argv[2]).write_text(f"Run {stamp} on {host_cpu()} (2 cores, QEMU TCG):\n\n"
                                 f"{text}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

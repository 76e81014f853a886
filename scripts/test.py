#!/usr/bin/env python3
"""Aerie's test driver: `ninja test` runs this after building everything.

The levels of docs/testing.md, run as jobs on one worker per core:
  0. source checks: build.ninja is what configure.py writes; generic code
     includes no x86 header;
  1. host: the portable C under ASan/UBSan (build/host/test_*), and a short
     bounded pass of each fuzzer (build/fuzz/fuzz_*);
  2. in-kernel: boot the real image with `ktest` and read its KTAP;
  3. boot scenarios: boot with other options, RAM sizes, CPUs and broken
     kernel files, and check the serial log (the scenarios themselves are
     tables in scripts/scenarios.py).
Boots that need their own machine (RAM size, CPU model) start the firmware
from reset; the others start from a machine saved at the UEFI shell's prompt
and type the loader's command line there (scripts/vm.py explains why).

Every check prints one "ok N name" / "not ok N name # reason" line; a failed
boot also shows the end of its serial log. A table of where the time went
follows, then the last line "N passed, N failed"; the exit status is 1 if
anything failed.
"""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gdb_aerie  # noqa: E402  (scripts/gdb_aerie.py, outside GDB)
import qemu  # noqa: E402  (scripts/qemu.py)
import repro  # noqa: E402  (scripts/repro.py)
from scenarios import (  # noqa: E402  (scripts/scenarios.py)
    KERNEL_ADDRESS_RE, KERNEL_SCENARIOS, LOADER_CASES, LOADER_OPTION_CASES, PASSED_RE,
    PLAIN_BOOTS, PLAIN_SCENARIOS, SCREEN_PANICS, SCREEN_SCENARIOS, TRUNCATED, truncated_kernel)
import screen  # noqa: E402  (scripts/screen.py)
import secureboot  # noqa: E402  (scripts/secureboot.py)
import vm  # noqa: E402  (scripts/vm.py)

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
# Seconds of fuzzing in all, shared out by weight, at least 2 each. The
# weights follow how slowly each fuzzer explores: the heap and page-table
# fuzzers manage a few hundred runs a second, the ELF fuzzer most of a
# million (its coverage saturates in well under a second). libFuzzer's
# -max_total_time=N takes whole seconds and stops only once more than N
# whole seconds have passed, so it runs N + 1. AERIE_FUZZ_SECONDS changes
# the total; `ninja fuzz` (scripts/fuzz.sh) runs the long campaigns.
FUZZ_SECONDS = int(os.environ.get("AERIE_FUZZ_SECONDS", "15"))
FUZZ_WEIGHTS = {"fuzz_elf": 1, "fuzz_memmap": 2, "fuzz_frame_share": 2, "fuzz_pmm": 2,
                "fuzz_pgtable": 3, "fuzz_heap": 4}
FUZZ_WEIGHT_NEW = 2  # a fuzzer not in the table yet
BOOT_TIMEOUT = int(os.environ.get("AERIE_BOOT_TIMEOUT", "90"))


class Report:
    """Numbered TAP-style result lines and the closing count."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def result(self, name, ok, reason="", log=None):
        n = self.passed + self.failed + 1
        if ok:
            self.passed += 1
            print(f"ok {n} {name}", flush=True)
            return
        self.failed += 1
        print(f"not ok {n} {name} # {reason}", flush=True)
        if log:
            tail = log.strip().splitlines()[-40:]
            print("\n".join("#   " + line for line in tail), flush=True)


def describe_exit(status, elapsed):
    if status is None:
        return f"no exit after {elapsed:.0f} s (hang or still running)"
    if status == qemu.EXIT_PANIC:
        return "kernel panic"
    if status == 0:
        return "QEMU exited 0: triple fault or reset"
    return f"QEMU exit status {status}"


def check_log(log, expect, forbid):
    """Problems: expect (a regex) missing from log, or any of forbid present."""
    problems = [] if re.search(expect, log, re.M) else [f"expected /{expect}/ in the serial log"]
    for pattern in forbid:
        hit = re.search(pattern, log, re.M)
        if hit:
            problems.append(f"unexpected {hit.group(0)!r}")
    if problems:  # failed ktest cases with their reasons, even if they scrolled out of the tail
        problems += [m.group(0).strip() for m in re.finditer(r"^\s*not ok \d+ .*$", log, re.M)][:8]
    return problems


# --- level 0: source checks ---------------------------------------------------------

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
GENERIC_DIRS = ["mm", "kernel", "lib", "include/mm", "include/kernel", "include/lib",
                "include/boot"]
# The one way into an x86 header generic code may take: the inline
# interrupt flag save/restore that spinlocks use.
ALLOWED_X86_EDGES = {("include/arch/irq.h", "include/arch/x86_64/irq.h")}


def include_violations():
    """Chains by which a generic file reaches a header under include/arch/x86_64/."""
    def resolve(src, name):
        for cand in (ROOT / "include" / name, (ROOT / src).parent / name):
            if cand.exists():
                return str(cand.resolve().relative_to(ROOT))
        return None

    def walk(path, seen, chain):
        found = []
        for name in INCLUDE_RE.findall((ROOT / path).read_text()):
            dep = resolve(path, name)
            if not dep or (path, dep) in ALLOWED_X86_EDGES or dep in seen:
                continue
            seen.add(dep)
            if dep.startswith("include/arch/x86_64/"):
                found.append(" -> ".join(chain + [dep]))
            else:
                found += walk(dep, seen, chain + [dep])
        return found

    sources = sorted(str(p.relative_to(ROOT)) for d in GENERIC_DIRS
                     for p in (ROOT / d).iterdir() if p.suffix in (".c", ".h"))
    return [v for src in sources for v in walk(src, set(), [src])], len(sources)


def loader_nx_compat():
    """The loader's PE DllCharacteristics (scripts/pe_nxcompat.py sets NX_COMPAT)."""
    data = (BUILD / "BOOTX64.EFI").read_bytes()
    pe = int.from_bytes(data[0x3C:0x40], "little")
    return int.from_bytes(data[pe + 24 + 70:pe + 24 + 72], "little")


def run_source_checks():
    proc = subprocess.run([sys.executable, str(ROOT / "configure.py"), "--check"],
                          capture_output=True, text=True)
    results = [("source: build.ninja is what configure.py writes", proc.returncode == 0,
                proc.stderr.strip(), None)]
    bad, files = include_violations()
    results.append((f"source: no generic file ({files}) includes an x86 header", not bad,
                    f"{len(bad)} include chains reach include/arch/x86_64/",
                    "\n".join(bad)))
    flags = loader_nx_compat()
    results.append(("source: the loader's PE declares NX_COMPAT", flags & 0x0100 != 0,
                    f"DllCharacteristics {flags:#06x}", None))
    return results


# --- level 1: host tests and fuzzers -----------------------------------------

def run_host_tests():
    results = []
    for binary in sorted(BUILD.glob("host/test_*")):
        args = [str(binary)]
        if binary.name == "test_elf":
            args.append(str(BUILD / "kernel.elf"))  # also check the real kernel
        try:
            proc = subprocess.run(args, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            results.append((f"host/{binary.name}", False, "timed out after 120 s", None))
            continue
        out = proc.stdout.decode("utf-8", "replace")
        seen = failed = 0
        for line in out.splitlines():
            m = re.match(r"(not ok|ok) \d+ (\S+)(?: # (.*))?$", line)
            if m:
                seen += 1
                failed += m.group(1) != "ok"
                results.append((f"host/{binary.name}: {m.group(2)}", m.group(1) == "ok",
                                m.group(3) or "", None))
        if proc.returncode != 0 and (seen == 0 or failed == 0):
            results.append((f"host/{binary.name}", False, f"exit status {proc.returncode}",
                            out + proc.stderr.decode("utf-8", "replace")))
    return results


def fuzz_seconds(binaries):
    """Whole seconds for each fuzzer to run: FUZZ_SECONDS split by FUZZ_WEIGHTS."""
    weights = {b.name: FUZZ_WEIGHTS.get(b.name, FUZZ_WEIGHT_NEW) for b in binaries}
    total = sum(weights.values()) or 1
    return {name: max(2, round(FUZZ_SECONDS * w / total)) for name, w in weights.items()}


def run_fuzzer(binary, seconds):
    """libFuzzer for about seconds (at least 2) from an empty corpus."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as corpus:
        proc = subprocess.run([str(binary), f"-max_total_time={seconds - 1}",
                               "-print_final_stats=1", corpus],
                              capture_output=True, cwd=corpus)
    err = proc.stderr.decode("utf-8", "replace")
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", err)
    name = (f"fuzz/{binary.name} ({runs.group(1) if runs else '?'} runs in "
            f"{time.monotonic() - start:.0f} s)")
    return [(name, proc.returncode == 0, f"exit status {proc.returncode}", err)]


def run_repro(workdir):
    """A clean build of the image from a copy of the sources in another
    directory, under another umask and later, is byte-identical to build/."""
    results, seconds = repro.check_against_build(workdir)
    return [(f"reproducible: a clean build elsewhere (umask 077) gives the same {what} "
             f"({seconds:.1f} s)" if what in repro.OUTPUTS else f"reproducible: {what}",
             not problem, problem or "", None) for what, problem in results]


# --- disks ------------------------------------------------------------------------------

class Disk:
    """A private copy of build/aerie.img whose ESP files can be changed."""

    def __init__(self, workdir, name):
        self.path = Path(workdir) / f"{name}.img"
        shutil.copyfile(BUILD / "aerie.img", self.path)

    def _mtools(self, *args):
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
        subprocess.run(list(args), check=True, env=env, capture_output=True)

    def put(self, esp_path, data):
        src = self.path.with_suffix(".put")
        src.write_bytes(data)
        self._mtools("mcopy", "-o", "-i", f"{self.path}@@{qemu.ESP_OFFSET}", str(src),
                     f"::{esp_path}")

    def mkdir(self, esp_path):
        self._mtools("mmd", "-i", f"{self.path}@@{qemu.ESP_OFFSET}", f"::{esp_path}")

    def delete(self, esp_path):
        self._mtools("mdel", "-i", f"{self.path}@@{qemu.ESP_OFFSET}", f"::{esp_path}")


def fresh_vars(workdir, name):
    path = Path(workdir) / f"{name}.vars"
    shutil.copyfile(qemu.OVMF_VARS, path)
    return path


# --- level 2 and 3, plain boots: the firmware from reset ----------------------------

def ktap_results(log, status, elapsed, label):
    """One result per KTAP line of log, plus one for the run as a whole."""
    ktap = log[log.find("KTAP version 1"):] if "KTAP version 1" in log else ""
    plan = re.search(r"^1\.\.(\d+)$", ktap, re.M)
    cases = re.findall(r"^(not ok|ok) (\d+) (\S+)(?: # (.*))?$", ktap, re.M)
    results = []
    for verdict, _, name, reason in cases:
        if reason.startswith("SKIP"):
            print(f"# ktest: {name} skipped: {reason[4:].strip()}")
        results.append((f"ktest: {name}", verdict == "ok", reason, None))
    problems = []
    if status not in (qemu.EXIT_TESTS_PASSED, qemu.EXIT_TESTS_FAILED):
        problems.append(describe_exit(status, elapsed))
    if not plan or int(plan.group(1)) != len(cases):
        problems.append(f"plan {plan.group(1) if plan else 'missing'}, {len(cases)} results")
    if not re.search(r"^(\d+) passed, (\d+) failed", ktap, re.M):
        problems.append("no closing 'N passed, N failed' line")
    results.append((f"boot: {label} ({elapsed:.1f} s)", not problems, "; ".join(problems),
                    log if problems else None))
    return results


# %#lx prints 0 without its 0x: the first entry's base is all zeros.
MEMMAP_RE = r"^aerie: memmap: \[(0x[0-9a-f]+|0+), (0x[0-9a-f]+)\) (\S+)$"
PMM_RE = (r"^aerie: pmm: (\d+) frames free \(\d+ KiB\) of (\d+) managed; "
          r"metadata (\d+) KiB \((\d+) frames\)$")
FREED_AT_BOOT = {"usable", "loader", "boot-services"}
RAM_TYPES = FREED_AT_BOOT | {"acpi-reclaim", "bootdata", "pagetable", "kernel", "persistent",
                             "acpi-nvs", "runtime"}


def check_free_memory(log):
    """Problems with the kernel's free-frame figure, recomputed from its printed map."""
    entries = [(int(b, 16), int(e, 16), kind) for b, e, kind in re.findall(MEMMAP_RE, log, re.M)]
    pmm = re.search(PMM_RE, log, re.M)
    if not entries or not pmm:
        return ["no memory map or pmm line in the log (loglevel=debug)"]
    free, managed, meta_kib, meta_frames = map(int, pmm.groups())
    expect = sum((e - b) // 4096 for b, e, kind in entries if kind in FREED_AT_BOOT)
    if any(b == 0 and kind in FREED_AT_BOOT for b, _, kind in entries):
        expect -= 1  # frame 0 is never handed out
    expect -= meta_frames
    ram = sum(e - b for b, e, kind in entries if kind in RAM_TYPES)
    problems = []
    if free != expect or managed != expect:
        problems.append(f"pmm says {free} free / {managed} managed, the map gives {expect}")
    if meta_kib * 1024 > ram * 0.0001 + 4096:
        problems.append(f"metadata {meta_kib} KiB is over 0.01% of {ram >> 20} MiB RAM")
    return problems


def failed_ktests(log):
    """The failing KTAP cases of log, with their reasons (the log tail may not reach them)."""
    cases = re.findall(r"^not ok \d+ (\S+)(?: # (.*))?$", log, re.M)
    return "; ".join(f"{name} ({why})" if why else name for name, why in cases) or "?"


def memory_check(log, status, elapsed, mem):
    """ktest passed with mem of RAM and the free-frame figure matches the map."""
    problems = check_free_memory(log)
    if status != qemu.EXIT_TESTS_PASSED or not re.search(PASSED_RE, log, re.M):
        problems.append(describe_exit(status, elapsed) if status != qemu.EXIT_TESTS_FAILED
                        else "ktest failed: " + failed_ktests(log))
    return (f"boot: -m {mem} passes ktest and frees exactly what the map allows "
            f"({elapsed:.1f} s)", not problems, "; ".join(problems), log if problems else None)


def plain_boot(workdir, mem, cpu, options, scenarios, extra=()):
    """A firmware boot of the real image with `ktest loglevel=debug` and
    options in /aerie/cmdline; extra: more QEMU arguments."""
    name = f"plain-{mem}-{cpu}"
    disk = Disk(workdir, name)
    disk.put("/aerie/cmdline", f"ktest loglevel=debug {options}".rstrip().encode() + b"\n")
    status, log, elapsed = vm.boot(disk.path, fresh_vars(workdir, name), mem=mem, cpu=cpu,
                                   timeout=BOOT_TIMEOUT, extra=list(extra))
    results = [memory_check(log, status, elapsed, mem)]
    for label, expect, forbid in scenarios:
        problems = check_log(log, expect, forbid)
        if status != qemu.EXIT_TESTS_PASSED:
            problems.append(describe_exit(status, elapsed))
        results.append((f"boot: {label} ({elapsed:.1f} s)", not problems, "; ".join(problems),
                        log if problems else None))
    return results


def no_serial_boot(workdir):
    """The image booted from reset with no serial port at all: it must reach
    ready, judged by the screen alone (the kernel finds no UART and skips it)."""
    shot = Path(workdir) / "screen-noserial.ppm"
    font = BUILD / "gen/fbcon_font.txt"
    lines, elapsed, err = vm.boot_no_serial(
        BUILD / "aerie.img", fresh_vars(workdir, "noserial"), shot,
        lambda path: screen.decode(path, font)[0], r"^aerie: ready$", timeout=BOOT_TIMEOUT)
    shown = [line for line in lines if line]
    problems = check_log("\n".join(shown), r"(?s)^aerie: screen: .*^aerie: ready$",
                         [r"panic", r"error", r"warning", screen.UNKNOWN])
    return [(f"boot: with no serial port (-serial none) the screen alone shows the boot "
             f"reach ready ({elapsed:.1f} s)", not problems, "; ".join(problems),
             "\n".join(lines) + err if problems else None)]


def plain_scenario(workdir, name, mem, options, expect, forbid, machine):
    cpu, usb = machine.get("cpu", "max"), machine.get("usb", False)
    tag = re.sub(r"[^\w-]", "_", f"{'usb' if usb else 'small'}-{mem}-{cpu}")
    image = BUILD / "aerie.img"
    if options is not None:
        disk = Disk(workdir, tag)
        disk.put("/aerie/cmdline", options.encode() + b"\n")
        image = disk.path
    _, log, elapsed = vm.boot(image, fresh_vars(workdir, tag), stop_on=expect, mem=mem,
                              cpu=cpu, timeout=BOOT_TIMEOUT, snapshot=True, usb=usb)
    problems = check_log(log, expect, forbid)
    return [(f"boot: {name} ({elapsed:.1f} s)", not problems, "; ".join(problems),
             log if problems else None)]


# --- level 2 and 3, from the saved shell ---------------------------------------------------

# The saved shell sits in FS0:\aerie\, where the loader is loader.efi: typing
# `loader` runs it (the loader takes its options from the shell's Argv).
SHELL_SETUP = ("fs0:", r"cd \aerie")
LOADER = "loader"
# One loader case, as a script of the shell's: `r 7` runs t\7.efi, the loader
# pinned to /aerie/t/7.elf (scripts/secureboot.py), so that the ELF checks
# behind the pin refuse it; the shipped loader refuses it by the pin.
REFUSE_SCRIPT = b"t\\%1.efi kernel=/aerie/t/%1.elf errorwait=0\r\n"
# Test kernels that boot: the loader pinned to each, as typed in the shell.
PINNED_LOADERS = {TRUNCATED: r"t\cut.efi"}


def shell_disk(workdir):
    """The real image arranged for the shell: the loader moved off the
    removable-media path (so OVMF starts its shell), an empty /aerie/cmdline
    (options come from the typed line), and the test kernels beside the real one."""
    disk = Disk(workdir, "shell")
    kernel = (BUILD / "kernel.elf").read_bytes()
    disk.put("/aerie/loader.efi", (BUILD / "BOOTX64.EFI").read_bytes())
    disk.delete("/EFI/BOOT/BOOTX64.EFI")
    disk.put("/aerie/cmdline", b"\n")
    disk.mkdir("/aerie/t")
    loader = (BUILD / "BOOTX64.EFI").read_bytes()
    disk.put(TRUNCATED, truncated_kernel(kernel))
    disk.put("/aerie/t/cut.efi", secureboot.pin_loader(loader, truncated_kernel(kernel)))
    disk.put("/aerie/r.nsh", REFUSE_SCRIPT)
    for i, (_, mutate, _) in enumerate(LOADER_CASES):
        bad = mutate(kernel) if mutate is not None else kernel
        disk.put(f"/aerie/t/{i}.efi", secureboot.pin_loader(loader, bad))
        if mutate is not None:
            disk.put(f"/aerie/t/{i}.elf", bad)
    return disk


class SavedShell:
    """The machine saved at the shell's prompt, made once by the first job that needs it."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.lock = threading.Lock()
        self.made = None  # (ok, log, seconds) once tried

    def make(self):
        with self.lock:
            if self.made is None:
                disk = shell_disk(self.workdir)
                self.disk = disk.path
                self.vars = fresh_vars(self.workdir, "shell")
                self.state = Path(self.workdir) / "shell.state"
                self.made = vm.save_shell(self.disk, self.vars, self.state,
                                          setup=SHELL_SETUP, timeout=BOOT_TIMEOUT)
            return self.made

    def session(self, shot=None, debug_exit=True, extra=()):
        """A restored machine; with shot (a screenshot's path), with QMP too."""
        qmp = Path(shot).with_suffix(".qmp") if shot else None
        return vm.ShellSession(self.disk, self.vars, self.state, qmp=qmp, debug_exit=debug_exit,
                               extra=extra)


def shell_result():
    """The result line for saving the shell (reported by the job that made it)."""
    def job(saved):
        ok, log, elapsed = saved.make()
        return [(f"boot: OVMF reaches the UEFI shell and the machine is saved ({elapsed:.1f} s)",
                 ok, "no shell prompt, or saving failed", None if ok else log)]
    return job


def in_shell(saved, options, until, shot=None):
    """Restore the shell and type the loader's command line.

    Returns (status, log, seconds, problems): problems is non-empty if the
    shell could not be restored. With shot (a path), the screen is saved
    there as a PPM once until is seen, and the session's problems include
    the screen's not matching the log's last lines.
    """
    ok, _, _ = saved.make()
    if not ok:
        return None, "", 0.0, ["the saved shell is not available"]
    session = saved.session(shot)
    if not session.ready:
        err = session.close()
        return None, session.con.text() + err, 0.0, ["the restored shell did not answer"]
    kernel = re.search(r"(?:^| )kernel=(\S+)", options)
    program = PINNED_LOADERS.get(kernel.group(1), LOADER) if kernel else LOADER
    status, log, elapsed = session.run(f"{program} {options}".rstrip(), until=until,
                                       timeout=BOOT_TIMEOUT)
    problems = screen_problems(session, shot, log) if shot else []
    err = session.close()
    return status, log + (f"\n[qemu stderr]\n{err}" if err else ""), elapsed, problems


def screen_problems(session, shot, log):
    """Take a screenshot; problems if its text is not the serial log's last lines."""
    if not session.alive() or not session.screendump(shot):
        return ["screen: no screenshot (QEMU exited, or screendump failed)"]
    rows, cols = screen.decode(shot, BUILD / "gen/fbcon_font.txt")
    lines = log.splitlines()
    while lines and not lines[-1]:
        lines.pop()
    return [f"screen: {p}" for p in screen.matches_log(rows, cols, lines)]


def ktest_job(saved):
    status, log, elapsed, problems = in_shell(saved, "ktest", None)
    if problems:
        return [("boot: ktest run completes", False, "; ".join(problems), log)]
    # Tests provoke error reports (refused frees, ...): outside a panic, even
    # those name functions, never raw kernel addresses.
    leaks = [line for line in log.splitlines() if re.search(KERNEL_ADDRESS_RE, line)]
    return ktap_results(log, status, elapsed, "ktest run completes") + [
        ("boot: the whole ktest log, error reports included, holds no kernel address",
         not leaks, f"unexpected {leaks[0]!r}" if leaks else "", None)]


def kernel_scenario(saved, scenario):
    name, options, expect, forbid, want_status = scenario
    until = expect if want_status is None else None
    shot = None
    if options in SCREEN_SCENARIOS:
        name += "; the screen shows the log's last lines"
        shot = Path(saved.workdir) / ("screen-" + re.sub(r"\W", "_", options) + ".ppm")
    status, log, elapsed, problems = in_shell(saved, options, until, shot)
    if all(p.startswith("screen: ") for p in problems):  # the machine ran
        problems += check_log(log, expect, forbid)
        if want_status is not None and status != want_status:
            problems.append(describe_exit(status, elapsed))
    return [(f"boot: {name} ({elapsed:.1f} s)", not problems, "; ".join(problems),
             log if problems else None)]


def screen_at_panic(saved, options, report_re):
    """A panic on a machine whose kernel cannot exit QEMU: once the report
    is printed, the screen must show the log's last lines."""
    name = f"boot: {options}: the panic is on screen as in the serial log"
    ok, _, _ = saved.make()
    shot = Path(saved.workdir) / f"screen-{options.replace('=', '-')}.ppm"
    session = saved.session(shot, debug_exit=False) if ok else None
    if not session or not session.ready:
        return [(name, False, "the saved shell is not available", None)]
    _, log, elapsed = session.run(f"{LOADER} {options}", until=report_re, timeout=BOOT_TIMEOUT)
    problems = check_log(log, report_re, [r"nested panic"])
    if not problems:
        time.sleep(vm.GRACE)  # the rest of the backtrace, then the CPU halts
        log = session.con.text()[session.mark:]
        problems = screen_problems(session, shot, log)
    session.close()
    return [(f"{name} ({elapsed:.1f} s)", not problems, "; ".join(problems),
             log if problems else None)]


LAYOUT_RE = (r"^aerie: layout: direct map (\S+), kernel (\S+) \(phys (\S+), .*\n"
             r"^aerie: layout: heap (\S+), stacks (\S+), mmio (\S+)$")
LAYOUT_NAMES = ["direct map", "kernel", "kernel physical", "heap", "stacks", "mmio"]


def kaslr_compare(saved):
    """Two boots must place every region at a different address."""
    layouts, logs, total = [], "", 0.0
    for _ in range(2):
        _, log, elapsed, problems = in_shell(saved, "loglevel=debug", r"^aerie: ready$")
        m = re.search(LAYOUT_RE, log, re.M)
        layouts.append(m.groups() if m and not problems and "aerie: ready" in log else None)
        logs += log
        total += elapsed
    name = f"boot: two boots place every region differently ({total:.1f} s)"
    if None in layouts:
        return [(name, False, "a boot did not reach ready with a layout line", logs)]
    same = [n for n, a, b in zip(LAYOUT_NAMES, *layouts) if a == b]
    return [(name, not same, f"same {', '.join(same)} in both boots", logs if same else None)]


# GDB against a KASLR boot: a wrong kernel file is refused, this build's
# symbols load at the slide the log shows, and a breakpoint in the 100 Hz
# tick gives a backtrace through the interrupt path.
GDB_FRAMES = ["sched_tick", "apic_interrupt", "trap_dispatch"]
GDB_TIMEOUT = 30


def gdb_commands(sock, wrong):
    """The batch commands: each -ex runs even if an earlier one failed."""
    cmds = [f"target remote {sock}", f"aerie-symbols {wrong}", "aerie-symbols",
            "break sched_tick", "continue", "bt", "kill"]
    return ["gdb", "-batch", "-nx", "-x", str(ROOT / "scripts/gdb_aerie.py"),
            *[arg for cmd in cmds for arg in ("-ex", cmd)]]


def wrong_kernel(workdir):
    """build/kernel.elf with kmain's first bytes changed: not the running kernel."""
    elf = gdb_aerie.KernelElf(BUILD / "kernel.elf")
    data = bytearray(elf.data)
    data[elf.file_offset("kmain", 1)] ^= 0xff
    path = Path(workdir) / "wrong-kernel.elf"
    path.write_bytes(data)
    return path


def gdb_problems(out, log):
    """What GDB's output lacks: the refusal, the slide the log shows, the frames."""
    problems = []
    if "the running kernel is not build/kernel.elf" not in out:
        problems.append("a changed kernel file was not refused")
    m = re.search(r"^aerie: kernel slide (0x[0-9a-f]+) .* matches the running kernel", out, re.M)
    logged = re.search(LAYOUT_RE, log, re.M)
    if not m or not logged or int(m.group(1), 16) != int(logged.group(2), 16):
        problems.append("no slide found, or not the kernel base the log shows")
    frames = re.findall(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\w+) \(", out, re.M)
    names = [name for _, name in frames[:len(GDB_FRAMES)]]
    if names != GDB_FRAMES:
        problems.append(f"backtrace starts {names}, not {GDB_FRAMES}")
    return problems


def gdb_backtrace(saved):
    """Batch GDB on a restored machine booted with KASLR on."""
    name = "boot: GDB finds the KASLR slide, checks the kernel and backtraces sched_tick"
    ok, _, _ = saved.make()
    sock = Path(saved.workdir) / "gdb.sock"
    session = saved.session(extra=["-gdb", f"unix:{sock},server=on,wait=off"]) if ok else None
    if not session or not session.ready:
        return [(name, False, "the saved shell is not available", None)]
    _, log, elapsed = session.run(f"{LOADER} loglevel=debug", until=r"^aerie: ready$",
                                  grace=0, timeout=BOOT_TIMEOUT)
    try:
        run = subprocess.run(gdb_commands(sock, wrong_kernel(saved.workdir)), cwd=ROOT,
                             capture_output=True, text=True, timeout=GDB_TIMEOUT)
        out = run.stdout + run.stderr
    except subprocess.TimeoutExpired:
        out = "gdb: timed out"
    session.close()
    problems = ["no aerie: ready"] if "aerie: ready" not in log else gdb_problems(out, log)
    return [(f"{name} ({elapsed:.1f} s)", not problems, "; ".join(problems),
             log + "\n[gdb]\n" + out if problems else None)]


LOADER_RETURNED = r"^aerie-loader: returning to the firmware in 0 seconds$\n(.*\n)*?" + vm.PROMPT


def loader_case_lines():
    """(name, typed line, regex of the error) for every loader case."""
    lines = []
    for i, (name, _, error) in enumerate(LOADER_CASES):
        lines.append((name, f"r {i}", re.escape(error.format(path=f"/aerie/t/{i}.elf"))))
    # The shipped loader refuses a kernel but its own by the SHA-256 pin before
    # parsing it: one with a broken ELF header, and one the pinned loader boots.
    kernel = (BUILD / "kernel.elf").read_bytes()
    for name, path, other in [("a kernel with a broken ELF magic", "/aerie/t/0.elf",
                               LOADER_CASES[0][1](kernel)),
                              ("a kernel that boots under a loader pinned to it", TRUNCATED,
                               truncated_kernel(kernel))]:
        lines.append((f"the shipped loader refuses by its SHA-256 pin {name}",
                      f"{LOADER} kernel={path} errorwait=0",
                      re.escape(secureboot.hash_refusal(path, kernel, other))))
    # First, so that every other case runs a loader in the shell they return to.
    return [(name, f"{LOADER} {options}", error)
            for name, options, error in LOADER_OPTION_CASES] + lines


# The shell's `memmap` summary: pages of each type, then the prompt.
MEMMAP_DONE = r"^Total Memory:.*\n(.*\n)*?" + vm.PROMPT
LOADER_PAGES_RE = r"^ *(LoaderCode|LoaderData): *([\d,]+) Pages"


def loader_pages(session):
    """The LoaderCode and LoaderData pages the shell's memmap counts (the
    loader's own allocations are of these types), or None if it did not answer."""
    _, log, _ = session.run("memmap", until=MEMMAP_DONE, grace=0)
    pages = dict(re.findall(LOADER_PAGES_RE, log, re.M))
    return pages if len(pages) == 2 else None


def gave_back(session, before):
    """Problems if the loader did not give back every page it took."""
    after = loader_pages(session)
    if after is None:
        return ["the shell's memmap did not answer after the loader returned"]
    return [f"{t}: {before[t]} pages before the loader, {after[t]} after" for t in sorted(before)
            if before[t] != after[t]]


def loader_cases(saved):
    """Every refused kernel in one restored shell: the loader returns to the
    shell after each, and a fresh restore follows only if one did not."""
    results, pending = [], loader_case_lines()
    while pending:
        ok, _, _ = saved.make()
        session = saved.session() if ok else None
        if not session or not session.ready:
            why = "the saved shell is not available" if ok else "the restored shell did not answer"
            results += [(f"boot: {c[0]}", False, why, None) for c in pending]
            break
        while pending and session.alive():
            name, line, error = pending.pop(0)
            # A loader that gives up must leave the firmware as it found it:
            # its pages freed and the shell still answering (the next case).
            before = loader_pages(session) if "efifail" in line else None
            _, log, elapsed = session.run(line, until=LOADER_RETURNED, grace=0,
                                          timeout=BOOT_TIMEOUT)
            expect = r"^aerie-loader: error: " + error + "$"
            problems = check_log(log, expect, [r"^aerie: "])
            if not re.search(LOADER_RETURNED, log, re.M):
                problems.append("the loader did not return to the shell")
            elif before is None and "efifail" in line:
                problems.append("the shell's memmap did not answer before the loader")
            elif before:
                problems += gave_back(session, before)
            results.append((f"boot: {name} ({elapsed:.1f} s)", not problems, "; ".join(problems),
                            log if problems else None))
            if problems:
                break  # the machine may have gone anywhere: restore a fresh one
        session.close()
    return results


# --- running it all -------------------------------------------------------------------------

class Job:
    """One unit of work on a worker; it returns result tuples."""

    def __init__(self, phase, fn, *args):
        self.phase, self.fn, self.args = phase, fn, args
        self.start = self.end = 0.0

    def __call__(self):
        self.start = time.monotonic()
        try:
            return self.fn(*self.args)
        except Exception as exc:  # a broken test script is a failure, not a crash
            return [(f"{self.phase}: {getattr(self.fn, '__name__', 'job')}", False,
                     f"{type(exc).__name__}: {exc}", None)]
        finally:
            self.end = time.monotonic()


def jobs_for(workdir):
    """Every job, the longest first, so no long one is left for the end."""
    saved = SavedShell(workdir)
    plain = [Job("plain boots", plain_boot, workdir, *boot) for boot in PLAIN_BOOTS]
    jobs = [plain[0], Job("saved shell", shell_result(), saved)] + plain[1:]
    jobs += [Job("plain boots", plain_scenario, workdir, *sc) for sc in PLAIN_SCENARIOS]
    jobs.append(Job("reproducible build", run_repro, workdir))
    jobs.append(Job("plain boots", no_serial_boot, workdir))
    jobs.append(Job("secure boot", secureboot.secure_boot_job, workdir, Disk, vm, check_log,
                    BUILD, BOOT_TIMEOUT))
    jobs += [Job("source checks", run_source_checks),
            Job("host tests", run_host_tests)]
    fuzzers = sorted(BUILD.glob("fuzz/fuzz_*"))
    seconds = fuzz_seconds(fuzzers)
    jobs += [Job("fuzzers", run_fuzzer, f, seconds[f.name])
             for f in sorted(fuzzers, key=lambda f: -seconds[f.name])]
    jobs.append(Job("ktest (shell)", ktest_job, saved))
    jobs.append(Job("loader scenarios (shell)", loader_cases, saved))
    jobs += [Job("kernel scenarios (shell)", kernel_scenario, saved, s)
             for s in KERNEL_SCENARIOS]
    jobs.append(Job("kernel scenarios (shell)", kaslr_compare, saved))
    jobs.append(Job("gdb (shell)", gdb_backtrace, saved))
    jobs += [Job("kernel scenarios (shell)", screen_at_panic, saved, *p) for p in SCREEN_PANICS]
    return jobs


def timing_table(jobs, start, wall):
    """Where the time went, one line per phase."""
    phases = {}
    for job in jobs:
        phases.setdefault(job.phase, []).append(job)
    print("# phase                      jobs   busy s   from-to s")
    for phase, group in phases.items():
        busy = sum(j.end - j.start for j in group)
        first = min(j.start for j in group) - start
        last = max(j.end for j in group) - start
        print(f"# {phase:<26} {len(group):>4} {busy:>8.1f}   {first:>4.0f}-{last:.0f}")
    busy = sum(j.end - j.start for j in jobs)
    print(f"# total: {wall:.0f} s wall, {busy:.0f} s of jobs on {workers()} workers")


def workers():
    return max(2, os.cpu_count() or 2)


def main():
    missing = qemu.firmware_missing()
    for path in [BUILD / "aerie.img", BUILD / "kernel.elf", BUILD / "BOOTX64.EFI"]:
        if not path.exists():
            missing = f"{path} is missing: run scripts/setup.sh and ninja"
    if missing:
        print(f"test.py: {missing}", file=sys.stderr)
        return 2
    report = Report()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aerie-test-") as workdir:
        jobs = jobs_for(workdir)
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers()) as pool:
            futures = [pool.submit(job) for job in jobs]
            for future in futures:
                for name, ok, reason, log in future.result():
                    report.result(name, ok, reason, log)
    timing_table(jobs, start, time.monotonic() - start)
    print(f"{report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Aerie's test driver: `ninja test` runs this after building everything.

Three levels, as docs/testing.md describes:
  1. host: the portable C under ASan/UBSan (build/host/test_*), then a short
     bounded pass of each fuzzer (build/fuzz/fuzz_*);
  2. in-kernel: boot the real image in QEMU with `ktest`, read its KTAP;
  3. boot scenarios: boot variants of the image (broken kernels, deliberate
     faults) and check the serial log.

Every check prints one "ok N name" / "not ok N name # reason" line; a failed
boot also shows the end of its serial log. The last line is
"N passed, N failed", and the exit status is 1 if anything failed.
"""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bad_kernels  # noqa: E402  (scripts/bad_kernels.py)

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
ESP_OFFSET = 1024 * 1024  # scripts/mkimage.sh puts the ESP at 1 MiB

# QEMU exit statuses: isa-debug-exit gives (code << 1) | 1.
EXIT_TESTS_PASSED = (0x10 << 1) | 1
EXIT_TESTS_FAILED = (0x11 << 1) | 1
EXIT_PANIC = (0x12 << 1) | 1

FUZZ_SECONDS = int(os.environ.get("AERIE_FUZZ_SECONDS", "5"))
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


def clean_serial(raw):
    """Serial bytes as text: drop OVMF's terminal escapes and carriage returns."""
    text = raw.decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z=]|\x1b\[=[0-9]+h", "", text)
    return text.replace("\r", "")


# --- level 1: host tests and fuzzers -----------------------------------------

def run_host_tests(report):
    for binary in sorted(BUILD.glob("host/test_*")):
        args = [str(binary)]
        if binary.name == "test_elf":
            args.append(str(BUILD / "kernel.elf"))  # also check the real kernel
        try:
            proc = subprocess.run(args, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            report.result(f"host/{binary.name}", False, "timed out after 120 s")
            continue
        out = proc.stdout.decode("utf-8", "replace")
        seen = 0
        for line in out.splitlines():
            m = re.match(r"(not ok|ok) \d+ (\S+)(?: # (.*))?$", line)
            if m:
                seen += 1
                report.result(f"host/{binary.name}: {m.group(2)}", m.group(1) == "ok",
                              m.group(3) or "")
        if proc.returncode != 0 and (seen == 0 or report.failed == 0):
            report.result(f"host/{binary.name}", False, f"exit status {proc.returncode}",
                          out + proc.stderr.decode("utf-8", "replace"))


def run_fuzzers(report):
    for binary in sorted(BUILD.glob("fuzz/fuzz_*")):
        with tempfile.TemporaryDirectory() as corpus:
            proc = subprocess.run([str(binary), f"-max_total_time={FUZZ_SECONDS}",
                                   "-print_final_stats=1", corpus],
                                  capture_output=True, cwd=corpus)
        err = proc.stderr.decode("utf-8", "replace")
        runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", err)
        name = f"fuzz/{binary.name} ({runs.group(1) if runs else '?'} runs in {FUZZ_SECONDS} s)"
        report.result(name, proc.returncode == 0, f"exit status {proc.returncode}", err)


# --- booting the image ---------------------------------------------------------

class Image:
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
        self._mtools("mcopy", "-o", "-i", f"{self.path}@@{ESP_OFFSET}", str(src),
                     f"::{esp_path}")

    def delete(self, esp_path):
        self._mtools("mdel", "-i", f"{self.path}@@{ESP_OFFSET}", f"::{esp_path}")


def boot(image, workdir, stop_on=None, mem="256M", cpu="max", timeout=BOOT_TIMEOUT):
    """Boot image in QEMU; return (exit status or None if stopped/timed out, log, seconds).

    If stop_on (a regex) appears in the serial log, QEMU gets one more second
    (to show anything it should not print) and is then stopped.
    """
    log = Path(workdir) / (image.path.stem + ".serial")
    vars_copy = Path(workdir) / (image.path.stem + ".vars")
    shutil.copyfile(OVMF_VARS, vars_copy)
    cmd = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-cpu", cpu, "-m", mem,
           "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
           "-drive", f"if=pflash,format=raw,file={vars_copy}",
           "-drive", f"format=raw,file={image.path}",
           "-net", "none", "-display", "none", "-no-reboot", "-monitor", "none",
           "-serial", f"file:{log}",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    stop_at = start + timeout
    status = None
    while True:
        status = proc.poll()
        if status is not None:
            break
        now = time.monotonic()
        if now >= stop_at:
            break
        if stop_on and log.exists() and stop_at > now + 1.0:
            if re.search(stop_on, clean_serial(log.read_bytes()), re.M):
                stop_at = now + 1.0
        time.sleep(0.1)
    if status is None:
        proc.kill()
        proc.wait()
    elapsed = time.monotonic() - start
    text = clean_serial(log.read_bytes()) if log.exists() else ""
    stderr = proc.stderr.read().decode("utf-8", "replace")
    if stderr.strip():
        text += "\n[qemu stderr]\n" + stderr
    return status, text, elapsed


def describe_exit(status, elapsed):
    if status is None:
        return f"no exit after {elapsed:.0f} s (hang or still running)"
    if status == EXIT_PANIC:
        return "kernel panic"
    if status == 0:
        return "QEMU exited 0: triple fault or reset"
    return f"QEMU exit status {status}"


# --- level 2: in-kernel tests -----------------------------------------------------

def ktest_boot(workdir):
    image = Image(workdir, "ktest")
    image.put("/aerie/cmdline", b"ktest\n")
    return boot(image, workdir)


def report_ktest(report, status, log, elapsed):
    """One result per KTAP line, plus one for the run as a whole."""
    ktap = log[log.find("KTAP version 1"):] if "KTAP version 1" in log else ""
    plan = re.search(r"^1\.\.(\d+)$", ktap, re.M)
    cases = re.findall(r"^(not ok|ok) (\d+) (\S+)(?: # (.*))?$", ktap, re.M)
    for verdict, _, name, reason in cases:
        if reason.startswith("SKIP"):
            print(f"# ktest: {name} skipped: {reason[4:].strip()}")
        report.result(f"ktest: {name}", verdict == "ok", reason)
    summary = re.search(r"^(\d+) passed, (\d+) failed", ktap, re.M)
    problems = []
    if status != EXIT_TESTS_PASSED and status != EXIT_TESTS_FAILED:
        problems.append(describe_exit(status, elapsed))
    if not plan or int(plan.group(1)) != len(cases):
        problems.append(f"plan {plan.group(1) if plan else 'missing'}, {len(cases)} results")
    if not summary:
        problems.append("no closing 'N passed, N failed' line")
    report.result(f"boot: ktest run completes ({elapsed:.1f} s)", not problems,
                  "; ".join(problems), log if problems else None)


# --- level 3: boot scenarios --------------------------------------------------------

def corrupt_magic(data):
    return b"\x7fELX" + data[4:]


# name, how to change the image, regex that must appear, regexes that must not,
# expected QEMU status (None: stopped once the expectation was seen), QEMU options.
SCENARIOS = [
    ("boot: normal boot reaches ready", {"cmdline": b"\n"},
     r"^aerie: ready$", [r"panic", r"error"], None, {}),
    ("boot: loader refuses a kernel with a broken ELF magic", {"kernel": corrupt_magic},
     r"^aerie-loader: error: bad kernel: bad ELF magic$", [r"^aerie: "], None, {}),
    ("boot: loader reports a missing kernel", {"delete": "/aerie/kernel.elf"},
     r"^aerie-loader: error: kernel not found", [r"^aerie: "], None, {}),
    ("boot: loader reports an empty kernel", {"kernel": lambda data: b""},
     r"^aerie-loader: error: bad kernel: /aerie/kernel.elf is empty$", [r"^aerie: "], None,
     {}),
    ("boot: a NULL read panics as a NULL pointer dereference", {"cmdline": b"crash=null\n"},
     r"(?s)^aerie: panic: page fault: NULL pointer dereference at 0x0, rip crash_read_null\+0x"
     r"[0-9a-f]+ \(error 0x0: not present, read, supervisor\)$.*backtrace:.*crash_read_null"
     r".*kmain", [r"nested panic"], EXIT_PANIC, {}),
    ("boot: a call into .rodata panics as a fetch from an NX page", {"cmdline": b"crash=nx\n"},
     r"(?s)^aerie: panic: page fault: instruction fetch from an NX page at (0x[0-9a-f]+), "
     r"rip \1, called from crash_exec_nx\+0x[0-9a-f]+ \(error 0x11: protection violation, "
     r"instruction fetch, supervisor\)$", [r"nested panic"], EXIT_PANIC, {}),
    ("boot: a write to kernel text panics as such", {"cmdline": b"crash=wtext\n"},
     r"(?s)^aerie: panic: page fault: write to kernel text \(crash_if_requested\+0(x0)?\) at "
     r"0x[0-9a-f]+, rip crash_write_text\+0x[0-9a-f]+ \(error 0x3: protection violation, "
     r"write, supervisor\)$", [r"nested panic"], EXIT_PANIC, {}),
    ("boot: unbounded recursion is a double fault on the boot stack's guard",
     {"cmdline": b"crash=overflow\n"},
     r"(?s)^aerie: panic: double fault: kernel stack overflow into the guard page of boot "
     r"stack \(cr2 0x[0-9a-f]+, rsp 0x[0-9a-f]+\), rip crash_recurse\+0x[0-9a-f]+$"
     r".*backtrace:.*crash_recurse", [r"nested panic"], EXIT_PANIC, {}),
    ("boot: #GP on a non-canonical pointer names the address", {"cmdline": b"crash=gp\n"},
     r"(?s)^aerie: panic: general protection fault: probably a non-canonical address "
     r"0x8000000000000000 \([^)\n]*\), rip crash_noncanonical\+0x[0-9a-f]+ \(error 0x0: no "
     r"selector\)$", [r"nested panic"], EXIT_PANIC, {}),
    ("boot: a CPU without RDRAND, SMEP, SMAP or 1 GiB pages (qemu64, 128M) passes ktest",
     {"cmdline": b"ktest\n"},
     r"(?s)^aerie-loader: warning: NO HARDWARE ENTROPY"
     r".*^aerie: cpu: WP on, NX on, SMEP off, SMAP off, UMIP off$"
     r".*^aerie: cpu: .*1 GiB pages off.*^aerie: W\^X audit: \d+ mappings, 0 W\+X"
     r".*^aerie: warning: no hardware entropy"
     r".*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok"], EXIT_TESTS_PASSED,
     {"cpu": "qemu64", "mem": "128M"}),
    ("boot: nosmep nosmap noumip nopcid noinvpcid turn them off; vmm and fault tests pass",
     {"cmdline": b"nosmep nosmap noumip nopcid noinvpcid ktest=vmm,fault\n"},
     r"(?s)^aerie: cpu: WP on, NX on, SMEP off, SMAP off, UMIP off$"
     r".*^aerie: cpu: PGE on, PCID off, INVPCID off, "
     r".*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok", r"warning: unknown option"],
     EXIT_TESTS_PASSED, {}),
    ("boot: nokaslr gives the documented bases and passes ktest",
     {"cmdline": b"nokaslr ktest loglevel=debug\n"},
     r"(?s)^aerie: layout: direct map 0xffff800000000000, kernel 0xffffc00000000000 .*"
     r"^aerie: layout: heap 0xffffd00000000000, stacks 0xffffe00000000000, "
     r"mmio 0xfffff00000000000$.*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok"],
     EXIT_TESTS_PASSED, {}),
    ("boot: an over-long line with unknown options warns and the rest applies",
     {"cmdline": b"bogus=1 ktest=layout " + b"x" * 600 + b"\n"},
     r"(?s)warning: command line too long: cut to 511 bytes.*"
     r"warning: unknown option \"bogus\" ignored.*^\d+ passed, 0 failed(, \d+ skipped)?$",
     [r"not ok"], EXIT_TESTS_PASSED, {}),
    ("boot: panic() reports and exits 0x12", {"cmdline": b"crash=panic\n"},
     r"(?s)^aerie: panic: crash=panic requested$.*crash_if_requested", [], EXIT_PANIC, {}),
    ("boot: heapdebug turns the heap's debug checks on and the heap tests still pass",
     {"cmdline": b"heapdebug ktest=heap\n"},
     r"(?s)^aerie: heap: .*, debug checks on$.*^\d+ passed, 0 failed(, \d+ skipped)?$",
     [r"not ok", r"warning: unknown option"], EXIT_TESTS_PASSED, {}),
    ("boot: heap: a double free panics naming the block", {"cmdline": b"crash=double-free\n"},
     r"(?s)^aerie: panic: heap: double free of 0x[0-9a-f]+ \(block of \d+ bytes\)$"
     r".*backtrace:.*crash_double_free", [r"nested panic"], EXIT_PANIC, {}),
    ("boot: heap: freeing a pointer inside a block panics as a bad free",
     {"cmdline": b"crash=bad-free\n"},
     r"(?s)^aerie: panic: heap: bad free of 0x[0-9a-f]+: inside block 0x[0-9a-f]+ \(\d+ bytes, "
     r"64 requested\)$.*backtrace:.*crash_bad_free", [r"nested panic"], EXIT_PANIC, {}),
    ("boot: heap: a one-byte overrun is caught by the canary", {"cmdline": b"crash=overrun\n"},
     r"(?s)^aerie: panic: heap: buffer overrun: the canary after the 40 bytes of block "
     r"0x[0-9a-f]+ \(\d+ bytes\) is overwritten$.*backtrace:.*crash_overrun",
     [r"nested panic"], EXIT_PANIC, {}),
    ("boot: heap: an overwritten block header is caught on free",
     {"cmdline": b"crash=heap-header\n"},
     r"(?s)^aerie: panic: heap: header of block 0x[0-9a-f]+ overwritten \(size field "
     r"0x4141414141414141\)$.*backtrace:.*crash_heap_header", [r"nested panic"], EXIT_PANIC, {}),
    ("boot: heap: a write past a large block hits its guard page",
     {"cmdline": b"crash=heap-guard\n"},
     r"(?s)^aerie: panic: page fault: [^\n]*guard page of heap block 0x[0-9a-f]+ \(5000 bytes\) "
     r"at 0x[0-9a-f]+, rip crash_heap_guard\+0x[0-9a-f]+ \(error 0x2: not present, write, "
     r"supervisor\)$.*backtrace:.*crash_heap_guard", [r"nested panic"], EXIT_PANIC, {}),
]


def bad_kernel_scenario(case):
    name, mutate, reason = case
    return (f"boot: loader refuses a kernel: {name}", {"kernel": mutate},
            r"^aerie-loader: error: bad kernel: " + re.escape(reason) + "$", [r"^aerie: "],
            None, {})


SCENARIOS += [bad_kernel_scenario(case) for case in bad_kernels.CASES]

LAYOUT_RE = (r"^aerie: layout: direct map (\S+), kernel (\S+) \(phys (\S+), .*\n"
             r"^aerie: layout: heap (\S+), stacks (\S+), mmio (\S+)$")
LAYOUT_NAMES = ["direct map", "kernel", "kernel physical", "heap", "stacks", "mmio"]


def kaslr_layout(workdir, index):
    """Boot to ready with loglevel=debug; return (the six region bases or None, log)."""
    image = Image(workdir, f"kaslr{index}")
    image.put("/aerie/cmdline", b"loglevel=debug\n")
    _, log, _ = boot(image, workdir, stop_on=r"^aerie: ready$")
    m = re.search(LAYOUT_RE, log, re.M)
    return (m.groups() if m and "aerie: ready" in log else None), log


def run_kaslr_compare(workdir):
    """Two boots must place every region at a different address."""
    start = time.monotonic()
    first, log1 = kaslr_layout(workdir, 1)
    second, log2 = kaslr_layout(workdir, 2)
    name = f"boot: two boots place every region differently ({time.monotonic() - start:.1f} s)"
    if not first or not second:
        return name, 0, ["a boot did not reach ready with a layout line"], log1 + log2
    same = [n for n, a, b in zip(LAYOUT_NAMES, first, second) if a == b]
    return name, 0, [f"same {', '.join(same)} in both boots"] if same else [], log1 + log2


MEMMAP_RE = r"^aerie: memmap: \[(0x[0-9a-f]+), (0x[0-9a-f]+)\) (\S+)$"
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


def run_memory_size(workdir, mem):
    """Boot with mem of RAM: ktest passes and the free-frame figure matches the map."""
    image = Image(workdir, f"mem{mem}")
    image.put("/aerie/cmdline", b"ktest loglevel=debug\n")
    status, log, elapsed = boot(image, workdir, mem=mem)
    problems = check_free_memory(log)
    passed = re.search(r"^\d+ passed, 0 failed(, \d+ skipped)?$", log, re.M)
    if status != EXIT_TESTS_PASSED or not passed:
        problems.append(describe_exit(status, elapsed) if status != EXIT_TESTS_FAILED
                        else "ktest failed")
    name = f"boot: -m {mem} passes ktest and frees exactly what the map allows"
    return name, elapsed, problems, log


def run_scenario(workdir, index, scenario):
    name, change, expect, forbid, want_status, qemu = scenario
    image = Image(workdir, f"scenario{index}")
    if "cmdline" in change:
        image.put("/aerie/cmdline", change["cmdline"])
    if "kernel" in change:
        image.put("/aerie/kernel.elf", change["kernel"]((BUILD / "kernel.elf").read_bytes()))
    if "delete" in change:
        image.delete(change["delete"])
    stop_on = expect if want_status is None else None
    status, log, elapsed = boot(image, workdir, stop_on=stop_on, **qemu)
    problems = []
    if not re.search(expect, log, re.M):
        problems.append(f"expected /{expect}/ in the serial log")
    for pattern in forbid:
        hit = re.search(pattern, log, re.M)
        if hit:
            problems.append(f"unexpected {hit.group(0)!r}")
    if want_status is not None and status != want_status:
        problems.append(describe_exit(status, elapsed))
    return name, elapsed, problems, log


def run_boots(report):
    """The ktest boot and the scenarios, two QEMUs at a time (one per core)."""
    with tempfile.TemporaryDirectory(prefix="aerie-test-") as workdir:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            ktest = pool.submit(ktest_boot, workdir)
            # The 8 GiB boot is the longest: start it early so it is not the tail.
            scenarios = [pool.submit(run_memory_size, workdir, mem)
                         for mem in ["8G", "1G", "128M"]]
            scenarios += [pool.submit(run_scenario, workdir, i, s)
                          for i, s in enumerate(SCENARIOS)]
            scenarios.append(pool.submit(run_kaslr_compare, workdir))
            report_ktest(report, *ktest.result())
            for future in scenarios:
                name, elapsed, problems, log = future.result()
                if elapsed:
                    name = f"{name} ({elapsed:.1f} s)"
                report.result(name, not problems, "; ".join(problems), log if problems else None)


def main():
    for path in [BUILD / "aerie.img", BUILD / "kernel.elf", OVMF_CODE, OVMF_VARS]:
        if not path.exists():
            print(f"test.py: {path} is missing: run scripts/setup.sh and ninja", file=sys.stderr)
            return 2
    report = Report()
    start = time.monotonic()
    print("# level 1: host unit tests (ASan/UBSan) and fuzzers", flush=True)
    run_host_tests(report)
    run_fuzzers(report)
    print("# levels 2 and 3: in-kernel KTAP tests and boot scenarios in QEMU", flush=True)
    run_boots(report)
    print(f"# {time.monotonic() - start:.0f} s")
    print(f"{report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())

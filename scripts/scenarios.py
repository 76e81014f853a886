"""The scenarios scripts/test.py runs: what each boot is told and what its
serial log (or screen) must and must not show. The driver that runs them is
scripts/test.py; the machines are scripts/vm.py and scripts/qemu.py.

Add a kernel scenario (only loader options differ) to KERNEL_SCENARIOS: it
costs under a second. One that needs a machine of its own (RAM, CPU, disk)
rides on a PLAIN_BOOTS entry if it can, since a boot from reset costs the
firmware's 4 s, else goes into PLAIN_SCENARIOS.
"""

import bad_kernels
import qemu

PASSED_RE = r"^\d+ passed, 0 failed(, \d+ skipped)?$"
# Any upper-half (kernel) address, with or without 0x: KASLR would leak.
KERNEL_ADDRESS_RE = r"(?i)ffff[89a-f][0-9a-f]{11}"

# Boots that need a machine of their own: RAM size, CPU model, /aerie/cmdline.
# Each runs ktest at loglevel=debug and checks the free-frame figure against
# the printed map; some carry another scenario in the same boot:
# (mem, cpu, options after `ktest loglevel=debug`, [(name, expect, forbid)]).
PLAIN_BOOTS = [
    # Two CPUs listed, the second never started: reported, and the boot goes on.
    ("8G", "max", "smp_skip=1", [
        ("a listed CPU that does not start (smp_skip=1, -smp 2) is reported, ktest passes",
         r"(?s)^aerie: warning: smp: CPU 1 \(APIC id 1\) did not start$"
         r".*^aerie: smp: 1 CPUs up \(of 2 listed\), bring-up \d+ ms \(emulated\)$"
         r".*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok"])],
     ["-smp", "2"]),
    # The options file itself, cut short; unknown options are named. `garbage`
    # fills every page the loader allocates first: nothing relies on zeroed RAM.
    ("1G", "max", "garbage bogus=1 " + "x" * 600, [
        ("an over-long line with unknown options warns and the rest applies",
         r"(?s)warning: command line too long: cut to 511 bytes.*"
         r"warning: unknown option \"bogus\" ignored.*^\d+ passed, 0 failed(, \d+ skipped)?$",
         [r"not ok"]),
        ("garbage: loader allocations filled with a pattern first, ktest still passes",
         r"(?s)^aerie-loader: garbage: every page the loader allocates is filled with 0xa5 "
         r"first$.*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok"]),
        ("four CPUs (-smp 4) all run threads, shootdowns reach the 3 others, the stress "
         "on every CPU keeps exact frame counts, ktest passes",
         r"(?s)^aerie: smp: 4 CPUs up \(of 4 listed\), bring-up \d+ ms \(emulated\)$"
         r".*^aerie: sched: preemptive round robin on 4 CPUs"
         r".*^# sched: \d+ threads ran on CPUs 0xf, of 0xf up$"
         r".*^ok \d+ stress_on_every_cpu_keeps_frame_counts$"
         r".*^# shootdown: emulated TSC cycles .* to 3 other CPUs [1-9]"
         r".*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok", r"did not start"])],
     ["-smp", "4"]),
    # A CPU without RDRAND, SMEP, SMAP, UMIP or 1 GiB pages: the fallbacks;
    # and no display at all (no GOP): the loader warns and boots on serial.
    ("128M", "qemu64", "", [
        ("a CPU without RDRAND, SMEP, SMAP or 1 GiB pages (qemu64, 128M) passes ktest",
         r"(?s)^aerie-loader: warning: NO HARDWARE ENTROPY"
         r".*^aerie: cpu: WP on, NX on, SMEP off, SMAP off, UMIP off$"
         r".*^aerie: cpu: .*1 GiB pages off.*^aerie: W\^X audit: \d+ mappings, 0 W\+X"
         r".*^aerie: warning: no hardware entropy"
         r".*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok"]),
        ("no GOP at all (-vga none): the loader warns, serial only, and ktest passes",
         r"(?s)^aerie-loader: warning: no framebuffer \(no GOP\): serial only$"
         r".*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok", r"framebuffer: \d+x"]),
        ("two CPUs (-smp 2) on a qemu64 CPU (no PCID) both run threads, ktest passes",
         r"(?s)^aerie: smp: 2 CPUs up \(of 2 listed\), bring-up \d+ ms \(emulated\)$"
         r".*^aerie: sched: preemptive round robin on 2 CPUs"
         r".*^# sched: \d+ threads ran on CPUs 0x3, of 0x3 up$"
         r".*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok", r"did not start"])],
     ["-vga", "none", "-smp", "2"]),
]

# Machines too small or odd for ktest: (name, mem, /aerie/cmdline or None for
# the untouched build/aerie.img, regex that must appear, regexes that must
# not, machine: {"cpu": model, "usb": the disk is a USB stick}). Each stops
# once its line is seen.
PLAIN_SCENARIOS = [
    ("with 48 MiB the firmware cannot hold the kernel file: a clear loader error, "
     "the kernel never entered", "48M", "errorwait=0",
     r"^aerie-loader: error: cannot read /aerie/kernel.elf: the firmware has no memory "
     r"left for it$", [r"^aerie: "], {}),
    ("a CPU with NX off: the loader names it and the firmware setting, the kernel never "
     "entered", "128M", "errorwait=0",
     r"^aerie-loader: error: the CPU has no NX \(no-execute\) support, or it is turned "
     r"off: turn on \"Execute Disable Bit\" / \"NX\" in the firmware setup$",
     [r"^aerie: ", r"starting the kernel"], {"cpu": "qemu64,-nx"}),
    ("the untouched image boots as a USB stick (xHCI, no other disk) to ready, and prints "
     "no kernel address at the default level", "256M", None,
     r"(?s)^BdsDxe: starting Boot\d+ \"[^\"\n]*USB[^\"\n]*\".*^aerie: ready$",
     [r"panic", r"error", KERNEL_ADDRESS_RE], {"usb": True}),
]

TRUNCATED = "/aerie/t/cut.elf"

def truncated_kernel(data):
    return bad_kernels.cut_after_segments(data)

# A kernel stack overflow that a double fault caught: the owner, the stack's
# range, RSP, the address and which guard, in the function that overflowed;
# regs: a regex for the register dump between the report and the backtrace.
OVERFLOW_RE = (r"(?s)^aerie: panic: double fault: kernel stack overflow into the guard page "
               r"below the stack of {owner} \[0x[0-9a-f]+, 0x[0-9a-f]+\), rsp 0x[0-9a-f]+ at "
               r"0x[0-9a-f]+, rip {fn}\+0x[0-9a-f]+$.*{regs}backtrace:.*{fn}")

# name, loader options (kernel= picks a test kernel), regex that must appear,
# regexes that must not, expected QEMU status (None: stopped once the
# expectation was seen).
KERNEL_SCENARIOS = [
    ("normal boot reaches ready, and prints no kernel address at the default level", "",
     r"^aerie: ready$", [r"panic", r"error", KERNEL_ADDRESS_RE], None),
    ("a NULL read panics as a NULL pointer dereference", "crash=null",
     r"(?s)^aerie: panic: page fault: NULL pointer dereference at 0x0, rip crash_read_null\+0x"
     r"[0-9a-f]+ \(error 0x0: not present, read, supervisor\)$.*backtrace:.*crash_read_null"
     r".*kmain", [r"nested panic"], qemu.EXIT_PANIC),
    ("a call into .rodata panics as a fetch from an NX page", "crash=nx",
     r"(?s)^aerie: panic: page fault: instruction fetch from an NX page at (0x[0-9a-f]+), "
     r"rip \1, called from crash_exec_nx\+0x[0-9a-f]+ \(error 0x11: protection violation, "
     r"instruction fetch, supervisor\)$", [r"nested panic"], qemu.EXIT_PANIC),
    ("a write to kernel text panics as such", "crash=wtext",
     r"(?s)^aerie: panic: page fault: write to kernel text \(crash_if_requested\+0(x0)?\) at "
     r"0x[0-9a-f]+, rip crash_write_text\+0x[0-9a-f]+ \(error 0x3: protection violation, "
     r"write, supervisor\)$", [r"nested panic"], qemu.EXIT_PANIC),
    ("unbounded recursion on kmain's guarded stack is a named kernel stack overflow",
     "crash=overflow", OVERFLOW_RE.format(owner="kmain", fn="crash_recurse", regs=""), [r"nested panic"],
     qemu.EXIT_PANIC),
    ("16 KiB frames probe down into the guard (stack-clash protection), never jump it",
     "crash=bigframe", OVERFLOW_RE.format(owner="kmain", fn="crash_big_frame", regs="") + r".*kmain_guarded",
     [r"nested panic"],
     qemu.EXIT_PANIC),
    ("unbounded recursion in the timer interrupt is a kernel stack overflow naming the "
     "interrupted thread", "crash=irq-overflow",
     # IF (rflags bit 9) clear: it overflowed in the interrupt handler.
     OVERFLOW_RE.format(owner="crash victim", fn="crash_recurse",
                        regs=r"rflags [0-9a-f]{5}[014589cd][0-9a-f]{2} .*"),
     [r"nested panic"], qemu.EXIT_PANIC),
    ("#GP on a non-canonical pointer names the address", "crash=gp",
     r"(?s)^aerie: panic: general protection fault: probably a non-canonical address "
     r"0x8000000000000000 \([^)\n]*\), rip crash_noncanonical\+0x[0-9a-f]+ \(error 0x0: no "
     r"selector\)$", [r"nested panic"], qemu.EXIT_PANIC),
    ("a smashed stack canary panics naming the function whose frame it was", "crash=canary",
     r"(?s)^aerie: panic: stack protector: the canary of crash_canary's frame was overwritten "
     r"\(checked at crash_canary\+0x[0-9a-f]+\)$.*backtrace:.*__stack_chk_fail.*crash_canary"
     r".*kmain", [r"nested panic"], qemu.EXIT_PANIC),
    ("nosmep nosmap noumip nopcid noinvpcid turn them off; vmm, fault and aspace tests pass "
     "(user spaces without PCIDs, user access without STAC/CLAC)",
     "nosmep nosmap noumip nopcid noinvpcid ktest=vmm,fault,aspace",
     r"(?s)^aerie: cpu: WP on, NX on, SMEP off, SMAP off, UMIP off$"
     r".*^aerie: cpu: PGE on, PCID off, INVPCID off, "
     r".*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok", r"warning: unknown option"],
     qemu.EXIT_TESTS_PASSED),
    ("nokaslr gives the documented bases and passes ktest", "nokaslr ktest loglevel=debug",
     r"(?s)^aerie: layout: direct map 0xffff800000000000, kernel 0xffffc00000000000 .*"
     r"^aerie: layout: heap 0xffffd00000000000, stacks 0xffffe00000000000, "
     r"mmio 0xfffff00000000000$.*^\d+ passed, 0 failed(, \d+ skipped)?$", [r"not ok"],
     qemu.EXIT_TESTS_PASSED),
    ("the APIC timer is calibrated against the PIT (QEMU's APIC counts 62500/ms at "
     "divide 16) and the timer suite passes with interrupts on", "ktest=timer",
     r"(?s)^aerie: timer: local APIC timer 100 Hz \(calibrated against the PIT: 6[12]\d{3} "
     r"ticks/ms, TSC \d+ kHz\)$.*^aerie: timer: interrupt round trip \d+ emulated TSC cycles"
     r".*^7 passed, 0 failed$", [r"not ok", r"panic"], qemu.EXIT_TESTS_PASSED),
    ("panic() reports and exits 0x12", "crash=panic",
     r"(?s)^aerie: panic: crash=panic requested$.*crash_if_requested", [], qemu.EXIT_PANIC),
    ("lockdebug: the whole ktest run reports only the lockdebug suite's provoked faults",
     "lockdebug ktest", r"(?s)^aerie: lockdebug: lock order and context checks on$.*" + PASSED_RE[1:],
     [r"not ok", r"^aerie: error: lockdebug: (?!.*(take_pair|ktest_fn_lockdebug_))"],
     qemu.EXIT_TESTS_PASSED),
    ("heapdebug turns the heap's debug checks on and the heap tests still pass",
     "heapdebug ktest=heap",
     r"(?s)^aerie: heap: .*, debug checks on$.*^\d+ passed, 0 failed(, \d+ skipped)?$",
     [r"not ok", r"warning: unknown option"], qemu.EXIT_TESTS_PASSED),
    ("heap: a double free panics naming the block", "crash=double-free",
     r"(?s)^aerie: panic: heap: double free of 0x[0-9a-f]+ \(block of \d+ bytes\)$"
     r".*backtrace:.*crash_double_free", [r"nested panic"], qemu.EXIT_PANIC),
    ("heap: freeing a pointer inside a block panics as a bad free", "crash=bad-free",
     r"(?s)^aerie: panic: heap: bad free of 0x[0-9a-f]+: inside block 0x[0-9a-f]+ \(\d+ bytes, "
     r"64 requested\)$.*backtrace:.*crash_bad_free", [r"nested panic"], qemu.EXIT_PANIC),
    ("heap: a one-byte overrun is caught by the canary", "crash=overrun",
     r"(?s)^aerie: panic: heap: buffer overrun: the canary after the 40 bytes of block "
     r"0x[0-9a-f]+ \(\d+ bytes\) is overwritten$.*backtrace:.*crash_overrun",
     [r"nested panic"], qemu.EXIT_PANIC),
    ("heap: an overwritten block header is caught on free", "crash=heap-header",
     r"(?s)^aerie: panic: heap: header of block 0x[0-9a-f]+ overwritten \(size field "
     r"0x4141414141414141\)$.*backtrace:.*crash_heap_header", [r"nested panic"],
     qemu.EXIT_PANIC),
    ("heap: a write past a large block hits its guard page", "crash=heap-guard",
     r"(?s)^aerie: panic: page fault: [^\n]*guard page of heap block 0x[0-9a-f]+ \(5000 bytes\) "
     r"at 0x[0-9a-f]+, rip crash_heap_guard\+0x[0-9a-f]+ \(error 0x2: not present, write, "
     r"supervisor\)$.*backtrace:.*crash_heap_guard", [r"nested panic"], qemu.EXIT_PANIC),
    ("console: lines printed by two preempted threads come out whole", "ktest=console",
     r"(?s)(?=.*^# console: thread a line 99 x{60}$)(?=.*^# console: thread b line 99 x{60}$)"
     r".*^1 passed, 0 failed$",
     [r"^# console: (?!thread [ab] line \d+ x{60}$|\d+ preemptions while printing$).*",
      r"^.+# console: .*$"], qemu.EXIT_TESTS_PASSED),
    ("ring 3: the user and process suites pass, each fault kills only its program with one "
     "report line, and no console line holds a kernel address", "ktest=user,process",
     r"(?s)^hello: hello from ring 3, pid \d+, 0 args$"
     r".*^aerie: user fault: pid \d+ \(utest\): #GP general protection at 0x[0-9a-f]+ "
     r"ip 0x[0-9a-f]+$"
     r".*^aerie: user fault: pid \d+ \(utest\): page fault \(fetch, protection violation\) "
     r"at a kernel address ip a kernel address$"
     r".*^utest: efault: all refused$"
     r".*^aerie: user fault: pid \d+ \(utest\): #GP general protection at 0x800000000000 "
     r"ip 0x800000000000$"
     r".*^utest: getpid round trip: median \d+, min \d+ TSC cycles \(emulated\)$"
     r".*^uproc: fork bomb: fork failed with -11 at depth 255$"
     r".*^(uproc: fork bomb: fork failed with -12 at depth \d+|aerie: user fault: pid \d+ "
     r"\(uproc\): out of memory on a page fault at 0x[0-9a-f]+ ip 0x[0-9a-f]+)$"
     r".*^aerie: user fault: pid \d+ \(uproc\): out of memory on a page fault at 0x[0-9a-f]+ "
     r"ip 0x[0-9a-f]+$"
     r".*^uproc: # fork with 4 MiB touched \+ wait: median \d+ TSC cycles \(emulated, 5 runs\)$"
     r".*^ufuzz: # ufuzz: 2000 calls, \d+ succeeded, \d+ failed, \d+ children"
     r".*^\d+ passed, 0 failed$", [r"not ok", r"panic", KERNEL_ADDRESS_RE],
     qemu.EXIT_TESTS_PASSED),
    ("ring 3 without SMEP and SMAP (no STAC/CLAC): the user suite passes", "nosmep nosmap ktest=user",
     r"(?s)^aerie: cpu: WP on, NX on, SMEP off, SMAP off.*^\d+ passed, 0 failed$",
     [r"not ok", r"panic"], qemu.EXIT_TESTS_PASSED),
    ("ktest=nosuch names the unknown suite, lists the real ones and fails", "ktest=nosuch",
     r"^aerie: error: ktest: unknown suite \"nosuch\"; suites: (\w+, )*pmm(, \w+)*$",
     [r"^KTAP version", r"^\d+ passed", r"panic"],
     qemu.EXIT_TESTS_FAILED),
    ("ktest=pmm,nosuch runs nothing and names the unknown suite", "ktest=pmm,nosuch",
     r"^aerie: error: ktest: unknown suite \"nosuch\"; suites: (\w+, )*pmm(, \w+)*$",
     [r"^KTAP version", r"^ok \d+ pmm_", r"panic"], qemu.EXIT_TESTS_FAILED),
    ("efifail=3: ExitBootServices refused 3 times, the loader retries and the kernel boots; "
     "the trampoline page is executable", "efifail=3 loglevel=debug",
     r"(?s)^aerie-loader: debug: trampoline page: memory attribute protocol [^;\n]+; "
     r"executable in the firmware's tables$.*^aerie-loader: ExitBootServices succeeded after 3 "
     r"retries \(stale memory map key\)$.*^aerie: ready$",
     [r"error", r"warning", r"panic"], None),
    ("a kernel cut after its last segment boots and says its symbols are missing",
     f"kernel={TRUNCATED}",
     r"(?s)^aerie: warning: kernel symbols unavailable \(section headers past the end of "
     r"the file\): backtraces show offsets only$.*^aerie: ready$",
     [r"^aerie-loader: error", r"panic"], None),
    ("a kernel without symbols still panics readably, with offsets", f"kernel={TRUNCATED} "
     "crash=null",
     r"(?s)^aerie: warning: kernel symbols unavailable .*^aerie: panic: page fault: NULL "
     r"pointer dereference.*backtrace:\n\s+0x[0-9a-f]+ kernel\+0x[0-9a-f]+$",
     [r"nested panic"], qemu.EXIT_PANIC),
]


# Kernel scenarios (by options) whose screen must show the serial log's last lines.
SCREEN_SCENARIOS = {""}

# Panics whose report must be on screen as in the serial log: options, and
# a regex for the report (up to its backtrace's first named frame).
SCREEN_PANICS = [
    ("crash=null", r"(?s)^aerie: panic: page fault: NULL pointer .*^  backtrace:\n.*crash_read_null"),
    # The fault is inside a screen update: the report follows a full redraw.
    ("crash=screen", r"(?s)^aerie: crash=screen: this line faults while it is drawn$.*"
     r"^aerie: panic: page fault: NULL pointer dereference at 0x0, rip "
     r"screen_injected_fault\+.*^  backtrace:\n.*screen_injected_fault"),
]

def corrupt_magic(data):
    return b"\x7fELX" + data[4:]


# name, how the kernel file is made (None: no file), the loader's error.
# The shipped loader refuses every such kernel by its SHA-256 pin before
# parsing it, so each case runs under a copy of the loader pinned to that
# kernel (scripts/secureboot.py, pin_loader): the ELF checks behind the pin
# stay tested at boot level (docs/design.md, Secure Boot chain of trust).
LOADER_CASES = [
    ("loader refuses a kernel with a broken ELF magic", corrupt_magic,
     "bad kernel: bad ELF magic"),
    ("loader reports a missing kernel", None, "kernel not found: {path} is missing"),
    ("loader reports an empty kernel", lambda data: b"", "bad kernel: {path} is empty"),
] + [(f"loader refuses a kernel: {name}", mutate, f"bad kernel: {reason}")
     for name, mutate, reason in bad_kernels.CASES]

# Refusals that come from options, not kernel files: name, the loader's
# options, a regex for its error line (after "error: ").
LOADER_OPTION_CASES = [
    ("efifail=99: ExitBootServices refused every time, the loader gives up and returns with "
     "every page freed and the shell answering (the other loader cases run after it there)",
     "efifail=99 errorwait=0",
     r"ExitBootServices failed 8 times in a row \(8 forced by efifail\): the memory map "
     r"keeps changing; giving up"),
]

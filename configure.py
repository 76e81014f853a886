#!/usr/bin/env python3
"""Write build.ninja: every source list of Aerie's build is in this file.

Adding a source file is one edit: put it in the list of each component it
belongs to (the loader, the kernel, a host test, a fuzzer or the bench).
build.ninja is committed so that a fresh clone builds with plain `ninja`;
ninja re-runs this script whenever it changes, and `ninja test` checks that
the committed build.ninja is exactly what this script writes
(`configure.py --check`).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# --- the source lists ---------------------------------------------------------

# Portable freestanding C shared by the loader, the kernel and the host.
LIB = ["lib/elf.c", "lib/fmt.c", "lib/cmdline.c", "lib/string.c"]
# ACPI tables: the kernel only (the loader just passes the RSDP on).
ACPI = ["lib/acpi.c"]
# The kernel's SHA-256, pinned in the loader (efi-loader/verify.c): the build
# order is kernel.elf -> this header -> the loader.
KERNEL_HASH_H = "build/gen/kernel_sha256.h"
# Sources that include a generated header: ninja must make it first.
GENERATED_DEPS = {"efi-loader/verify.c": KERNEL_HASH_H}
# The screen console's renderer and its font, converted at build time from
# fonts-spleen (scripts/setup.sh) by scripts/psf2c.py; the .txt copy of the
# glyphs is what scripts/test.py decodes screenshots with.
FONT_PSF = "/usr/share/consolefonts/spleen-8x16.psfu.gz"
FONT_C, FONT_TXT = "build/gen/fbcon_font.c", "build/gen/fbcon_font.txt"
FBCON = ["lib/fbcon.c", FONT_C]
GENERATED = [FONT_C]
PGTABLE = ["arch/x86_64/pgtable.c"]
BOOTMAP = ["mm/bootmap.c"]
HEAP = ["mm/heap.c", "mm/heap_large.c", "mm/heap_check.c"]

LOADER = [
    "efi-loader/main.c", "efi-loader/console.c", "efi-loader/alloc.c",
    "efi-loader/file.c", "efi-loader/cmdline.c", "efi-loader/memmap.c",
    "efi-loader/paging.c", "efi-loader/kernel.c", "efi-loader/firmware.c",
    "efi-loader/handoff.c", "efi-loader/entropy.c", "efi-loader/layout.c",
    "efi-loader/cpucheck.c", "efi-loader/nx.c", "efi-loader/trampoline.S",
    "efi-loader/verify.c", "efi-loader/secureboot.c", "efi-loader/options.c",
    "lib/sha256.c", "mm/kaslr.c", "mm/memmap.c",
] + LIB + PGTABLE + BOOTMAP

KERNEL = [
    "arch/x86_64/entry.S", "arch/x86_64/isr.S", "arch/x86_64/cpu.c",
    "arch/x86_64/gdt.c", "arch/x86_64/idt.c", "arch/x86_64/trap.c",
    "arch/x86_64/backtrace.c", "arch/x86_64/serial.c", "arch/x86_64/mmu.c",
    "arch/x86_64/arch_test.c", "arch/x86_64/fault.c", "arch/x86_64/insn_decode.c",
    "arch/x86_64/fixup.c", "arch/x86_64/probe.S", "arch/x86_64/fault_test.c",
    "arch/x86_64/apic.c", "arch/x86_64/apic_calibrate.c", "arch/x86_64/apic_test.c",
    "arch/x86_64/switch.S", "arch/x86_64/switch_test.c",
    "arch/x86_64/run_on_stack.S", "arch/x86_64/gdt_test.c", "arch/x86_64/percpu.c",
    "arch/x86_64/acpi.c", "arch/x86_64/smp.c", "arch/x86_64/smp_ap.c", "arch/x86_64/smp_ipi.c",
    "arch/x86_64/smp_trampoline.S", "arch/x86_64/smp_test.c",
    "kernel/main.c", "kernel/console.c", "kernel/panic.c", "kernel/ktest.c",
    "kernel/boot.c", "kernel/symbols.c", "kernel/boot_test.c", "kernel/crash.c",
    "kernel/layout_test.c", "kernel/wx_audit.c", "kernel/fault.c", "kernel/random.c",
    "kernel/stack_protector.c", "kernel/stack_protector_test.c", "kernel/timer.c",
    "kernel/timer_test.c", "kernel/console_test.c", "kernel/alloc_stress.c", "kernel/frame_hold.c", "kernel/console_screen_test.c", "kernel/thread.c", "kernel/sched.c", "kernel/sched_test.c", "kernel/wait.c",
    "kernel/mutex.c", "kernel/thread_test.c", "kernel/lockdebug.c", "kernel/lockdebug_test.c",
    "arch/x86_64/syscall.c", "arch/x86_64/syscall_entry.S", "arch/x86_64/uaccess.S",
    "arch/x86_64/string.S",
    "kernel/uaccess.c", "kernel/syscall.c", "kernel/syscall_mm.c", "kernel/process.c",
    "kernel/user.c", "kernel/user_image.c",
    "kernel/user_programs.S", "kernel/user_test.c", "kernel/process_test.c",
    "mm/memmap.c", "mm/addr.c", "mm/pmm.c", "mm/pmm_cache.c", "mm/pmm_boot.c", "mm/remote_reclaim.c",
    "mm/pmm_test.c", "mm/remote_reclaim_test.c",
    "mm/slab.c", "mm/slab_kernel.c", "mm/slab_test.c",
    "mm/frame_share.c", "mm/aspace.c", "mm/aspace_region.c", "mm/aspace_fault.c",
    "mm/aspace_test.c",
    "mm/vmm.c", "mm/vmm_boot.c", "mm/vmm_demand.c", "mm/vmm_shootdown.c", "mm/vmm_shootdown_test.c", "mm/vmm_fault.c", "mm/vmm_test.c",
    "mm/kmalloc.c", "mm/heap_test.c", "mm/mmio.c", "mm/kstack.c", "mm/kstack_test.c",
] + LIB + ACPI + PGTABLE + BOOTMAP + HEAP + FBCON

# User programs (ring 3): build/user/<name>.elf from the runtime plus its
# own sources, shipped in the kernel by kernel/user_programs.S.
USER_RUNTIME = ["user/crt0.S", "user/ulib.c"]
USER_PROGRAMS = {
    "hello": ["user/hello.c"],
    "utest": ["user/utest.c"],
    "uproc": ["user/uproc.c", "user/uproc_bench.c"],
    "ufuzz": ["user/ufuzz.c"],
}

# Host unit tests under ASan/UBSan: build/host/<name>.
HOST_TESTS = {
    "test_memmap": ["tests/host/test_memmap.c", "mm/memmap.c"],
    "test_elf": ["tests/host/test_elf.c", "lib/elf.c"],
    "test_fmt": ["tests/host/test_fmt.c", "lib/fmt.c"],
    "test_cmdline": ["tests/host/test_cmdline.c", "lib/cmdline.c"],
    "test_pgtable": ["tests/host/test_pgtable.c"] + PGTABLE,
    "test_kaslr": ["tests/host/test_kaslr.c", "mm/kaslr.c"],
    "test_bootmap": ["tests/host/test_bootmap.c", "lib/elf.c", "mm/memmap.c"]
    + PGTABLE + BOOTMAP,
    "test_pmm": ["tests/host/test_pmm.c", "mm/pmm.c", "mm/pmm_cache.c", "mm/memmap.c"],
    "test_pmm_cache": ["tests/host/test_pmm_cache.c", "mm/pmm.c", "mm/pmm_cache.c", "mm/memmap.c"],
    "test_heap": ["tests/host/test_heap.c", "lib/fmt.c"] + HEAP,
    "test_slab": ["tests/host/test_slab.c", "mm/slab.c"],
    "test_switch": ["tests/host/test_switch.c", "arch/x86_64/switch.S",
                    "tests/switch_kernel.S"],
    "test_fbcon": ["tests/host/test_fbcon.c"] + FBCON,
    "test_sha256": ["tests/host/test_sha256.c", "lib/sha256.c"],
    "test_options": ["tests/host/test_options.c", "efi-loader/options.c", "lib/cmdline.c"],
    "test_spinlock": ["tests/host/test_spinlock.c"],
    "test_frame_share": ["tests/host/test_frame_share.c", "mm/frame_share.c"],
    "test_acpi": ["tests/host/test_acpi.c", "lib/acpi.c"],
    "test_string": ["tests/host/test_string.c", "tests/string_kernel.S"],
}

# libFuzzer targets: build/fuzz/<name>.
FUZZERS = {
    "fuzz_memmap": ["tests/fuzz/fuzz_memmap.c", "mm/memmap.c"],
    "fuzz_elf": ["tests/fuzz/fuzz_elf.c", "lib/elf.c"],
    "fuzz_pmm": ["tests/fuzz/fuzz_pmm.c", "mm/pmm.c", "mm/pmm_cache.c", "mm/memmap.c"],
    "fuzz_pgtable": ["tests/fuzz/fuzz_pgtable.c"] + PGTABLE,
    "fuzz_pmm_cache": ["tests/fuzz/fuzz_pmm_cache.c", "mm/pmm.c", "mm/pmm_cache.c",
                       "mm/memmap.c"],
    "fuzz_heap": ["tests/fuzz/fuzz_heap.c", "lib/fmt.c"] + HEAP,
    "fuzz_slab": ["tests/fuzz/fuzz_slab.c", "mm/slab.c"],
    "fuzz_frame_share": ["tests/fuzz/fuzz_frame_share.c", "mm/frame_share.c"],
    "fuzz_acpi": ["tests/fuzz/fuzz_acpi.c", "lib/acpi.c"],
}

# `ninja bench`: the portable allocators natively, against references.
BENCH = [
    "tests/bench/bench.c", "tests/bench/bench_pmm.c", "tests/bench/bench_vmm.c",
    "tests/bench/bench_heap.c", "tests/bench/bench_switch.c", "tests/bench/bench_refs.c",
    "tests/bench/bench_threads.c", "tests/bench/bench_string.c", "tests/string_kernel.S",
    "mm/slab.c",
    "arch/x86_64/switch.S",
    "tests/switch_kernel.S", "mm/pmm.c", "mm/pmm_cache.c", "mm/memmap.c", "lib/fmt.c",
] + PGTABLE + HEAP

# Scripts `ninja test` runs; a change to one of them re-runs the tests.
TEST_SCRIPTS = ["scripts/test.py", "scripts/secureboot.py", "scripts/scenarios.py", "scripts/qemu.py",
                "scripts/repro.py", "scripts/bad_kernels.py", "scripts/mkimage.sh",
                "configure.py"]
TEST_SCRIPTS += ["scripts/gdb_aerie.py"]  # the GDB test sources it
TEST_SCRIPTS += ["scripts/vm.py", "scripts/screen.py", FONT_TXT]  # the screenshot check decodes with FONT_TXT

# --- flags and rules -------------------------------------------------------------

HEADER = """\
# Aerie's build. GENERATED by configure.py: edit that file, not this one
# (ninja re-runs it when it changes). `ninja` builds the loader, the kernel
# and the bootable disk image; `ninja run` boots it in QEMU; `ninja debug`
# boots it with GDB attached at this boot's KASLR slide; `ninja test`
# runs every test; `ninja matrix` runs ktest across machines (docs/matrix.md);
# `ninja sign` signs the loader for Secure Boot (AERIE_SIGN_KEY, AERIE_SIGN_CERT);
# `ninja fuzz` runs the fuzzers for longer; `ninja bench` times the portable
# allocators natively.
ninja_required_version = 1.10
builddir = build

cc = clang
ld = ld.lld
# Every path the compiler records (DWARF's compilation directory) is "."
# rather than the checkout's absolute path, so the same sources give the
# same kernel.elf in any directory (docs/design.md, reproducible builds);
# source paths are relative already. GDB run from the tree root finds them.
common = -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -g -Iinclude $
  -ffile-compilation-dir=.

# Kernel: freestanding PIE, no red zone, no SSE (the kernel does not save
# vector state), frame pointers kept for backtraces, a stack canary in every
# frame with an array or an address-taken local, read from this CPU's
# per-CPU area at %gs:40 (kernel/stack_protector.c; include/kernel/percpu.h
# checks STACK_PROTECTOR_GUARD_OFFSET against the field's offset); a frame
# larger than a page probes each page on the way down, so it hits a stack's guard page instead of jumping it
# (stack-clash protection: clang 14's driver passes -fstack-clash-protection
# on only for Linux targets, hence -Xclang).
# The triple is Linux's, as the Linux kernel's own, because clang 14's x86
# backend honours -mstack-protector-guard=tls only for glibc-like targets
# (on x86_64-unknown-none-elf it silently keeps the global
# __stack_chk_guard); -ffreestanding -nostdlibinc keep the host's headers
# and libraries out, and the code is otherwise the same.
kflags = -target x86_64-unknown-linux-gnu -ffreestanding -nostdlibinc -fno-builtin -fpie $
  -fvisibility=hidden -mno-red-zone -mgeneral-regs-only $
  -fstack-protector-strong -mstack-protector-guard=tls $
  -mstack-protector-guard-reg=gs -mstack-protector-guard-offset=40 $
  -DSTACK_PROTECTOR_GUARD_OFFSET=40 $
  -Xclang -fstack-clash-protection $
  -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer $
  -fno-asynchronous-unwind-tables -O2 $common
# Kernel assembly: kflags without the code-generation flags that only C
# uses (clang rejects them as unused on a .S file).
kasflags = -target x86_64-unknown-none-elf -ffreestanding -fpie $common
# User programs: freestanding static PIE (linked at 0, RELATIVE relocations
# only, no interpreter), SSE allowed (the kernel saves it per user thread).
uflags = -target x86_64-unknown-none-elf -ffreestanding -nostdlib -fpie $
  -fvisibility=hidden -fno-stack-protector -fno-asynchronous-unwind-tables -O2 $common
# Loader: gnu-efi's ELF-to-PE scheme; firmware calls use the MS ABI directly.
lflags = -target x86_64-unknown-none-elf -ffreestanding -fno-builtin -fpic $
  -fvisibility=hidden -fshort-wchar -mno-red-zone -mgeneral-regs-only $
  -fno-stack-protector -fno-asynchronous-unwind-tables -O2 $
  -DGNU_EFI_USE_MS_ABI -isystem /usr/include/efi -isystem /usr/include/efi/x86_64 $
  -Ibuild/gen $common
# Host: the portable C under sanitizers.
hflags = -O1 -fsanitize=address,undefined -fno-sanitize-recover=all $
  -fno-omit-frame-pointer -DAERIE_HOST $common
fflags = -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -DAERIE_HOST $common
# Bench: the portable C natively, optimised as the kernel is (-O2, no -march).
bflags = -O2 -fno-omit-frame-pointer -DAERIE_HOST -DAERIE_BENCH $common
# The bench's libraries: Boost.Context is the switch suite's reference;
# jemalloc's static library with its malloc API renamed (bench_je_*, so
# glibc's malloc stays the process's) and mimalloc, dlopen()ed by
# tests/bench/bench_refs.c, are the heap suite's.
blibs = -lm -lboost_context -ldl -lpthread
jemalloc_a = /usr/lib/x86_64-linux-gnu/libjemalloc_pic.a
je_syms = malloc free calloc realloc aligned_alloc memalign posix_memalign valloc malloc_usable_size

rule configure
  command = python3 configure.py
  generator = 1
  description = CONFIGURE build.ninja
rule kcc
  command = $cc $kflags -MD -MF $out.d -c $in -o $out
  depfile = $out.d
  deps = gcc
  description = CC (kernel) $in
rule kas
  command = $cc $kasflags -MD -MF $out.d -c $in -o $out
  depfile = $out.d
  deps = gcc
  description = AS (kernel) $in
rule ucc
  command = $cc $uflags -MD -MF $out.d -c $in -o $out
  depfile = $out.d
  deps = gcc
  description = CC (user) $in
rule uld
  command = $ld -pie --no-dynamic-linker -z text -z separate-loadable-segments $
    -z max-page-size=4096 --hash-style=gnu -e _start -o $out $in
  description = LD $out
rule lcc
  command = $cc $lflags -MD -MF $out.d -c $in -o $out
  depfile = $out.d
  deps = gcc
  description = CC (loader) $in
rule kld
  command = $ld -pie --no-dynamic-linker -z text -z separate-loadable-segments $
    -z max-page-size=4096 --hash-style=gnu -e _start -o $out $in
  description = LD $out
rule lld_efi
  command = $ld -shared -Bsymbolic -nostdlib -z text --apply-dynamic-relocs $
    -T efi-loader/efi.lds /usr/lib/crt0-efi-x86_64.o $in /usr/lib/libgnuefi.a -o $out
  description = LD $out
# objcopy cannot set DllCharacteristics: scripts/pe_nxcompat.py declares
# NX_COMPAT (the loader copes with NX data and allocations: efi-loader/nx.c).
rule efi
  command = objcopy -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel $
    -j .rela -j .reloc --target efi-app-x86_64 --subsystem=10 $in $out $
    && scripts/pe_nxcompat.py $out
  description = PE $out
rule host
  command = $cc $hflags $in -lm -o $out && scripts/depfile.sh $out $cc $hflags -- $in
  depfile = $out.d
  deps = gcc
  description = HOSTCC $out
rule fuzzer
  command = $cc $fflags $in -o $out && scripts/depfile.sh $out $cc $fflags -- $in
  depfile = $out.d
  deps = gcc
  description = FUZZCC $out
rule jemalloc_rename
  command = objcopy $$(for s in $je_syms; do printf -- '--redefine-sym %s=bench_je_%s ' $$s $$s; done) $in $out
  description = OBJCOPY $out (jemalloc, malloc API renamed)
rule bench_cc
  command = $cc $bflags $in $blibs -o $out && scripts/depfile.sh $out $cc $bflags -- $in
  depfile = $out.d
  deps = gcc
  description = BENCHCC $out
rule image
  command = scripts/mkimage.sh $out build/BOOTX64.EFI build/kernel.elf "loglevel=info"
  description = IMAGE $out
rule kernel_hash
  command = python3 scripts/kernel_hash.py $in $out
  description = SHA-256 $in
# `ninja sign`: the loader signed with the user's key for Secure Boot, and an
# image that boots it; sign.sh says what to set if the key is not given.
rule sign
  command = scripts/sign.sh
  pool = console
  description = SIGN build/BOOTX64.signed.efi build/aerie-signed.img
rule font
  command = python3 scripts/psf2c.py $in $out
  description = FONT $in
rule run_qemu
  command = scripts/qemu.py build/aerie.img
  pool = console
  description = QEMU build/aerie.img (quit: Ctrl-A X)
rule run_debug
  command = scripts/debug.py build/aerie.img
  pool = console
  description = DEBUG build/aerie.img (GDB at this boot's KASLR slide)
rule run_tests
  command = scripts/test.py
  pool = console
  description = TEST
rule run_matrix
  command = scripts/matrix.py
  pool = console
  description = MATRIX (ktest on each machine of docs/matrix.md)
rule run_bench
  command = build/bench/bench
  pool = console
  description = BENCH
rule run_fuzz
  command = scripts/fuzz.sh 300
  pool = console
  description = FUZZ

build build.ninja: configure | configure.py
"""


def objects(out, rule, prefix, sources):
    """Compile lines for sources under build/<prefix>/; returns the object paths."""
    objs = []
    for src in sources:
        obj = f"build/{prefix}/{Path(src).with_suffix('.o')}"
        src_rule = "kas" if rule == "kcc" and src.endswith(".S") else rule
        gen = f" | {GENERATED_DEPS[src]}" if src in GENERATED_DEPS else ""
        out.append(f"build {obj}: {src_rule} {src}{gen}")
        objs.append(obj)
    return objs


def wrapped(items, indent="  "):
    """Items joined with ninja's $-newline continuations, a few per line."""
    lines, line = [], ""
    for item in items:
        if line and len(line) + len(item) > 86:
            lines.append(line)
            line = ""
        line = f"{line} {item}" if line else item
    lines.append(line)
    return (" $\n" + indent).join(lines)


def generate():
    out = [HEADER]
    out.append("# --- generated sources " + "-" * 53)
    out.append(f"build {FONT_C} {FONT_TXT}: font {FONT_PSF} | scripts/psf2c.py")
    out.append(f"build {KERNEL_HASH_H}: kernel_hash build/kernel.elf | scripts/kernel_hash.py\n")

    out.append("# --- the loader " + "-" * 60)
    objs = objects(out, "lcc", "loader", LOADER)
    out.append("build build/loader.so: lld_efi " + wrapped(objs) + " $\n  | efi-loader/efi.lds")
    out.append("build build/BOOTX64.EFI: efi build/loader.so | scripts/pe_nxcompat.py\n")

    out.append("# --- user programs " + "-" * 57)
    runtime = objects(out, "ucc", "user", USER_RUNTIME)
    elves = []
    for name, sources in USER_PROGRAMS.items():
        objs = objects(out, "ucc", "user", sources)
        elves.append(f"build/user/{name}.elf")
        out.append(f"build {elves[-1]}: uld " + wrapped(runtime + objs))
    out.append("")
    out.append("# --- the kernel " + "-" * 60)
    objs = objects(out, "kcc", "kernel", KERNEL)
    # The programs' ELF files are .incbin'd: the depfile does not name them.
    out = [line + " | " + wrapped(elves) if line.startswith("build build/kernel/kernel/user_programs.o:")
           else line for line in out]
    out.append("build build/kernel.elf: kld " + wrapped(objs) + "\n")

    out.append("# --- the disk image " + "-" * 56)
    out.append("build build/aerie.img: image | build/BOOTX64.EFI build/kernel.elf "
               "scripts/mkimage.sh\n")

    out.append("# --- host tests, fuzzers and the bench " + "-" * 37)
    for name, sources in HOST_TESTS.items():
        out.append(f"build build/host/{name}: host " + wrapped(sources))
    for name, sources in FUZZERS.items():
        out.append(f"build build/fuzz/{name}: fuzzer " + wrapped(sources))
    out.append("build build/bench/libjemalloc_renamed.a: jemalloc_rename $jemalloc_a")
    out.append("build build/bench/bench: bench_cc " +
               wrapped(BENCH + ["build/bench/libjemalloc_renamed.a"]))
    out.append("build host-tests: phony " +
               wrapped([f"build/host/{n}" for n in HOST_TESTS]))
    out.append("build fuzzers: phony " + wrapped([f"build/fuzz/{n}" for n in FUZZERS]) + "\n")

    out.append("# --- the commands README documents " + "-" * 41)
    out.append("build run: run_qemu | build/aerie.img scripts/qemu.py")
    out.append("build debug: run_debug | build/aerie.img build/kernel.elf scripts/debug.py "
               "scripts/gdb_aerie.py scripts/qemu.py")
    out.append("build test: run_tests | build/aerie.img host-tests fuzzers " +
               wrapped(TEST_SCRIPTS))
    out.append("build matrix: run_matrix | build/aerie.img scripts/matrix.py scripts/test.py "
               "scripts/vm.py scripts/qemu.py")
    out.append("build sign: sign | build/BOOTX64.EFI build/kernel.elf scripts/sign.sh "
               "scripts/mkimage.sh")
    out.append("build bench: run_bench | build/bench/bench")
    out.append("build fuzz: run_fuzz | fuzzers scripts/fuzz.sh")
    out.append("build all: phony build/BOOTX64.EFI build/kernel.elf build/aerie.img")
    out.append("default all")
    return "\n".join(out) + "\n"


def main():
    text = generate()
    target = ROOT / "build.ninja"
    missing = [s for s in set(LOADER + KERNEL + BENCH + sum(HOST_TESTS.values(), []) +
                               USER_RUNTIME + sum(USER_PROGRAMS.values(), []) +
                               sum(FUZZERS.values(), []) + TEST_SCRIPTS)
               if not (ROOT / s).exists() and s not in GENERATED + [FONT_TXT]]
    if missing:
        print(f"configure.py: no such source: {', '.join(sorted(missing))}", file=sys.stderr)
        return 1
    if sys.argv[1:] == ["--check"]:
        if target.read_text() != text:
            print("configure.py: build.ninja is not what configure.py writes: "
                  "run ./configure.py and commit build.ninja", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

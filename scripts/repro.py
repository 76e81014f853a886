#!/usr/bin/env python3
"""Is Aerie's build reproducible? Build the image from a fresh copy of the
sources elsewhere and compare the outputs byte for byte.

usage: scripts/repro.py            two clean builds in two new directories
                                   (different path lengths and umasks, one
                                   after the other), compared
       scripts/repro.py --build    one clean build in a new directory,
                                   compared with this tree's build/ (what
                                   `ninja test` runs: half the cost)

A copy holds the tracked files as they are in the working tree (uncommitted
edits included, so it builds what build/ was built from) and builds only
what the image needs. The first difference is named: the ELF section, or
the part of the disk (GPT or ESP) it falls in. Exit status 0 if identical.
"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = ["build/BOOTX64.EFI", "build/kernel.elf", "build/aerie.img"]
# FAT stores times in 2-second steps: images made at least this far apart
# would differ if a clock-derived stamp were left anywhere. A clean build
# takes longer than that, so the check never has to wait.
FAT_TICK = 2.0
ESP_OFFSET = 1024 * 1024  # scripts/mkimage.sh


def copy_sources(dest):
    """Copy every tracked file of ROOT's working tree to dest, mtimes kept
    (so ninja sees build.ninja as up to date, as in a fresh clone)."""
    names = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name, follow_symlinks=False)


def build(tree, umask):
    """Build tree's image with ninja -j2 under umask; returns (ok, output)."""
    proc = subprocess.run(["ninja", "-j2", "build/aerie.img"], cwd=tree, capture_output=True,
                          text=True, preexec_fn=lambda: os.umask(umask))
    return proc.returncode == 0, proc.stdout + proc.stderr


def elf_sections(data):
    """{name: (file offset, bytes)} of an ELF64 file's sections, or {}."""
    if data[:4] != b"\x7fELF" or len(data) < 64:
        return {}
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    if shoff + shnum * shentsize > len(data) or shstrndx >= shnum:
        return {}
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    sections = {}
    for name, kind, _, _, off, size in headers[1:]:
        label = data[strtab + name:data.index(b"\0", strtab + name)].decode()
        sections[label] = (off, b"" if kind == 8 else data[off:off + size])  # 8: NOBITS
    return sections


def elf_changes(x, y):
    """Words for which sections of two ELF files differ in size or content (a
    longer string in one section moves every section after it)."""
    a, b = elf_sections(x), elf_sections(y)
    changed = [name for name in a if name not in b or a[name][1] != b[name][1]]
    return f"sections that differ: {', '.join(changed) or 'none'}" if a else "not ELF64"


def where(path, data, offset):
    """Words for the place of byte offset in output path."""
    if path.endswith(".img"):
        if offset >= len(data) - 33 * 512:
            return "the backup GPT"
        return "MBR or GPT" if offset < ESP_OFFSET else f"ESP +{offset - ESP_OFFSET:#x}"
    if data[:4] != b"\x7fELF":
        return "PE file" if data[:2] == b"MZ" else "not ELF"
    for name, (off, body) in elf_sections(data).items():
        if off <= offset < off + len(body):
            return f"in {name}"
    return "outside the sections: headers or padding"


def first_difference(path, a, b):
    """None if files a and b are identical, else words for the first difference."""
    x, y = a.read_bytes(), b.read_bytes()
    if x == y:
        return None
    common = min(len(x), len(y))
    n = next((i for i in range(0, common, 4096)  # the first unequal block
              if x[i:i + 4096] != y[i:i + 4096]), common)
    n = next((i for i in range(n, min(common, n + 4096)) if x[i] != y[i]), common)
    sizes = f"; sizes {len(x)} and {len(y)}" if len(x) != len(y) else ""
    extra = f"; {elf_changes(x, y)}" if x[:4] == b"\x7fELF" else ""
    return f"first difference at byte {n:#x} ({where(path, x, n)}){sizes}{extra}"


def fresh_build(parent, name, umask):
    """Copy the sources to parent/name and build there. Returns (tree, problem)."""
    tree = parent / name
    copy_sources(tree)
    ok, out = build(tree, umask)
    return tree, None if ok else f"the build in {name} failed:\n{out}"


def compare(tree_a, tree_b):
    """[(output, problem or None)] for the three outputs of two trees; a
    problem too if the two images were made less than FAT_TICK apart (a
    clock-derived stamp could then match by chance)."""
    results = [(out, first_difference(out, tree_a / out, tree_b / out)) for out in OUTPUTS]
    apart = abs((tree_b / OUTPUTS[2]).stat().st_mtime - (tree_a / OUTPUTS[2]).stat().st_mtime)
    results.append((f"images made {apart:.1f} s apart",
                    None if apart >= FAT_TICK else f"under {FAT_TICK:.0f} s: inconclusive"))
    return results


def check_against_build(workdir):
    """One clean build in a new directory (umask 077), compared with ROOT's
    build/ (a checkout elsewhere, built earlier under the user's umask).
    Returns (results, seconds): results are (what, problem or None)."""
    start = time.monotonic()
    tree, problem = fresh_build(Path(workdir), "repro-copy-in-a-longer-directory", 0o077)
    if problem:
        return [("build", problem)], time.monotonic() - start
    return compare(ROOT, tree), time.monotonic() - start


def check_twice(workdir):
    """Two clean builds, one after the other, in new directories of
    different path lengths under umasks 022 and 077. Returns (results, seconds)."""
    start = time.monotonic()
    a, problem = fresh_build(Path(workdir), "a", 0o022)
    if not problem:
        b, problem = fresh_build(Path(workdir), "second-build-b", 0o077)
    if problem:
        return [("build", problem)], time.monotonic() - start
    return compare(a, b), time.monotonic() - start


def main(argv):
    if argv[1:] not in ([], ["--build"]):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    check = check_against_build if argv[1:] else check_twice
    with tempfile.TemporaryDirectory(prefix="aerie-repro-") as workdir:
        results, seconds = check(workdir)
    for what, problem in results:
        print(f"{what}: {problem or 'ok'}")
    print(f"repro: {seconds:.1f} s")
    return 1 if any(problem for _, problem in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

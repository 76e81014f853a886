#!/usr/bin/env python3
"""Broken copies of the real kernel, for the loader's "bad kernel" boot tests.

Each entry of CASES is (name, mutate, reason): mutate(data) takes the bytes
of build/kernel.elf and returns a copy with one thing wrong, and reason is
the exact string lib/elf.c's elf_parse() refuses it with, so a boot of that
copy must print

    aerie-loader: error: bad kernel: <reason>

Every mutation changes only what it names and leaves everything elf_parse()
checks earlier intact, so each case reaches its own refusal. The file is
parsed with struct (ELF64, little-endian); segments, the dynamic table and
the RELA table are found from the file itself, not from fixed offsets.
(An empty file is refused by efi-loader/kernel.c before elf_parse(), with
"/aerie/kernel.elf is empty", so it is not a case here.)

`python3 scripts/bad_kernels.py` lists the cases.
"""

import struct

# --- ELF64 layout and constants (include/lib/elf_format.h) -------------------

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr, 64 bytes
PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr, 56 bytes
DYN = struct.Struct("<qQ")  # Elf64_Dyn, 16 bytes
RELA = struct.Struct("<QQq")  # Elf64_Rela, 24 bytes

EHDR_FIELDS = ("e_ident", "e_type", "e_machine", "e_version", "e_entry", "e_phoff",
               "e_shoff", "e_flags", "e_ehsize", "e_phentsize", "e_phnum",
               "e_shentsize", "e_shnum", "e_shstrndx")
PHDR_FIELDS = ("p_type", "p_flags", "p_offset", "p_vaddr", "p_paddr", "p_filesz",
               "p_memsz", "p_align")

EI_CLASS, EI_DATA = 4, 5
ELFCLASS32 = 1
ELFDATA2MSB = 2
ET_EXEC = 2
EM_AARCH64 = 183

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_TLS = 1, 2, 3, 7
PT_GNU_RELRO = 0x6474E552
PF_X, PF_W = 1, 2

DT_NULL, DT_NEEDED, DT_RELA, DT_RELASZ, DT_RELAENT, DT_TEXTREL = 0, 1, 7, 8, 9, 22

R_X86_64_64 = 1

PAGE_SIZE = 4096
GIB = 1 << 30


# --- reading and writing headers ----------------------------------------------

def read_ehdr(data):
    """The ELF header as a dict of its fields."""
    return dict(zip(EHDR_FIELDS, EHDR.unpack_from(data, 0)))


def write_ehdr(data, **changes):
    """A copy of data with the named ELF header fields changed."""
    eh = read_ehdr(data)
    eh.update(changes)
    out = bytearray(data)
    EHDR.pack_into(out, 0, *(eh[f] for f in EHDR_FIELDS))
    return bytes(out)


def set_ident(data, index, value):
    """A copy of data with e_ident[index] set to value."""
    out = bytearray(data)
    out[index] = value
    return bytes(out)


def read_phdrs(data):
    """The program headers, in file order, as dicts with their "index" added."""
    eh = read_ehdr(data)
    phdrs = []
    for i in range(eh["e_phnum"]):
        ph = dict(zip(PHDR_FIELDS, PHDR.unpack_from(data, eh["e_phoff"] + i * PHDR.size)))
        ph["index"] = i
        phdrs.append(ph)
    return phdrs


def write_phdr(data, ph, **changes):
    """A copy of data with the named fields of program header ph changed."""
    new = dict(ph, **changes)
    out = bytearray(data)
    PHDR.pack_into(out, read_ehdr(data)["e_phoff"] + ph["index"] * PHDR.size,
                   *(new[f] for f in PHDR_FIELDS))
    return bytes(out)


def loads(data):
    """The PT_LOAD program headers, sorted by p_vaddr."""
    return sorted((ph for ph in read_phdrs(data) if ph["p_type"] == PT_LOAD),
                  key=lambda ph: ph["p_vaddr"])


def find_load(data, want):
    """The first PT_LOAD (by address) whose flags satisfy want(flags)."""
    for ph in loads(data):
        if want(ph["p_flags"]):
            return ph
    raise ValueError("kernel has no suitable PT_LOAD")


def vaddr_to_offset(data, vaddr):
    """The file offset of link address vaddr, through the PT_LOAD holding it."""
    for ph in loads(data):
        if ph["p_vaddr"] <= vaddr < ph["p_vaddr"] + ph["p_filesz"]:
            return ph["p_offset"] + (vaddr - ph["p_vaddr"])
    raise ValueError(f"address {vaddr:#x} is not in the file")


def dynamic_entries(data):
    """(file offset, tag, value) of each PT_DYNAMIC entry up to and including DT_NULL."""
    dyn = next(ph for ph in read_phdrs(data) if ph["p_type"] == PT_DYNAMIC)
    entries = []
    for off in range(dyn["p_offset"], dyn["p_offset"] + dyn["p_filesz"], DYN.size):
        tag, val = DYN.unpack_from(data, off)
        entries.append((off, tag, val))
        if tag == DT_NULL:
            break
    return entries


def set_dyn_tag(data, offset, tag):
    """A copy of data with the dynamic entry at file offset offset retagged."""
    out = bytearray(data)
    _, val = DYN.unpack_from(out, offset)
    DYN.pack_into(out, offset, tag, val)
    return bytes(out)


def harmless_dyn_entry(data):
    """File offset of the first dynamic entry elf_parse ignores (e.g. DT_DEBUG)."""
    for off, tag, _ in dynamic_entries(data):
        if tag not in (DT_NULL, DT_RELA, DT_RELASZ, DT_RELAENT):
            return off
    raise ValueError("no spare dynamic entry to rewrite")


def rela_table(data):
    """(file offset, entry count) of the RELA table named by DT_RELA/DT_RELASZ."""
    tags = {tag: val for _, tag, val in dynamic_entries(data)}
    return vaddr_to_offset(data, tags[DT_RELA]), tags[DT_RELASZ] // RELA.size


def write_first_rela(data, r_offset=None, r_type=None):
    """A copy of data with the first relocation's offset and/or type changed."""
    off, count = rela_table(data)
    if count == 0:
        raise ValueError("kernel has no relocations")
    offset, info, addend = RELA.unpack_from(data, off)
    if r_offset is not None:
        offset = r_offset
    if r_type is not None:
        info = (info & ~0xFFFFFFFF) | r_type
    out = bytearray(data)
    RELA.pack_into(out, off, offset, info, addend)
    return bytes(out)


def page_down(x):
    return x & ~(PAGE_SIZE - 1)


# --- mutators -----------------------------------------------------------------

def truncate_in_segments(data):
    """Cut the file halfway through the data of the segment that ends last."""
    ph = max((p for p in loads(data) if p["p_filesz"]),
             key=lambda p: p["p_offset"] + p["p_filesz"])
    return data[:ph["p_offset"] + ph["p_filesz"] // 2]


def cut_after_segments(data):
    """Cut the file right after the last segment's data: a kernel that still
    loads, but whose section headers and symbol table are gone."""
    return data[:max(p["p_offset"] + p["p_filesz"] for p in loads(data))]


def truncate_in_header(data):
    """Keep only half of the ELF header."""
    return data[:EHDR.size // 2]


def bad_magic(data):
    return b"\x7fELX" + data[4:]


def class32(data):
    return set_ident(data, EI_CLASS, ELFCLASS32)


def big_endian(data):
    return set_ident(data, EI_DATA, ELFDATA2MSB)


def bad_version(data):
    return write_ehdr(data, e_version=2)


def wrong_machine(data):
    return write_ehdr(data, e_machine=EM_AARCH64)


def exec_type(data):
    return write_ehdr(data, e_type=ET_EXEC)


def phdrs_outside_file(data):
    return write_ehdr(data, e_phoff=1 << 62)


def bad_phentsize(data):
    return write_ehdr(data, e_phentsize=PHDR.size - 1)


def filesz_over_memsz(data):
    """Make a segment's memory size one byte less than its file size."""
    ph = find_load(data, lambda flags: True)
    return write_phdr(data, ph, p_memsz=ph["p_filesz"] - 1)


def empty_segment(data):
    """Give the first writable PT_LOAD no bytes at all, in the file or in memory."""
    ph = find_load(data, lambda flags: flags & PF_W)
    return write_phdr(data, ph, p_filesz=0, p_memsz=0)


def overlapping_segments(data):
    """Grow the lowest segment 16 bytes into the next one."""
    first, second = loads(data)[:2]
    return write_phdr(data, first, p_memsz=second["p_vaddr"] - first["p_vaddr"] + 16)


def wrapping_segment(data):
    """Put the highest segment at the last page of the address space."""
    ph = loads(data)[-1]
    return write_phdr(data, ph, p_vaddr=(1 << 64) - PAGE_SIZE)


def huge_segment(data):
    """Make the highest segment 2 GiB long."""
    ph = loads(data)[-1]
    return write_phdr(data, ph, p_memsz=2 * GIB)


def writable_and_executable(data):
    ph = find_load(data, lambda flags: flags & PF_X)
    return write_phdr(data, ph, p_flags=ph["p_flags"] | PF_W)


def shared_page(data):
    """Move a segment down to start right where the one below, with other
    permissions, ends mid-page: no overlap, but one page holds both."""
    segs = loads(data)
    for lo, hi in zip(segs, segs[1:]):
        end = lo["p_vaddr"] + lo["p_memsz"]
        if lo["p_flags"] != hi["p_flags"] and end % PAGE_SIZE:
            return write_phdr(data, hi, p_vaddr=end)
    raise ValueError("no segment pair ends mid-page")


def pt_interp(data):
    """Retype a header elf_parse ignores (PT_PHDR, PT_GNU_STACK, ...) as PT_INTERP."""
    for ph in read_phdrs(data):
        if ph["p_type"] not in (PT_LOAD, PT_DYNAMIC, PT_GNU_RELRO):
            return write_phdr(data, ph, p_type=PT_INTERP)
    raise ValueError("no spare program header")


def pt_tls(data):
    for ph in read_phdrs(data):
        if ph["p_type"] not in (PT_LOAD, PT_DYNAMIC, PT_GNU_RELRO):
            return write_phdr(data, ph, p_type=PT_TLS)
    raise ValueError("no spare program header")


def missing_entry(data):
    return write_ehdr(data, e_entry=0)


def entry_outside_code(data):
    """Point the entry at the first writable segment (never executable, never at 0)."""
    return write_ehdr(data, e_entry=find_load(data, lambda flags: flags & PF_W)["p_vaddr"])


def dt_needed(data):
    return set_dyn_tag(data, harmless_dyn_entry(data), DT_NEEDED)


def dt_textrel(data):
    return set_dyn_tag(data, harmless_dyn_entry(data), DT_TEXTREL)


def bad_relaent(data):
    off = next(o for o, tag, _ in dynamic_entries(data) if tag == DT_RELAENT)
    out = bytearray(data)
    DYN.pack_into(out, off, DT_RELAENT, RELA.size + 8)
    return bytes(out)


def unknown_relocation(data):
    return write_first_rela(data, r_type=R_X86_64_64)


def relocation_outside_image(data):
    top = loads(data)[-1]
    return write_first_rela(data, r_offset=top["p_vaddr"] + top["p_memsz"] + 64 * GIB)


# --- the cases ------------------------------------------------------------------

CASES = [
    ("truncated file (inside segment data)", truncate_in_segments,
     "segment data outside the file"),
    ("truncated file (inside the ELF header)", truncate_in_header,
     "file too small for an ELF header"),
    ("bad ELF magic", bad_magic, "bad ELF magic"),
    ("bad ELF class (ELFCLASS32)", class32, "not a 64-bit ELF (ELFCLASS64)"),
    ("big-endian data byte", big_endian, "not little-endian"),
    ("bad ELF version", bad_version, "bad ELF version"),
    ("wrong machine (AArch64)", wrong_machine, "not an x86-64 ELF"),
    ("ET_EXEC type", exec_type, "not a PIE (ET_DYN) kernel"),
    ("bad program header size", bad_phentsize, "bad program header size"),
    ("program headers outside the file", phdrs_outside_file,
     "program headers outside the file"),
    ("p_filesz > p_memsz", filesz_over_memsz, "segment p_filesz > p_memsz"),
    ("empty loadable segment", empty_segment, "empty loadable segment"),
    ("segment address wraps", wrapping_segment, "segment address wraps"),
    ("writable and executable segment", writable_and_executable,
     "segment is both writable and executable"),
    ("PT_INTERP present", pt_interp, "PT_INTERP: kernel must be static"),
    ("PT_TLS present", pt_tls, "PT_TLS is not supported"),
    ("overlapping segments", overlapping_segments, "segments overlap"),
    ("segments with different permissions share a page", shared_page,
     "segments with different permissions share a page"),
    ("absurdly large segment (2 GiB)", huge_segment, "image too large"),
    ("missing entry point", missing_entry, "no entry point"),
    ("entry point outside executable segments", entry_outside_code,
     "entry point not in an executable segment"),
    ("DT_NEEDED present", dt_needed, "DT_NEEDED: kernel must be self-contained"),
    ("DT_TEXTREL present", dt_textrel, "DT_TEXTREL: text relocations are not allowed"),
    ("bad DT_RELAENT", bad_relaent, "bad DT_RELAENT"),
    ("unknown relocation type (R_X86_64_64)", unknown_relocation,
     "unsupported relocation type"),
    ("relocation outside the image", relocation_outside_image,
     "relocation outside the image"),
]


if __name__ == "__main__":
    width = max(len(name) for name, _, _ in CASES)
    for name, _, reason in CASES:
        print(f"{name:<{width}}  bad kernel: {reason}")

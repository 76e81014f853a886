/*
 * The ELF64 file format: structures and constants from the System V gABI
 * and the x86-64 psABI. lib/elf.c reads files with them; host tests build
 * files with them.
 */
#pragma once

#include <lib/elf.h>
#include <lib/types.h>

struct elf64_ehdr {
	uint8_t e_ident[16];
	uint16_t e_type;
	uint16_t e_machine;
	uint32_t e_version;
	uint64_t e_entry;
	uint64_t e_phoff;
	uint64_t e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize;
	uint16_t e_phentsize;
	uint16_t e_phnum;
	uint16_t e_shentsize;
	uint16_t e_shnum;
	uint16_t e_shstrndx;
};

struct elf64_phdr {
	uint32_t p_type;
	uint32_t p_flags;
	uint64_t p_offset;
	uint64_t p_vaddr;
	uint64_t p_paddr;
	uint64_t p_filesz;
	uint64_t p_memsz;
	uint64_t p_align;
};

struct elf64_shdr {
	uint32_t sh_name;
	uint32_t sh_type;
	uint64_t sh_flags;
	uint64_t sh_addr;
	uint64_t sh_offset;
	uint64_t sh_size;
	uint32_t sh_link;
	uint32_t sh_info;
	uint64_t sh_addralign;
	uint64_t sh_entsize;
};

struct elf64_sym {
	uint32_t st_name;
	uint8_t st_info;
	uint8_t st_other;
	uint16_t st_shndx;
	uint64_t st_value;
	uint64_t st_size;
};

struct elf64_dyn {
	int64_t d_tag;
	uint64_t d_val;
};

struct elf64_rela {
	uint64_t r_offset;
	uint64_t r_info;
	int64_t r_addend;
};

_Static_assert(sizeof(struct elf64_ehdr) == 64, "Elf64_Ehdr layout");
_Static_assert(sizeof(struct elf64_phdr) == 56, "Elf64_Phdr layout");
_Static_assert(sizeof(struct elf64_shdr) == 64, "Elf64_Shdr layout");
_Static_assert(sizeof(struct elf64_sym) == 24, "Elf64_Sym layout");
_Static_assert(sizeof(struct elf64_dyn) == 16, "Elf64_Dyn layout");
_Static_assert(sizeof(struct elf64_rela) == 24, "Elf64_Rela layout");

#define EI_CLASS    4
#define EI_DATA	    5
#define EI_VERSION  6
#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define EV_CURRENT  1
#define ET_DYN	    3
#define EM_X86_64   62

#define PT_LOAD	     1
#define PT_DYNAMIC   2
#define PT_INTERP    3
#define PT_TLS	     7
#define PT_GNU_RELRO 0x6474e552u
#define ELF_PF_RWX   (ELF_PF_R | ELF_PF_W | ELF_PF_X)

#define DT_NULL	   0
#define DT_NEEDED  1
#define DT_RELA	   7
#define DT_RELASZ  8
#define DT_RELAENT 9
#define DT_REL	   17
#define DT_TEXTREL 22
#define DT_JMPREL  23
#define DT_FLAGS   30
#define DT_RELR	   36
#define DF_TEXTREL 0x4

#define R_X86_64_NONE	  0
#define R_X86_64_RELATIVE 8
#define ELF64_R_TYPE(i)	  ((uint32_t)(i))

#define SHT_SYMTAB	 2
#define SHT_STRTAB	 3
#define SHN_UNDEF	 0
#define STT_FUNC	 2
#define ELF64_ST_TYPE(i) ((i)&0xf)

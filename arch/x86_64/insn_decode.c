/*
 * The instruction-operand decoder (include/arch/x86_64/insn_decode.h): a
 * #GP carries no address, so the report decodes the faulting instruction's
 * memory operand to say which address was probably non-canonical. Only
 * reads instruction bytes that are mapped; knows nothing of fault policy.
 */
#include <arch/arch.h>
#include <arch/x86_64/insn_decode.h>
#include <arch/x86_64/trap.h>
#include <lib/fmt.h>

/* General registers in ModRM/SIB numbering. */
static const char *const gpr_names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					  "r8",	 "r9",	"r10", "r11", "r12", "r13", "r14", "r15"};

uint64_t insn_gpr(const struct trap_frame *tf, unsigned int n)
{
	const uint64_t v[16] = {tf->rax, tf->rcx, tf->rdx, tf->rbx, tf->rsp, tf->rbp,
				tf->rsi, tf->rdi, tf->r8,  tf->r9,  tf->r10, tf->r11,
				tf->r12, tf->r13, tf->r14, tf->r15};
	return v[n & 15];
}

const char *insn_gpr_name(unsigned int n)
{
	return gpr_names[n & 15];
}

static bool is_prefix(uint8_t b)
{
	return b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x26 ||
	       b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65;
}

/* Common opcodes that access memory through a ModRM operand (not LEA). */
static bool has_modrm(uint8_t op, bool two_byte)
{
	if (two_byte)
		return (op >= 0x40 && op <= 0x4f) || op == 0xaf || op == 0xb0 || op == 0xb1 ||
		       op == 0xb6 || op == 0xb7 || op == 0xbe || op == 0xbf || op == 0xc0 ||
		       op == 0xc1;
	if (op < 0x40)
		return (op & 7) < 4; /* ALU ops: add, or, adc, sbb, and, sub, xor, cmp */
	return (op >= 0x80 && op <= 0x8b) || op == 0x63 || op == 0x69 || op == 0x6b || op == 0x8f ||
	       op == 0xc0 || op == 0xc1 || op == 0xc6 || op == 0xc7 || (op >= 0xd0 && op <= 0xd3) ||
	       op == 0xf6 || op == 0xf7 || op == 0xfe || op == 0xff;
}

static int32_t read_s32(const uint8_t *p)
{
	return (int32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24);
}

/* "[base+index*scale+disp]" for the decoded operand (-1: no base / no index). */
static void format_operand(int base, int index, int scale, int64_t disp, char *buf, size_t size)
{
	int n =
	    fmt_snprintf(buf, size, "[%s%s%s", base >= 0 ? gpr_names[base] : "",
			 index >= 0 && base >= 0 ? "+" : "", index >= 0 ? gpr_names[index] : "");

	if (index >= 0 && scale > 1)
		n += fmt_snprintf(buf + n, size - n, "*%d", scale);
	if (disp)
		n += fmt_snprintf(buf + n, size - n, "%s0x%llx", disp < 0 ? "-" : "+",
				  (unsigned long long)(disp < 0 ? -disp : disp));
	fmt_snprintf(buf + n, size - n, "]");
}

/*
 * ModRM byte: mod (7-6) 3 = register operand, else memory with no, 8- or
 * 32-bit displacement; rm (2-0) 4 = a SIB byte follows, 5 with mod 0 =
 * RIP-relative. SIB: scale (7-6), index (5-3, 4 = none), base (2-0, 5 with
 * mod 0 = none, disp32). REX.B and REX.X extend base and index to 4 bits.
 */
bool insn_memory_operand(const struct trap_frame *tf, vaddr_t *ea, char *buf, size_t size)
{
	const uint8_t *p = (const uint8_t *)tf->rip;
	int base = -1, index = -1, scale = 1;
	uint8_t rex = 0, modrm, mod;
	bool addr32 = false;
	int64_t disp = 0;

	if (!arch_is_mapped(tf->rip) || !arch_is_mapped(tf->rip + 15))
		return false;
	for (int i = 0; i < 4 && is_prefix(*p); i++)
		addr32 |= *p++ == 0x67;
	if ((*p & 0xf0) == 0x40)
		rex = *p++;
	if (!(*p == 0x0f ? has_modrm(*++p, true) : has_modrm(*p, false)))
		return false;
	modrm = *++p;
	p++;
	mod = modrm >> 6;
	if (mod == 3 || (mod == 0 && (modrm & 7) == 5))
		return false; /* a register, or RIP-relative (always canonical) */
	if ((modrm & 7) == 4) {
		uint8_t sib = *p++;
		scale = 1 << (sib >> 6);
		index = ((sib >> 3) & 7) | (rex & 2) << 2;
		index = index == 4 ? -1 : index;
		base = (sib & 7) | (rex & 1) << 3;
		if ((sib & 7) == 5 && mod == 0) {
			base = -1;
			disp = read_s32(p);
		}
	} else {
		base = (modrm & 7) | (rex & 1) << 3;
	}
	if (mod == 1)
		disp = (int8_t)*p;
	else if (mod == 2)
		disp = read_s32(p);
	*ea = (base >= 0 ? insn_gpr(tf, base) : 0) +
	      (index >= 0 ? insn_gpr(tf, index) * scale : 0) + disp;
	if (addr32)
		*ea = (uint32_t)*ea;
	format_operand(base, index, scale, disp, buf, size);
	return true;
}

/*
 * The COM1 UART (16550) at 115200 8N1. At start-up the scratch register and
 * a loopback test decide whether a port exists: laptops have none (nor does
 * QEMU with -serial none: the ports read 0xff), and writing to a missing
 * UART would spin on its status register. Without one, output is dropped
 * at once and the screen is the only console.
 */
#include <arch/arch.h>
#include <arch/x86_64/cpu.h>

#define COM1	   0x3f8
#define REG_DATA   0 /* with DLAB: divisor low */
#define REG_IER	   1 /* with DLAB: divisor high */
#define REG_FCR	   2
#define REG_LCR	   3
#define REG_MCR	   4
#define REG_LSR	   5
#define REG_SCR	   7	/* scratch: any 16450/16550 keeps what is written */
#define LSR_THRE   0x20 /* transmit holding register empty */
#define LCR_DLAB   0x80
#define LCR_8N1	   0x03
#define MCR_LOOP   0x10
#define MCR_READY  0x0b /* DTR, RTS, OUT2 */
#define SPIN_LIMIT 100000

static bool present;

/* True if COM1's scratch register keeps two patterns: a UART is there. */
static bool scratch_ok(void)
{
	outb(COM1 + REG_SCR, 0x5a);
	if (inb(COM1 + REG_SCR) != 0x5a)
		return false;
	outb(COM1 + REG_SCR, 0xa5);
	return inb(COM1 + REG_SCR) == 0xa5;
}

void arch_serial_init(void)
{
	if (!scratch_ok())
		return; /* no UART: present stays false */
	outb(COM1 + REG_IER, 0);
	outb(COM1 + REG_LCR, LCR_DLAB);
	outb(COM1 + REG_DATA, 1); /* 115200 / 1 */
	outb(COM1 + REG_IER, 0);
	outb(COM1 + REG_LCR, LCR_8N1);
	outb(COM1 + REG_FCR, 0xc7); /* enable and clear FIFOs */
	outb(COM1 + REG_MCR, MCR_READY | MCR_LOOP);
	outb(COM1 + REG_DATA, 0xa5);
	present = inb(COM1 + REG_DATA) == 0xa5;
	outb(COM1 + REG_MCR, MCR_READY);
}

static void put(char c)
{
	for (int i = 0; i < SPIN_LIMIT && !(inb(COM1 + REG_LSR) & LSR_THRE); i++)
		;
	outb(COM1 + REG_DATA, (uint8_t)c);
}

void arch_serial_write(const char *s, size_t n)
{
	if (!present)
		return;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			put('\r');
		put(s[i]);
	}
}

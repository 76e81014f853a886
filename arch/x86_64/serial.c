/*
 * The COM1 UART (16550) at 115200 8N1. A loopback test at start-up decides
 * whether a port exists: laptops have none, and writing to a missing UART
 * would spin on its status register.
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
#define LSR_THRE   0x20 /* transmit holding register empty */
#define LCR_DLAB   0x80
#define LCR_8N1	   0x03
#define MCR_LOOP   0x10
#define MCR_READY  0x0b /* DTR, RTS, OUT2 */
#define SPIN_LIMIT 100000

static bool present;

void arch_serial_init(void)
{
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

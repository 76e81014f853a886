/*
 * Tests of the console's screen sink (suite `screen`): what the screen
 * holds is what was printed last, coloured by level; an update a panic
 * interrupted makes the next line redraw the whole screen; and the cost of
 * a line on a full, scrolling screen (emulated TSC cycles under QEMU TCG).
 * Without a framebuffer (no GOP), the tests say so and check nothing else.
 */
#include <arch/arch.h>
#include <kernel/console.h>
#include <kernel/ktest.h>
#include <lib/fbcon.h>
#include <lib/string.h>

#define SCROLL_LINES 20

/* The text of screen row r, up to its first blank-padded end, in out. */
static void row_text(const struct fbcon *con, uint32_t r, char *out, size_t size)
{
	size_t len = 0;

	for (uint32_t c = 0; c < con->cols && len + 1 < size; c++)
		out[len++] = (char)fbcon_cell_at(con, r, c).ch;
	while (len && out[len - 1] == ' ')
		len--;
	out[len] = 0;
}

/* The row above the cursor: the last whole line printed. */
static uint32_t last_line_row(const struct fbcon *con)
{
	return con->row ? con->row - 1 : con->rows - 1;
}

KTEST(screen, screen_holds_the_last_line_in_its_colour)
{
	const struct fbcon *con = console_screen();
	char text[80];

	if (!con) {
		kprintf("# screen: no framebuffer console: nothing to check\n");
		return;
	}
	kprintf("# screen: a plain line\n");
	row_text(con, last_line_row(con), text, sizeof(text));
	KEXPECT(t, strcmp(text, "# screen: a plain line") == 0);
	KEXPECT_EQ(t, fbcon_cell_at(con, last_line_row(con), 0).attr, FBCON_ATTR_DEFAULT);
	kwarn("screen: a warning in yellow (expected)");
	row_text(con, last_line_row(con), text, sizeof(text));
	KEXPECT(t, strcmp(text, "aerie: warning: screen: a warning in yellow (expected)") == 0);
	KEXPECT_EQ(t, fbcon_cell_at(con, last_line_row(con), 0).attr & 0xf, FBCON_YELLOW + 8);
}

KTEST(screen, screen_interrupted_update_redraws_everything_once)
{
	const struct fbcon *con = console_screen();
	uint64_t before, redraw, next;

	if (!con)
		return;
	console_screen_interrupt();
	before = con->cells_drawn;
	kprintf("# screen: after an interrupted update\n");
	redraw = con->cells_drawn - before;
	kprintf("# screen: and one more line\n");
	next = con->cells_drawn - before - redraw;
	KEXPECT(t, redraw >= (uint64_t)con->rows * con->cols);
	KEXPECT(t, next < (uint64_t)con->rows * con->cols);
	KEXPECT(t, console_screen() != NULL);
}

KTEST(screen, screen_scrolling_line_cost)
{
	const struct fbcon *con = console_screen();
	uint64_t start, cells;

	if (!con)
		return;
	/* Fill the screen, each line shifted, so a scroll changes most cells of each row. */
	for (uint32_t i = 0; i < con->rows; i++)
		kprintf("#%*s screen: filler line %u of a full screen\n", (int)(i * 7 % 50), "", i);
	cells = con->cells_drawn;
	start = arch_timestamp();
	for (int i = 0; i < SCROLL_LINES; i++)
		kprintf("#%*s screen: scrolling line %d, as long as a log line\n", i * 7 % 50, "",
			i);
	kprintf("# screen: a scrolling line (serial and screen) costs %llu emulated TSC cycles, "
		"%llu cells drawn, on %ux%u cells\n",
		(unsigned long long)((arch_timestamp() - start) / SCROLL_LINES),
		(unsigned long long)((con->cells_drawn - cells) / SCROLL_LINES), con->cols,
		con->rows);
	KEXPECT(t, con->cells_drawn > cells);
}

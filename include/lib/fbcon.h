/*
 * The screen console's renderer: text cells (a character and a colour) drawn
 * as pixels into a linear framebuffer of any GOP pixel layout. Portable C,
 * no hardware access beyond the framebuffer's memory: the kernel's screen
 * sink (kernel/console.c) and the host tests (tests/host/test_fbcon.c) use it.
 *
 * The text lives in memory: a ring of text rows (scrolling moves the ring's
 * top, never framebuffer bytes) and a copy of what each screen cell shows,
 * so a flush draws only the cells whose text changed. The framebuffer is
 * never read: on real hardware it is write-combining, and reads are slow.
 * At FBCON_HIDPI_WIDTH pixels wide and above, glyphs are drawn twice as big.
 */
#pragma once

#include <lib/types.h>

/* The built-in font (build/gen/fbcon_font.c, made by scripts/psf2c.py). */
#define FBCON_FONT_W	  8
#define FBCON_FONT_H	  16
#define FBCON_FIRST_CHAR  0x20 /* glyph 0 */
#define FBCON_LAST_CHAR	  0x7e
#define FBCON_REPLACEMENT (FBCON_LAST_CHAR - FBCON_FIRST_CHAR + 1) /* glyph for other bytes */
#define FBCON_FONT_GLYPHS (FBCON_REPLACEMENT + 1)
extern const uint8_t fbcon_font[FBCON_FONT_GLYPHS][FBCON_FONT_H]; /* rows, MSB left */

#define FBCON_HIDPI_WIDTH 2560

/* Colours: a cell's colour byte is foreground (low nibble) | background << 4. */
enum fbcon_colour {
	FBCON_BLACK = 0,
	FBCON_RED = 1,
	FBCON_YELLOW = 3,
	FBCON_GREY = 7, /* the default foreground */
	FBCON_WHITE = 15,
};
#define FBCON_COLOURS	   16
#define FBCON_ATTR(fg, bg) ((uint8_t)((fg) | ((bg) << 4)))
#define FBCON_ATTR_DEFAULT FBCON_ATTR(FBCON_GREY, FBCON_BLACK)
/* The colours as 0xRRGGBB, for tests that decode pixels. */
extern const uint32_t fbcon_palette_rgb[FBCON_COLOURS];

/* A pixel layout: channel masks within a little-endian pixel of 2, 3 or 4 bytes. */
struct fbcon_format {
	uint32_t red_mask;
	uint32_t green_mask;
	uint32_t blue_mask;
	uint32_t bytes_per_pixel;
};

struct fbcon_cell {
	uint8_t ch;
	uint8_t attr;
};

struct fbcon {
	uint8_t *fb;		       /* the framebuffer's first pixel */
	uint32_t width;		       /* pixels */
	uint32_t height;	       /* pixels */
	uint32_t pitch;		       /* bytes per scan line, >= width * bytes per pixel */
	uint32_t bpp;		       /* bytes per pixel */
	uint32_t scale;		       /* 1, or 2 at FBCON_HIDPI_WIDTH and above */
	uint32_t cols, rows;	       /* text cells on screen */
	struct fbcon_cell *text;       /* rows * cols: the ring of text rows */
	struct fbcon_cell *shown;      /* rows * cols: what each screen cell shows */
	uint32_t top;		       /* ring row shown on screen row 0 */
	uint32_t row, col;	       /* the cursor, in screen rows */
	uint32_t dirty_lo, dirty_hi;   /* screen rows [lo, hi) may differ from shown */
	uint8_t attr;		       /* colour of characters written now */
	uint32_t pixel[FBCON_COLOURS]; /* the palette encoded in this format */
	uint64_t cells_drawn;	       /* statistics: glyphs written to the framebuffer */
};

/*
 * How many text columns and rows a mode holds (glyphs doubled at
 * FBCON_HIDPI_WIDTH and above). A caller with fixed buffers may use fewer.
 */
void fbcon_geometry(uint32_t width, uint32_t height, uint32_t *cols, uint32_t *rows);

/*
 * Set up a console over fb. => text and shown each hold cols * rows cells
 * for the cols and rows given (at most what fbcon_geometry says). Returns
 * -EINVAL for a format it cannot draw (bytes per pixel not 2, 3 or 4, an
 * empty mask, a pitch too small). Nothing is drawn until fbcon_flush.
 */
int fbcon_init(struct fbcon *con, void *fb, uint32_t width, uint32_t height, uint32_t pitch,
	       const struct fbcon_format *format, struct fbcon_cell *text, struct fbcon_cell *shown,
	       uint32_t cols, uint32_t rows);

/* Put text in the ring ('\n' ends a line, '\r' is ignored); draws nothing. */
void fbcon_write(struct fbcon *con, const char *s, size_t n);
void fbcon_set_attr(struct fbcon *con, uint8_t attr);

/*
 * Paint the pixels outside the text cells (right and bottom strips, when the
 * mode is not a whole number of cells) in the background colour, once, so
 * nothing the firmware drew stays there. Pitch padding is not touched.
 */
void fbcon_clear_margins(struct fbcon *con);

/* Draw every cell whose text changed since the last flush. */
void fbcon_flush(struct fbcon *con);

/*
 * Forget what the screen shows: the next flush redraws every cell. For a
 * panic that interrupted a flush (the screen is in an unknown state).
 */
void fbcon_invalidate(struct fbcon *con);

/* The cell at screen row r, column c (what the next flush shows there). */
struct fbcon_cell fbcon_cell_at(const struct fbcon *con, uint32_t r, uint32_t c);

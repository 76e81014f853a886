/*
 * Host tests for lib/fbcon.c: for every GOP pixel layout (RGBX, BGRX, 16-bpp
 * 5:6:5 and 5:5:5, 24-bpp, odd masks) and a pitch wider than the screen,
 * text is drawn and then decoded back from the pixels alone (each pixel's
 * channels read through the masks, matched to the palette, each cell matched
 * against the font's glyphs) and must equal what was written. Also:
 * scrolling keeps the last rows, only changed cells are drawn (the
 * framebuffer is poisoned and the poison must survive elsewhere), nothing
 * outside the text cells is written, and HiDPI doubles the glyphs.
 */
#include <lib/errno.h>
#include <lib/fbcon.h>

#include "check.h"

#define POISON 0x5a

struct screen {
	struct fbcon con;
	struct fbcon_format fmt;
	uint8_t *fb;
	size_t fb_size;
	struct fbcon_cell *text, *shown;
};

static const struct fbcon_format formats[] = {
    {0x0000ff, 0x00ff00, 0xff0000, 4},	     /* RGBX8888 */
    {0xff0000, 0x00ff00, 0x0000ff, 4},	     /* BGRX8888 */
    {0xf800, 0x07e0, 0x001f, 2},	     /* 16 bpp 5:6:5 */
    {0x7c00, 0x03e0, 0x001f, 2},	     /* 16 bpp 5:5:5 */
    {0xff0000, 0x00ff00, 0x0000ff, 3},	     /* 24 bpp */
    {0x00003f, 0xfc0000, 0x000fc0, 3},	     /* 24 bpp, 6 bits each, a hole */
    {0xffc00000, 0x000003ff, 0x003ff000, 4}, /* 32 bpp, 10 bits each, odd order */
};

/* A screen of width x height pixels, pitch extra pixels wider, poisoned. */
static int screen_open(struct screen *s, const struct fbcon_format *fmt, uint32_t width,
		       uint32_t height, uint32_t extra)
{
	uint32_t cols, rows, pitch = (width + extra) * fmt->bytes_per_pixel;

	fbcon_geometry(width, height, &cols, &rows);
	s->fmt = *fmt;
	s->fb_size = (size_t)pitch * height;
	s->fb = malloc(s->fb_size);
	s->text = calloc((size_t)cols * rows, sizeof(*s->text));
	s->shown = calloc((size_t)cols * rows, sizeof(*s->shown));
	memset(s->fb, POISON, s->fb_size);
	return fbcon_init(&s->con, s->fb, width, height, pitch, fmt, s->text, s->shown, cols, rows);
}

static void screen_close(struct screen *s)
{
	free(s->fb);
	free(s->text);
	free(s->shown);
}

/* One channel read back through its mask, as 0-255. */
static uint32_t channel8(uint32_t v, uint32_t mask)
{
	uint32_t shift = (uint32_t)__builtin_ctz(mask), max = mask >> shift;

	return ((v & mask) >> shift) * 255 / max;
}

/* The palette colour nearest to the pixel at (x, y), or -1 if none is close. */
static int pixel_colour(const struct screen *s, uint32_t x, uint32_t y)
{
	const uint8_t *p = s->fb + (size_t)y * s->con.pitch + (size_t)x * s->fmt.bytes_per_pixel;
	uint32_t v = 0;

	for (uint32_t i = 0; i < s->fmt.bytes_per_pixel; i++)
		v |= (uint32_t)p[i] << (8 * i);
	uint32_t r = channel8(v, s->fmt.red_mask), g = channel8(v, s->fmt.green_mask),
		 b = channel8(v, s->fmt.blue_mask);
	for (int i = 0; i < FBCON_COLOURS; i++) {
		uint32_t rgb = fbcon_palette_rgb[i];
		int dr = (int)(rgb >> 16 & 0xff) - (int)r, dg = (int)(rgb >> 8 & 0xff) - (int)g,
		    db = (int)(rgb & 0xff) - (int)b;
		if (abs(dr) <= 9 && abs(dg) <= 9 && abs(db) <= 9)
			return i;
	}
	return -1;
}

/*
 * Decode the cell at (r, c) from pixels: black is background, one other
 * colour the foreground. Returns the character ('?' for the replacement
 * glyph, 0 if the pixels match no glyph) and its colour in *fg.
 */
static int decode_cell(const struct screen *s, uint32_t r, uint32_t c, int *fg)
{
	uint32_t sc = s->con.scale, x0 = c * FBCON_FONT_W * sc, y0 = r * FBCON_FONT_H * sc;
	uint8_t rows[FBCON_FONT_H] = {0};

	*fg = -1;
	for (uint32_t y = 0; y < FBCON_FONT_H * sc; y++) {
		for (uint32_t x = 0; x < FBCON_FONT_W * sc; x++) {
			int col = pixel_colour(s, x0 + x, y0 + y);
			if (col < 0 || (col != FBCON_BLACK && *fg >= 0 && col != *fg))
				return 0;
			if (col == FBCON_BLACK)
				continue;
			*fg = col;
			rows[y / sc] |= (uint8_t)(0x80 >> (x / sc));
		}
	}
	for (int g = 0; g < FBCON_FONT_GLYPHS; g++)
		if (memcmp(rows, fbcon_font[g], FBCON_FONT_H) == 0)
			return g == FBCON_REPLACEMENT ? '?' : FBCON_FIRST_CHAR + g;
	return 0;
}

/* Screen row r decoded into out (trailing blanks dropped); false if a cell is no glyph. */
static bool decode_row(const struct screen *s, uint32_t r, char *out, int *colours)
{
	int fg, len = 0;

	for (uint32_t c = 0; c < s->con.cols; c++) {
		int ch = decode_cell(s, r, c, &fg);
		if (!ch)
			return false;
		out[c] = (char)ch;
		if (colours)
			colours[c] = fg;
		if (ch != ' ')
			len = (int)c + 1;
	}
	out[len] = 0;
	return true;
}

/* True if no byte outside the text cells (margins, pitch padding) was written. */
static bool margins_untouched(const struct screen *s)
{
	uint32_t bpp = s->fmt.bytes_per_pixel, sc = s->con.scale;
	size_t text_w = (size_t)s->con.cols * FBCON_FONT_W * sc * bpp;
	size_t text_h = (size_t)s->con.rows * FBCON_FONT_H * sc;

	for (size_t y = 0; y < s->con.height; y++)
		for (size_t x = y < text_h ? text_w : 0; x < s->con.pitch; x++)
			if (s->fb[y * s->con.pitch + x] != POISON)
				return false;
	return true;
}

static void put(struct screen *s, const char *str)
{
	fbcon_write(&s->con, str, strlen(str));
}

TEST(font_glyphs_are_distinct)
{
	for (int a = 0; a < FBCON_FONT_GLYPHS; a++)
		for (int b = a + 1; b < FBCON_FONT_GLYPHS; b++)
			CHECK(memcmp(fbcon_font[a], fbcon_font[b], FBCON_FONT_H) != 0);
}

TEST(every_format_decodes_to_the_text_written)
{
	for (size_t f = 0; f < ARRAY_SIZE(formats); f++) {
		struct screen s;
		char row[64];
		int colours[64];

		CHECK_EQ(screen_open(&s, &formats[f], 100, 90, 24), 0); /* 12 x 5, margins */
		CHECK_EQ(s.con.cols, 12);
		CHECK_EQ(s.con.rows, 5);
		put(&s, "Hello, world\n");
		fbcon_set_attr(&s.con, FBCON_ATTR(FBCON_RED, FBCON_BLACK));
		put(&s, "err: ~{|}\n");
		fbcon_set_attr(&s.con, FBCON_ATTR(FBCON_YELLOW, FBCON_BLACK));
		put(&s, "w\xc3\x01!\r\n");
		fbcon_set_attr(&s.con, FBCON_ATTR_DEFAULT);
		put(&s, " !\"#$%&'()*+,-./0");
		fbcon_flush(&s.con);
		CHECK(decode_row(&s, 0, row, colours));
		CHECK_STR(row, "Hello, world");
		CHECK_EQ(colours[0], FBCON_GREY);
		CHECK(decode_row(&s, 1, row, colours));
		CHECK_STR(row, "err: ~{|}");
		CHECK_EQ(colours[0], FBCON_RED);
		CHECK(decode_row(&s, 2, row, colours));
		CHECK_STR(row, "w\?\?!"); /* 0xc3 and 0x01: the replacement */
		CHECK_EQ(colours[3], FBCON_YELLOW);
		CHECK(decode_row(&s, 3, row, NULL));
		CHECK_STR(row, " !\"#$%&'()*+"); /* wrapped after 12 */
		CHECK(decode_row(&s, 4, row, NULL));
		CHECK_STR(row, ",-./0");
		CHECK(margins_untouched(&s));
		screen_close(&s);
	}
}

TEST(scrolling_keeps_the_last_rows)
{
	struct screen s;
	char row[64], want[16];

	CHECK_EQ(screen_open(&s, &formats[2], 96, 80, 8), 0); /* 12 x 5 */
	for (int i = 0; i < 23; i++) {
		snprintf(want, sizeof(want), "line %d\n", i);
		put(&s, want);
		if (i % 5 == 0)
			fbcon_flush(&s.con); /* some scrolls drawn, some batched */
	}
	fbcon_flush(&s.con);
	for (uint32_t r = 0; r < 4; r++) {
		snprintf(want, sizeof(want), "line %u", 19 + r);
		CHECK(decode_row(&s, r, row, NULL));
		CHECK_STR(row, want);
	}
	CHECK(decode_row(&s, 4, row, NULL));
	CHECK_STR(row, "");
	CHECK(margins_untouched(&s));
	screen_close(&s);
}

/* Poison the text area, so a cell the next flush does not draw keeps the poison. */
static void poison_all(struct screen *s)
{
	memset(s->fb, POISON, s->fb_size);
}

static bool cell_poisoned(const struct screen *s, uint32_t r, uint32_t c)
{
	uint32_t bpp = s->fmt.bytes_per_pixel;

	for (uint32_t y = 0; y < FBCON_FONT_H; y++)
		for (uint32_t x = 0; x < FBCON_FONT_W * bpp; x++)
			if (s->fb[(size_t)(r * FBCON_FONT_H + y) * s->con.pitch +
				  c * FBCON_FONT_W * bpp + x] != POISON)
				return false;
	return true;
}

TEST(only_changed_cells_are_drawn)
{
	struct screen s;
	uint64_t before;
	char row[64];

	CHECK_EQ(screen_open(&s, &formats[0], 96, 48, 16), 0); /* 12 x 3 */
	fbcon_flush(&s.con);
	CHECK_EQ(s.con.cells_drawn, 36); /* the first flush draws the blank screen */
	put(&s, "ab\ncd");
	fbcon_flush(&s.con);
	CHECK_EQ(s.con.cells_drawn, 36 + 4);

	poison_all(&s);
	before = s.con.cells_drawn;
	put(&s, "e");
	fbcon_flush(&s.con);
	CHECK_EQ(s.con.cells_drawn - before, 1);
	for (uint32_t r = 0; r < 3; r++)
		for (uint32_t c = 0; c < 12; c++)
			CHECK(cell_poisoned(&s, r, c) == !(r == 1 && c == 2));

	/* Scroll: "ab","cde","" -> "cde","","x": only cells whose text differs. */
	poison_all(&s);
	before = s.con.cells_drawn;
	put(&s, "\n\nx");
	fbcon_flush(&s.con);
	/* row 0: a, b, blank -> c, d, e; row 1: c, d, e -> blanks; row 2: blank -> x */
	CHECK_EQ(s.con.cells_drawn - before, 3 + 3 + 1);
	CHECK(cell_poisoned(&s, 0, 3));
	CHECK(!cell_poisoned(&s, 0, 2));
	CHECK(cell_poisoned(&s, 2, 1));

	/* After invalidation every cell is drawn again. */
	before = s.con.cells_drawn;
	fbcon_invalidate(&s.con);
	fbcon_flush(&s.con);
	CHECK_EQ(s.con.cells_drawn - before, 36);
	CHECK(decode_row(&s, 0, row, NULL));
	CHECK_STR(row, "cde");
	CHECK(decode_row(&s, 2, row, NULL));
	CHECK_STR(row, "x");
	screen_close(&s);
}

TEST(hidpi_draws_glyphs_twice_the_size)
{
	struct screen s;
	char row[200];

	CHECK_EQ(screen_open(&s, &formats[1], 2560, 70, 64), 0);
	CHECK_EQ(s.con.scale, 2);
	CHECK_EQ(s.con.cols, 160);
	CHECK_EQ(s.con.rows, 2);
	put(&s, "HiDPI 2x\nok");
	fbcon_flush(&s.con);
	CHECK(decode_row(&s, 0, row, NULL));
	CHECK_STR(row, "HiDPI 2x");
	CHECK(decode_row(&s, 1, row, NULL));
	CHECK_STR(row, "ok");
	CHECK(margins_untouched(&s));
	screen_close(&s);

	CHECK_EQ(screen_open(&s, &formats[1], 2559, 70, 0), 0);
	CHECK_EQ(s.con.scale, 1);
	screen_close(&s);
}

/* True if the pixels of the margins are black and the pitch padding is still poison. */
static bool margins_cleared(const struct screen *s)
{
	uint32_t sc = s->con.scale, text_w = s->con.cols * FBCON_FONT_W * sc;
	uint32_t text_h = s->con.rows * FBCON_FONT_H * sc, bpp = s->fmt.bytes_per_pixel;

	for (uint32_t y = 0; y < s->con.height; y++) {
		for (uint32_t x = y < text_h ? text_w : 0; x < s->con.width; x++)
			if (pixel_colour(s, x, y) != FBCON_BLACK)
				return false;
		for (size_t b = (size_t)s->con.width * bpp; b < s->con.pitch; b++)
			if (s->fb[(size_t)y * s->con.pitch + b] != POISON)
				return false;
	}
	return true;
}

TEST(margins_are_cleared_and_padding_left_alone)
{
	for (size_t f = 0; f < ARRAY_SIZE(formats); f++) {
		struct screen s;
		char row[64];

		CHECK_EQ(screen_open(&s, &formats[f], 101, 91, 13), 0);
		fbcon_clear_margins(&s.con);
		put(&s, "margins");
		fbcon_flush(&s.con);
		CHECK(margins_cleared(&s));
		CHECK(decode_row(&s, 0, row, NULL));
		CHECK_STR(row, "margins");
		screen_close(&s);
	}
}

TEST(init_refuses_formats_it_cannot_draw)
{
	static const struct fbcon_format bad[] = {
	    {0x07, 0x38, 0xc0, 1},	   /* 8 bpp */
	    {0xff0000, 0x00ff00, 0, 4},	   /* no blue */
	    {0xff00ff, 0x00ff00, 0xff, 4}, /* split red */
	    {0x1f0000, 0x07e0, 0x001f, 2}, /* red beyond 16 bits */
	};
	struct fbcon con;
	struct fbcon_cell text[4], shown[4];
	uint32_t fb[64];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_EQ(fbcon_init(&con, fb, 16, 32, 64, &bad[i], text, shown, 2, 2), -EINVAL);
	CHECK_EQ(fbcon_init(&con, fb, 16, 32, 63, &formats[0], text, shown, 2, 2), -EINVAL);
	CHECK_EQ(fbcon_init(&con, fb, 16, 32, 64, &formats[0], text, shown, 3, 2), -EINVAL);
	CHECK_EQ(fbcon_init(&con, fb, 16, 32, 64, &formats[0], text, shown, 2, 2), 0);
}

int main(void)
{
	RUN(font_glyphs_are_distinct);
	RUN(every_format_decodes_to_the_text_written);
	RUN(scrolling_keeps_the_last_rows);
	RUN(only_changed_cells_are_drawn);
	RUN(hidpi_draws_glyphs_twice_the_size);
	RUN(margins_are_cleared_and_padding_left_alone);
	RUN(init_refuses_formats_it_cannot_draw);
	return check_done();
}

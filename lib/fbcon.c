/*
 * The screen console's renderer (include/lib/fbcon.h): a ring of text rows
 * in memory, drawn cell by cell into the framebuffer. Only framebuffer
 * writes, never reads; only cells whose text changed are drawn.
 */
#include <lib/errno.h>
#include <lib/fbcon.h>

/* A VGA-like palette: dark colours 0-7, bright 8-15. */
const uint32_t fbcon_palette_rgb[FBCON_COLOURS] = {
    0x000000, 0xcc2222, 0x22aa22, 0xccaa22, 0x2244cc, 0xaa22aa, 0x22aaaa, 0xbbbbbb,
    0x555555, 0xff5555, 0x55ff55, 0xffff55, 0x5577ff, 0xff55ff, 0x55ffff, 0xffffff,
};

static uint32_t lowest_bit(uint32_t mask)
{
	uint32_t n = 0;

	while (!(mask & 1)) {
		mask >>= 1;
		n++;
	}
	return n;
}

/* An 8-bit channel value placed in mask (its bits contiguous), widened or cut to fit. */
static uint32_t channel(uint32_t value8, uint32_t mask)
{
	uint32_t shift = lowest_bit(mask), bits = 0;
	uint32_t m = mask >> shift;

	while (m & 1) {
		m >>= 1;
		bits++;
	}
	if (bits >= 8)
		value8 <<= bits - 8;
	else
		value8 >>= 8 - bits;
	return (value8 << shift) & mask;
}

/* True if mask is one run of set bits inside a pixel of bpp bytes. */
static bool mask_ok(uint32_t mask, uint32_t bpp)
{
	uint32_t m;

	if (mask == 0 || (bpp < 4 && (mask >> (bpp * 8))))
		return false;
	m = mask >> lowest_bit(mask);
	return (m & (m + 1)) == 0;
}

void fbcon_geometry(uint32_t width, uint32_t height, uint32_t *cols, uint32_t *rows)
{
	uint32_t scale = width >= FBCON_HIDPI_WIDTH ? 2 : 1;

	*cols = width / (FBCON_FONT_W * scale);
	*rows = height / (FBCON_FONT_H * scale);
}

static struct fbcon_cell *ring_row(const struct fbcon *con, uint32_t screen_row)
{
	return &con->text[((con->top + screen_row) % con->rows) * con->cols];
}

static void clear_row(struct fbcon_cell *row, uint32_t cols)
{
	for (uint32_t c = 0; c < cols; c++)
		row[c] = (struct fbcon_cell){' ', FBCON_ATTR_DEFAULT};
}

static void mark_dirty(struct fbcon *con, uint32_t lo, uint32_t hi)
{
	con->dirty_lo = MIN(con->dirty_lo, lo);
	con->dirty_hi = MAX(con->dirty_hi, hi);
}

int fbcon_init(struct fbcon *con, void *fb, uint32_t width, uint32_t height, uint32_t pitch,
	       const struct fbcon_format *format, struct fbcon_cell *text, struct fbcon_cell *shown,
	       uint32_t cols, uint32_t rows)
{
	uint32_t bpp = format->bytes_per_pixel, max_cols, max_rows;

	fbcon_geometry(width, height, &max_cols, &max_rows);
	if (bpp < 2 || bpp > 4 || (uint64_t)width * bpp > pitch ||
	    !mask_ok(format->red_mask, bpp) || !mask_ok(format->green_mask, bpp) ||
	    !mask_ok(format->blue_mask, bpp) || cols == 0 || rows == 0 || cols > max_cols ||
	    rows > max_rows)
		return -EINVAL;
	*con = (struct fbcon){.fb = fb,
			      .width = width,
			      .height = height,
			      .pitch = pitch,
			      .bpp = bpp,
			      .scale = width >= FBCON_HIDPI_WIDTH ? 2 : 1,
			      .cols = cols,
			      .rows = rows,
			      .text = text,
			      .shown = shown,
			      .attr = FBCON_ATTR_DEFAULT};
	for (uint32_t i = 0; i < FBCON_COLOURS; i++) {
		uint32_t rgb = fbcon_palette_rgb[i];
		con->pixel[i] = channel(rgb >> 16 & 0xff, format->red_mask) |
				channel(rgb >> 8 & 0xff, format->green_mask) |
				channel(rgb & 0xff, format->blue_mask);
	}
	for (uint32_t r = 0; r < rows; r++)
		clear_row(&text[r * cols], cols);
	fbcon_invalidate(con);
	return 0;
}

void fbcon_invalidate(struct fbcon *con)
{
	/* A character the console never stores: every cell differs. */
	for (uint32_t i = 0; i < con->rows * con->cols; i++)
		con->shown[i] = (struct fbcon_cell){0, 0};
	mark_dirty(con, 0, con->rows);
}

void fbcon_set_attr(struct fbcon *con, uint8_t attr)
{
	con->attr = attr;
}

/* Start a new line; at the bottom, the ring's top moves down one row. */
static void newline(struct fbcon *con)
{
	con->col = 0;
	if (con->row + 1 < con->rows) {
		con->row++;
		return;
	}
	/* Blank the row that becomes the last before showing it. */
	clear_row(ring_row(con, con->rows), con->cols);
	con->top = (con->top + 1) % con->rows;
	mark_dirty(con, 0, con->rows);
}

void fbcon_write(struct fbcon *con, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = (uint8_t)s[i];

		if (ch == '\n') {
			newline(con);
			continue;
		}
		if (ch == '\r')
			continue;
		if (con->col == con->cols)
			newline(con); /* a long line wraps */
		if (ch == 0)
			ch = 0xff; /* 0 means "not drawn yet" in shown */
		ring_row(con, con->row)[con->col++] = (struct fbcon_cell){ch, con->attr};
		mark_dirty(con, con->row, con->row + 1);
	}
}

struct fbcon_cell fbcon_cell_at(const struct fbcon *con, uint32_t r, uint32_t c)
{
	return ring_row(con, r)[c];
}

static void put_pixel(uint8_t *p, uint32_t bpp, uint32_t v)
{
	switch (bpp) {
	case 4:
		*(uint32_t *)p = v;
		break;
	case 3:
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)(v >> 16);
		break;
	default:
		*(uint16_t *)p = (uint16_t)v;
		break;
	}
}

/* A glyph into 32-bit pixels: the common case (RGBX, BGRX), one store per pixel. */
static void draw_glyph32(uint8_t *line, uint32_t pitch, const uint8_t *glyph, uint32_t s,
			 uint32_t fg, uint32_t bg)
{
	for (uint32_t y = 0; y < FBCON_FONT_H * s; y++, line += pitch) {
		uint32_t *p = (uint32_t *)line;
		uint32_t bits = glyph[y / s];

		for (uint32_t x = 0; x < FBCON_FONT_W; x++, bits <<= 1) {
			uint32_t v = (bits & 0x80) ? fg : bg;
			for (uint32_t k = 0; k < s; k++)
				*p++ = v;
		}
	}
}

/* A glyph into 16- or 24-bit pixels. */
static void draw_glyph(uint8_t *line, uint32_t pitch, uint32_t bpp, const uint8_t *glyph,
		       uint32_t s, uint32_t fg, uint32_t bg)
{
	for (uint32_t y = 0; y < FBCON_FONT_H * s; y++, line += pitch) {
		uint8_t bits = glyph[y / s];
		uint8_t *p = line;

		for (uint32_t x = 0; x < FBCON_FONT_W * s; x++, p += bpp)
			put_pixel(p, bpp, (bits & (0x80 >> (x / s))) ? fg : bg);
	}
}

/* Draw one cell's glyph, scale x scale pixels per font pixel. */
static void draw_cell(struct fbcon *con, uint32_t r, uint32_t c, struct fbcon_cell cell)
{
	uint32_t s = con->scale, fg = con->pixel[cell.attr & 0xf], bg = con->pixel[cell.attr >> 4];
	uint32_t glyph = cell.ch >= FBCON_FIRST_CHAR && cell.ch <= FBCON_LAST_CHAR
			     ? cell.ch - FBCON_FIRST_CHAR
			     : FBCON_REPLACEMENT;
	uint8_t *line = con->fb + (uint64_t)r * FBCON_FONT_H * s * con->pitch +
			(uint64_t)c * FBCON_FONT_W * s * con->bpp;

	if (con->bpp == 4)
		draw_glyph32(line, con->pitch, fbcon_font[glyph], s, fg, bg);
	else
		draw_glyph(line, con->pitch, con->bpp, fbcon_font[glyph], s, fg, bg);
	con->cells_drawn++;
}

/* Fill the rectangle [x0, x1) x [y0, y1) of pixels with the pixel value v. */
static void fill(struct fbcon *con, uint32_t x0, uint32_t x1, uint32_t y0, uint32_t y1, uint32_t v)
{
	for (uint32_t y = y0; y < y1; y++)
		for (uint32_t x = x0; x < x1; x++)
			put_pixel(con->fb + (uint64_t)y * con->pitch + (uint64_t)x * con->bpp,
				  con->bpp, v);
}

void fbcon_clear_margins(struct fbcon *con)
{
	uint32_t text_w = con->cols * FBCON_FONT_W * con->scale;
	uint32_t text_h = con->rows * FBCON_FONT_H * con->scale;
	uint32_t bg = con->pixel[FBCON_ATTR_DEFAULT >> 4];

	fill(con, text_w, con->width, 0, text_h, bg);
	fill(con, 0, con->width, text_h, con->height, bg);
}

void fbcon_flush(struct fbcon *con)
{
	for (uint32_t r = con->dirty_lo; r < con->dirty_hi && r < con->rows; r++) {
		const struct fbcon_cell *text = ring_row(con, r);
		struct fbcon_cell *shown = &con->shown[r * con->cols];

		for (uint32_t c = 0; c < con->cols; c++) {
			if (text[c].ch == shown[c].ch && text[c].attr == shown[c].attr)
				continue;
			draw_cell(con, r, c, text[c]);
			shown[c] = text[c];
		}
	}
	con->dirty_lo = con->rows;
	con->dirty_hi = 0;
}

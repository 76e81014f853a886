"""Reading Aerie's screen console back from a QEMU screenshot.

QEMU's `screendump` writes the framebuffer as a binary PPM (P6). The kernel
draws 8x16 text cells (16x32 at 2560 pixels wide and above) from the top
left, black background, with the font scripts/psf2c.py converted at build
time; build/gen/fbcon_font.txt holds the same glyphs. Each cell is decoded
by its shape alone: a pixel is ink if its red channel is not zero (every
colour the console draws text in has red; the background is black).
"""

from pathlib import Path

HIDPI_WIDTH = 2560
UNKNOWN = "\x00"  # a cell that matches no glyph


def load_font(path):
    """{ink mask of a cell (bytes of 0/1, row by row): character}, width, height."""
    lines = Path(path).read_text().splitlines()
    width, height = map(int, lines[0].split())
    glyphs, i = {}, 1
    while i < len(lines):
        code = int(lines[i])
        rows = lines[i + 1:i + 1 + height]
        mask = bytes(1 if ch == "#" else 0 for row in rows for ch in row)
        glyphs[mask] = chr(code) if code else "?"  # 0: the replacement glyph
        i += 1 + height
    return glyphs, width, height


def read_ppm(path):
    """(width, height, RGB bytes) of a binary PPM with maxval 255."""
    data = Path(path).read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError(f"{path}: not a binary PPM with 8-bit channels")
    return int(fields[1]), int(fields[2]), data[pos + 1:]


INK = bytes([0] + [1] * 255)  # red channel value -> ink


def decode(ppm_path, font_path):
    """The text on screen: one string per text row, trailing blanks dropped."""
    glyphs, fw, fh = load_font(font_path)
    width, height, rgb = read_ppm(ppm_path)
    scale = 2 if width >= HIDPI_WIDTH else 1
    cols, rows = width // (fw * scale), height // (fh * scale)
    text = []
    for r in range(rows):
        # The ink of each font row of this text row, one byte per font pixel.
        ink = []
        for y in range(fh):
            line = rgb[(r * fh + y) * scale * width * 3:][:width * 3]
            ink.append(line[0::3 * scale].translate(INK))
        row = "".join(glyphs.get(b"".join(ink[y][c * fw:(c + 1) * fw] for y in range(fh)),
                                 UNKNOWN) for c in range(cols))
        text.append(row.rstrip(" "))
    return text, cols


def matches_log(screen_rows, cols, log_lines):
    """Problems (a list of strings) if the text on screen is not exactly the
    last lines of the log, each cut into rows of cols characters."""
    shown = list(screen_rows)
    while shown and not shown[-1]:
        shown.pop()
    if not shown:
        return ["the screen shows no text"]
    if any(UNKNOWN in row for row in shown):
        return ["a cell on screen matches no glyph of the font"]
    wrapped = [line[i:i + cols] for line in log_lines for i in range(0, max(len(line), 1), cols)]
    tail = wrapped[-len(shown):]
    if shown != tail:
        bad = next(i for i, (a, b) in enumerate(zip(shown, tail + [""] * len(shown))) if a != b)
        return [f"screen row {bad} shows {shown[bad]!r}, the serial log has "
                f"{tail[bad] if bad < len(tail) else None!r} there"]
    return []

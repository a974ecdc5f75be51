"""Renders an ANSI screen capture (`tmux capture-pane -e -p`) to a PNG.

Usage: python3 render_ansi.py capture.ans out.png [columns rows]
Needs Pillow and the DejaVu Sans Mono font (Debian: fonts-dejavu-core).
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
SIZE = 15
BG = (30, 30, 36)
FG = (215, 218, 224)
BASE16 = [
    (40, 42, 54), (235, 90, 90), (120, 200, 120), (230, 200, 100),
    (100, 150, 240), (200, 120, 220), (90, 200, 210), (215, 218, 224),
    (100, 104, 120), (255, 120, 120), (150, 230, 150), (250, 225, 130),
    (130, 175, 255), (225, 150, 240), (120, 225, 235), (250, 250, 250),
]


def xterm256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + 10 * (n - 232)
    return (v, v, v)


class Pen:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg, self.bg, self.bold, self.reverse, self.underline = None, None, False, False, False

    def apply(self, params):
        # Sub-parameters (`4:3` undercurl, `38:2::r:g:b`) are split on ':'.
        items = [p for p in re.split(r";", params)] if params else ["0"]
        i = 0
        while i < len(items):
            part = items[i]
            sub = [int(x) if x.isdigit() else 0 for x in part.split(":")] if part else [0]
            code = sub[0]
            if code in (38, 48) and len(sub) > 1:
                # colon form: 38:2::r:g:b or 38:2:r:g:b or 38:5:n
                rest = [x for x in sub[1:]]
                if rest[0] == 5:
                    color = xterm256(rest[1])
                else:
                    rgb = rest[-3:]
                    color = tuple(rgb)
                setattr(self, "fg" if code == 38 else "bg", color)
            elif code in (38, 48):
                kind = int(items[i + 1] or 0)
                if kind == 5:
                    color = xterm256(int(items[i + 2]))
                    i += 2
                else:
                    color = tuple(int(x) for x in items[i + 2:i + 5])
                    i += 4
                setattr(self, "fg" if code == 38 else "bg", color)
            elif code == 0:
                self.reset()
            elif code == 1:
                self.bold = True
            elif code == 22:
                self.bold = False
            elif code == 4:
                self.underline = len(sub) == 1 or sub[1] != 0
            elif code == 24:
                self.underline = False
            elif code == 7:
                self.reverse = True
            elif code == 27:
                self.reverse = False
            elif 30 <= code <= 37:
                self.fg = BASE16[code - 30]
            elif 90 <= code <= 97:
                self.fg = BASE16[code - 90 + 8]
            elif 40 <= code <= 47:
                self.bg = BASE16[code - 40]
            elif 100 <= code <= 107:
                self.bg = BASE16[code - 100 + 8]
            elif code == 39:
                self.fg = None
            elif code == 49:
                self.bg = None
            i += 1


def render(text, out, cols, rows):
    regular = ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", SIZE)
    bold = ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Bold.ttf", SIZE)
    cw = round(regular.getlength("M"))
    ch = SIZE + 5
    pad = 12
    img = Image.new("RGB", (cols * cw + 2 * pad, rows * ch + 2 * pad), BG)
    draw = ImageDraw.Draw(img)
    pen = Pen()
    for row, line in enumerate(text.split("\n")[:rows]):
        col = 0
        for token in re.finditer(r"\x1b\[([0-9;:]*)m|\x1b\[[0-9;?]*[A-Za-z]|(.)", line):
            if token.group(2) is None:
                if token.group(0).endswith("m"):
                    pen.apply(token.group(1))
                continue
            char = token.group(2)
            if col >= cols:
                break
            fg, bg = pen.fg or FG, pen.bg or BG
            if pen.reverse:
                fg, bg = bg, fg
            x, y = pad + col * cw, pad + row * ch
            if bg != BG:
                draw.rectangle([x, y, x + cw - 1, y + ch - 1], fill=bg)
            draw.text((x, y + 2), char, font=bold if pen.bold else regular, fill=fg)
            if pen.underline:
                draw.line([x, y + ch - 2, x + cw - 1, y + ch - 2], fill=fg)
            col += 1
    img.save(out, optimize=True)


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else 24
    with open(src, encoding="utf-8", errors="replace") as f:
        render(f.read(), dst, cols, rows)

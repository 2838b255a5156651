"""The arc-eos token encoding (PAD 0, EOS 1, colour c -> c+2) and its decoding.

The Go side (puzzles package) implements the same rules; the golden file carries
both the grids and these tokens so the two are checked against each other.
"""

PAD, EOS, COLOUR0 = 0, 1, 2


def encode_arc_eos(grid, side=30):
    h, w = len(grid), len(grid[0])
    tokens = [PAD] * (side * side)
    for r, row in enumerate(grid):
        for c, colour in enumerate(row):
            tokens[r * side + c] = colour + COLOUR0
    if h < side:
        for c in range(w):
            tokens[h * side + c] = EOS
    if w < side:
        for r in range(h):
            tokens[r * side + w] = EOS
    return tokens


def decode_arc_eos(tokens, side=30):
    """The largest all-colour top-left rectangle (first wins ties), as colours."""
    best, best_area = (0, 0), 0
    width = side
    for r in range(side):
        c = 0
        while c < width and tokens[r * side + c] >= COLOUR0:
            c += 1
        width = c
        if width == 0:
            break
        if (r + 1) * width > best_area:
            best, best_area = (r + 1, width), (r + 1) * width
    rows, cols = best
    return [[tokens[r * side + c] - COLOUR0 for c in range(cols)] for r in range(rows)]

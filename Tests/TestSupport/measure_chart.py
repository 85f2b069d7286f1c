"""Measures a screenshot of the usage page with Pillow, for the end-to-end tests.

Usage: measure_chart.py SCREENSHOT.png RRGGBB

Prints JSON: the image's size, how many distinct colours it has, the share of pixels that are
not the page background, and the chart's bars: runs of columns in the bar colour whose lowest
pixel sits on the chart's baseline (the lowest row of that colour), each with its left and
right column, its centre and its height in pixels (the run of bar-coloured pixels up from the
baseline, bridging a line drawn across the bar, the median over the bar's inner columns, so
anti-aliased edges do not count).
"""
import json
import sys

from PIL import Image


# A line drawn across a bar (the quota's dashed line, 2 units wide) hides a few rows of it:
# bar-coloured pixels resume above a gap this high at most.
GAP = 4


def near(pixel, colour, tolerance=10):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def main():
    path, hex_colour = sys.argv[1], sys.argv[2]
    colour = tuple(int(hex_colour[i:i + 2], 16) for i in (0, 2, 4))
    image = Image.open(path).convert("RGB")
    width, height = image.size
    pixels = image.load()

    counts = {}
    for y in range(0, height, 2):
        for x in range(0, width, 2):
            p = pixels[x, y]
            counts[p] = counts.get(p, 0) + 1
    background = max(counts, key=counts.get)
    sampled = sum(counts.values())
    not_background = sum(n for p, n in counts.items() if p != background) / sampled

    lowest = {}
    for x in range(width):
        for y in range(height - 1, -1, -1):
            if near(pixels[x, y], colour):
                lowest[x] = y
                break
    bars = []
    if lowest:
        baseline = max(lowest.values())
        limit = baseline
        columns = sorted(x for x, y in lowest.items() if y >= baseline - 1)
        runs = []
        for x in columns:
            if runs and x == runs[-1][-1] + 1:
                runs[-1].append(x)
            else:
                runs.append([x])
        for run in runs:
            inner = run[1:-1] if len(run) > 2 else run
            heights = []
            for x in inner:
                y = lowest[x]
                top, probe = y, y - 1
                while probe >= 0 and y - probe <= limit:
                    if near(pixels[x, probe], colour):
                        top = probe
                    elif top - probe > GAP:
                        break
                    probe -= 1
                heights.append(y - top + 1)
            heights.sort()
            bars.append({
                "left": run[0],
                "right": run[-1],
                "centre": (run[0] + run[-1]) / 2,
                "height": heights[len(heights) // 2],
            })
    print(json.dumps({
        "width": width,
        "height": height,
        "colours": len(counts),
        "background": "%02x%02x%02x" % background,
        "notBackground": not_background,
        "bars": bars,
    }))


if __name__ == "__main__":
    main()

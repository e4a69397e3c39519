"""Each bomb a client can send, timed in a process of its own with the process's peak memory
reset before it (Linux's clear_refs): `costs` runs this file and reads {name: [s, MiB]}."""
import io
import json
import os
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from clients import rss_mib

from digitpad import render, strokes
from digitpad.push import SWEEP_POINTS, Push
from digitpad.store import IMPORT_BYTES, Store, png
from digitpad.weights import load_model


def zipped(path: Path, entries: dict) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def spread(points: int = strokes.MAX_POINTS) -> list:
    """Random points over a 4096 canvas, out to the stray limit: the costliest drawing the pad's
    value may carry."""
    return (np.random.default_rng(0).random((points, 2)) * 3 * 4096 - 4096).round(1).tolist()


def largest_pad() -> str:
    return json.dumps({"size": [4096, 4096], "strokes": [spread()]})


def main(folder: Path) -> None:
    store, model = Store(folder / "drawings.sqlite"), load_model()
    me = store.profile("me", "owner")
    csv = "file,label,said,model,created\n"
    ink, blank = png(np.zeros((28, 28), np.uint8)), io.BytesIO()
    Image.new("L", (10_000, 10_000), 255).save(blank, "PNG")
    huge = bytearray(blank.getvalue())
    huge[16:24] = struct.pack(">II", 50_000, 50_000)
    imports = {
        "20 blank 10000x10000 canvases in a 1.4 KB zip": {"drawings.csv": csv + "1.png,3,3,x,0\n" * 20,
                                                          "inputs/1.png": ink, "canvases/1.png": blank.getvalue()},
        "a PNG header of 50000x50000": {"drawings.csv": csv + "1.png,3,3,x,0\n", "inputs/1.png": ink,
                                        "canvases/1.png": bytes(huge)},
        "a CSV of 50 MB in a small zip": {"drawings.csv": "x" * (IMPORT_BYTES + 1)},
        "300,000 CSV rows": {"drawings.csv": csv + "1.png,3,3,x,0\n" * 300_000, "inputs/1.png": ink},
    }
    paths = {name: zipped(folder / f"{i}.zip", entries) for i, (name, entries) in enumerate(imports.items())}
    pads = {"100,000 points": json.dumps({"size": [400, 400], "strokes": [[[200.5, 200.5]] * 100_000]}),
            f"{strokes.MAX_POINTS:,} random points over a 4096 canvas": largest_pad()}
    curve = json.dumps({"size": [4096, 4096], "strokes": [spread(SWEEP_POINTS)]})
    bombs = {f"import: {name}": (lambda path=path: store.import_zip(me, path, room=500)) for name, path in paths.items()}
    bombs |= {f"pad, read and look: {name}": (lambda v=v: (render.glance(model, v), render.panels(model, v)))
              for name, v in pads.items()}
    bombs["pad, pushed: the same, 3x the brush"] = lambda: render.panels(
        model, largest_pad(), push=Push(rotation=45, thickness=3))
    bombs[f"the curve: {SWEEP_POINTS:,} points, 3x the brush"] = lambda: render.curve(
        model, curve, Push(rotation=45, thickness=3))
    render.panels(model, strokes.empty())  # warm-up
    costs = {}
    for name, bomb in bombs.items():
        Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
        before, start = rss_mib("self"), time.perf_counter()
        bomb()
        costs[name] = [time.perf_counter() - start, rss_mib("self", peak=True) - before]
    print(json.dumps(costs))


def costs(folder: Path) -> dict[str, list[float]]:
    """Every bomb's seconds and peak MiB, from a fresh process whose home is `folder`."""
    out = subprocess.run([sys.executable, __file__, str(folder)], env={**os.environ, "DIGITPAD_HOME": str(folder)},
                         capture_output=True, text=True, timeout=300, check=True).stdout
    return json.loads(out.splitlines()[-1])


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""`python -m maskfast.faces IMAGES_OR_FOLDERS --out DIR`: the face box of every image as DIR/boxes.csv and an overlay
PNG each (library: `maskfast.viz.faces.detect_to_folder`; the detector: `maskfast.data.faces`)."""
__all__ = ['main']

import time
from typing import Annotated
from fastcore.script import call_parse, store_true
from .viz.faces import detect_to_folder

@call_parse
def main(
    paths: Annotated[str, 'image files or folders (searched recursively)', {'nargs': '+', 'opt': False}],
    out: str = 'faces',                 # output folder: boxes.csv and overlays/
    size: Annotated[int, 'the model input size H W the green crop is drawn for', {'nargs': 2}] = (128, 96),
    no_overlays: store_true = False,    # write boxes.csv only
    max_overlays: int = None,           # overlay PNGs for the first N images only
    workers: int = 0,                   # processes (0 = all cores)
):
    "Detect faces; write boxes.csv (file, x0, y0, x1, y1, score; empty when none) and overlays (orange face, green crop)."
    t = time.time()
    try: b = detect_to_folder(paths, out, tuple(size), not no_overlays, max_overlays, workers or None)
    except (FileNotFoundError, RuntimeError) as e: raise SystemExit(f'maskfast.faces: {e}') from None
    print(f'{len(b)} images, {int(b.score.notna().sum())} faces, {time.time() - t:.0f}s -> {out}/boxes.csv')

"""Face boxes of any images written for a person to check: boxes.csv and an overlay PNG per image showing the face
found (orange) and the crop the model would see (green)."""
__all__ = ['detect_to_folder']

from pathlib import Path
import numpy as np, pandas as pd
from ..data.faces import face_boxes, face_crops, draw_box
from ..data.layout import IMAGE_EXTS

def _image_files(paths):
    "Image files of files and folders (recursively), junk (`._*`, hidden, other types) left out."
    out = []
    for p in map(Path, paths):
        if not p.exists(): raise FileNotFoundError(f'{p} does not exist')
        items = sorted(q for q in p.rglob('*') if q.is_file()) if p.is_dir() else [p]
        out += [q for q in items if not q.name.startswith('.') and q.suffix.lower() in IMAGE_EXTS]
    return out

def detect_to_folder(paths, out, size=(128, 96), overlays=True, max_overlays=None, workers=None, progress=True):
    """Detect the face in every image of `paths` and write OUT/boxes.csv (file, x0, y0, x1, y1, score in original
    pixels, empty when no face) and OUT/overlays/*.png. Returns the boxes frame."""
    from PIL import Image
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    files = _image_files(paths)
    if not files: raise FileNotFoundError(f'no images (.jpg/.jpeg/.png) in {list(map(str, paths))}')
    boxes = face_boxes(files, workers=workers, progress=progress)
    crops, fallback = face_crops(files, size, verbose=False, progress=False)
    boxes[['file', 'x0', 'y0', 'x1', 'y1', 'score']].round(2).to_csv(out / 'boxes.csv', index=False)
    if overlays:
        (out / 'overlays').mkdir(exist_ok=True)
        n = len(files) if max_overlays is None else min(max_overlays, len(files))
        for i in range(n):
            r = boxes.iloc[i]
            with Image.open(files[i]) as im: rgb = np.asarray(im.convert('RGB'))
            H, W = rgb.shape[:2]
            c = crops[i]
            img = draw_box(draw_box(rgb, (r.x0, r.y0, r.x1, r.y1)), (c[0] * W, c[1] * H, c[2] * W, c[3] * H), (0, 200, 0))
            Image.fromarray(img).save(out / 'overlays' / f'{i:06d}_{Path(files[i]).parent.name}_{Path(files[i]).stem}.png')
    return boxes

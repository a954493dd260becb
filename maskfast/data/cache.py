"""Decode + centre-crop + resize every image once into a memory-mapped uint8 array, rebuilt only where files changed."""
__all__ = ['load_image', 'crop_resize', 'crop_pixels', 'resolve_crops', 'ImageCache', 'DecodedImages', 'build_cache', 'open_images', 'cache_home', 'dataset_stats']

import hashlib, json, os, time
from multiprocessing import Pool
from pathlib import Path
import numpy as np, pandas as pd
from .faces import fit_aspect, face_crops
from .home import cache_home
from .progress import progress as show_progress

def load_image(file, size=(128, 96), crop=0.85):
    """RGB uint8 array (H, W, 3) of `file`: the centre `crop` share of each side, or the box `crop` = (x0, y0, x1, y1)
    in fractions of the image grown to the target aspect, resized to `size` = (H, W). JPEG draft mode decodes at a
    reduced scale when that still leaves enough pixels; grey/RGBA become RGB."""
    from PIL import Image
    h, w = size
    fw, fh = (crop, crop) if np.isscalar(crop) else (crop[2] - crop[0], crop[3] - crop[1])
    with Image.open(file) as im:
        im.draft('RGB', (int(w / fw), int(h / fh)))
        a = np.asarray(im.convert('RGB'))
    return crop_resize(a, size, crop)

def crop_pixels(crop, img_w, img_h, size=(128, 96)):
    "The pixel rows and columns (y0, y1, x0, x1) that `crop` (a centre share or a fractions box) takes at the aspect of `size`."
    h, w = size
    if np.isscalar(crop):
        ch, cw = img_h * crop, img_w * crop
        ch, cw = min(ch, cw * h / w), min(cw, ch * w / h)   # crop to the target aspect
        y0, x0 = int(round((img_h - ch) / 2)), int(round((img_w - cw) / 2))
        return y0, y0 + int(round(ch)), x0, x0 + int(round(cw))
    x0, y0, x1, y1 = fit_aspect((crop[0] * img_w, crop[1] * img_h, crop[2] * img_w, crop[3] * img_h), h / w, img_w, img_h)
    y0, x0 = int(round(y0)), int(round(x0))
    return y0, max(int(round(y1)), y0 + 1), x0, max(int(round(x1)), x0 + 1)

def crop_resize(a, size=(128, 96), crop=0.85):
    "The centre `crop` share (or the fractions box `crop`) of an RGB array, cut to the aspect of `size` = (H, W), resized to it."
    import cv2
    y0, y1, x0, x1 = crop_pixels(crop, a.shape[1], a.shape[0], size)
    return np.ascontiguousarray(cv2.resize(a[y0:y1, x0:x1], (size[1], size[0]), interpolation=cv2.INTER_AREA))

def _key(f):
    st = os.stat(f)
    return f'{st.st_size}:{st.st_mtime_ns}'

def resolve_crops(files, crop=0.85, size=(128, 96), fallback=None, workers=None, progress=True, verbose=True):
    """(crop of each file, text for the cache's name, face fallback box or None) of a crop spec: a centre share, a box
    (x0, y0, x1, y1) in fractions, or 'face' (the detector's face-centred crops, `fallback` where none is found)."""
    if isinstance(crop, str):
        if crop != 'face': raise ValueError(f"crop must be a share like 0.85, a box of 4 fractions or 'face', not {crop!r}")
        crops, fb = face_crops(files, size, fallback, workers=workers, progress=progress, verbose=True)   # always say how many
        return crops, 'face' + hashlib.sha1(repr(crops).encode()).hexdigest()[:8], fb
    if np.isscalar(crop): return [float(crop)] * len(files), f'{crop:g}', None
    box = tuple(round(float(v), 4) for v in crop)
    if len(box) != 4 or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
        raise ValueError(f'a crop box is X0 Y0 X1 Y1 in fractions of the image with X0 < X1 and Y0 < Y1, not {crop}')
    return [box] * len(files), 'box' + '_'.join(f'{v:g}' for v in box), None

def _fill(job):
    path, shape, rows, size = job
    arr = np.memmap(path, np.uint8, 'r+', shape=shape)
    bad = []
    for i, f, crop in rows:
        try: arr[i] = load_image(f, size, crop)
        except Exception as e: bad.append((i, f'{type(e).__name__}: {e}'))
    arr.flush()
    return len(rows), bad

class _IndexedImages:
    "What both image sources share: an index frame (file, key, ok) and a size."
    def __len__(self): return len(self.index)
    @property
    def ok(self): return self.index['ok'].values.astype(bool)
    @property
    def bad(self): return list(self.index.loc[~self.ok, 'file'])
    def __getitem__(self, i): return np.asarray(self.array[i])

class ImageCache(_IndexedImages):
    "A memory-mapped (N, H, W, 3) uint8 array of preprocessed images with its index (file, key, ok)."
    def __init__(self, path, index, size, crop, face_fallback=None):
        self.path, self.index, self.size, self.crop, self.face_fallback = Path(path), index, tuple(size), crop, face_fallback
        self.array = np.memmap(self.path, np.uint8, 'r', shape=(len(index), *self.size, 3)) if len(index) else np.zeros((0, *self.size, 3), np.uint8)
        self.row = {f: i for i, f in enumerate(index['file'])}
    def read(self, rows, out=None):
        """Images at `rows` as (N, H, W, 3) uint8, by positioned reads: a cold memory map costs a page fault per 4 KiB
        (measured here: 167 us/image cold vs 9 us/image with `os.preadv`), and reads keep memory bounded all the same."""
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), *self.size, 3), np.uint8) if out is None else out
        if not len(rows): return out
        if not hasattr(os, 'preadv'): out[:] = self.array[rows]; return out
        fd, n = self._fd(), int(np.prod(self.size)) * 3
        for j, r in enumerate(rows):
            if os.preadv(fd, [out[j]], int(r) * n) != n: raise IOError(f'{self.path}: short read at row {r}; delete the cache file to rebuild it')
        return out
    def _fd(self):
        "A read-only descriptor of the cache file, opened once per process (workers get their own)."
        if getattr(self, '_pid', None) != os.getpid(): self._fdno, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fdno
    def __del__(self):
        if getattr(self, '_pid', None) == os.getpid(): os.close(self._fdno)
    @property
    def nbytes(self): return self.path.stat().st_size if self.path.exists() else 0
    def __reduce__(self): return (ImageCache, (self.path, self.index, self.size, self.crop, self.face_fallback))

class _Decoder:
    "`array`-like access for `DecodedImages`: an int gives one image, an array of rows a stack."
    def __init__(self, src): self.src = src
    @property
    def shape(self): return (len(self.src), *self.src.size, 3)
    def __len__(self): return len(self.src)
    def __getitem__(self, i):
        if np.ndim(i) == 0: return self.src.read([int(i)])[0]
        return self.src.read(np.arange(len(self.src))[i] if isinstance(i, slice) else i)

class DecodedImages(_IndexedImages):
    """The `ImageCache` interface without a cache (`--no-cache`): every read decodes, crops and resizes the source
    files again, exactly as the cache would have (same `load_image`). Unreadable files are flagged up front."""
    def __init__(self, files, size=(128, 96), crop=0.85, verbose=True, fallback=None, progress=True):
        from PIL import Image
        self.files, self.size, self.crop, self.path = [str(Path(f).resolve()) for f in files], tuple(int(v) for v in size), crop, None
        self.crops, _, self.face_fallback = resolve_crops(self.files, crop, self.size, fallback, progress=progress, verbose=verbose)
        ok = []
        for f in self.files:
            try:
                with Image.open(f) as im: im.verify()
                ok.append(True)
            except Exception: ok.append(False)
        self.index = pd.DataFrame({'file': self.files, 'key': '', 'ok': ok})
        self.array = _Decoder(self)
        if verbose: print(f'no cache: {len(self.files)} images are decoded on every read; {len(self.bad)} unreadable')
        for f in self.bad[:20]: print(f'  unreadable, left out: {f}')
    nbytes = 0
    def read(self, rows, out=None):
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), *self.size, 3), np.uint8) if out is None else out
        ok = self.ok
        for j, r in enumerate(rows):
            if not ok[r]: out[j] = 0; continue   # as the cache holds them: zeros, flagged
            try: out[j] = load_image(self.files[r], self.size, self.crops[r])
            except Exception as e: raise OSError(f'{self.files[r]}: cannot decode ({e}); fix or remove it, or use the cache, which leaves unreadable files out') from e
        return out

def open_images(files, size=(128, 96), crop=0.85, name='images', cache=True, workers=None, verbose=True, progress=True,
                fallback=None):
    """The images of `files` at `size` and `crop` (a share, a box, or 'face' with `fallback` for faceless images): the
    preprocessing cache (default) or, with `cache=False`, decoded on every read."""
    if cache: return build_cache(files, size, crop, name=name, workers=workers, progress=progress, verbose=verbose, fallback=fallback)
    return DecodedImages(files, size, crop, verbose=verbose, fallback=fallback, progress=progress)

def build_cache(files, size=(128, 96), crop=0.85, name='images', cache_dir=None, workers=None, progress=True, verbose=True,
                fallback=None):
    """Cache `files` (in this order) at `size` and `crop` (see `resolve_crops`) under `cache_dir`; rows whose file's
    size and mtime are unchanged are copied from the previous cache, the rest decoded in parallel. Unreadable files
    are reported once by path and flagged `ok=False`, never cached as garbage."""
    files = [str(Path(f).resolve()) for f in files]
    size = tuple(int(s) for s in size)
    crops, desc, fallback = resolve_crops(files, crop, size, fallback, workers, progress, verbose)
    cache_dir = Path(cache_dir or cache_home() / 'cache'); cache_dir.mkdir(parents=True, exist_ok=True)
    tag = f'{name}_{size[0]}x{size[1]}_c{desc}_' + hashlib.sha1('\n'.join(files).encode()).hexdigest()[:10]
    path, ipath = cache_dir / f'{tag}.u8', cache_dir / f'{tag}.csv'
    keys = [_key(f) if os.path.exists(f) else 'missing' for f in files]
    index = pd.DataFrame({'file': files, 'key': keys, 'ok': True})
    old = None
    if ipath.exists() and path.exists():
        old = pd.read_csv(ipath, keep_default_na=False)
        if len(old) == len(index) and (old['key'].values == index['key'].values).all():
            index['ok'] = old['ok'].values.astype(bool)
            if verbose: print(f'cache: reusing {path.name} ({len(files)} images, {path.stat().st_size / 2**20:.0f} MiB)')
            return ImageCache(path, index, size, crop, fallback)
    t0 = time.time(); shape = (len(files), *size, 3)
    tmp = path.with_suffix('.tmp')
    arr = np.memmap(tmp, np.uint8, 'w+', shape=shape) if len(files) else None
    todo = list(range(len(files)))
    if old is not None and len(old):
        prev = np.memmap(path, np.uint8, 'r', shape=(len(old), *size, 3))
        where = {(f, k): (i, ok) for i, (f, k, ok) in enumerate(zip(old['file'], old['key'], old['ok'].astype(bool)))}
        todo = []
        for i, fk in enumerate(zip(files, keys)):
            j = where.get(fk)
            if j is None or not j[1]: todo.append(i)
            else: arr[i] = prev[j[0]]
        del prev
    if arr is not None: arr.flush(); del arr
    bad = [(i, 'file not found') for i in todo if keys[i] == 'missing']
    todo = [i for i in todo if keys[i] != 'missing']
    workers = workers or os.cpu_count() or 1
    chunk = max(16, min(256, len(todo) // (workers * 8) + 1))
    jobs = [(tmp, shape, [(i, files[i], crops[i]) for i in todo[s:s + chunk]], size) for s in range(0, len(todo), chunk)]
    if jobs:
        with Pool(min(workers, len(jobs))) as pool:
            for n, b in show_progress(pool.imap_unordered(_fill, jobs), len(jobs), f'cache: decoding {len(todo)} images', progress): bad += b
    for i, _ in bad: index.loc[i, 'ok'] = False
    os.replace(tmp, path) if len(files) else path.touch()
    index.to_csv(ipath, index=False)
    if verbose:
        print(f'cache: {len(todo)} decoded, {len(files) - len(todo)} reused in {time.time() - t0:.1f}s -> {path} '
              f'({path.stat().st_size / 2**20:.0f} MiB); {len(bad)} unreadable')
        for i, why in bad[:20]: print(f'  unreadable, left out: {files[i]} ({why})')
    return ImageCache(path, index, size, crop, fallback)

def dataset_stats(cache, rows=None, n=2000, seed=0):
    "Per-channel RGB mean/std (0..1) over up to `n` cached images, saved next to the cache and reused."
    spath = cache.path.with_suffix('.stats.json') if cache.path is not None else None   # DecodedImages: not saved
    if spath is not None and spath.exists(): d = json.loads(spath.read_text()); return d['mean'], d['std']
    rows = np.flatnonzero(cache.ok) if rows is None else np.asarray(rows)
    rows = np.sort(np.random.default_rng(seed).choice(rows, min(n, len(rows)), replace=False))
    x = cache.array[rows].reshape(-1, 3).astype(np.float64) / 255
    mean, std = x.mean(0).tolist(), x.std(0).tolist()
    if spath is not None: spath.write_text(json.dumps({'mean': mean, 'std': std}))
    return mean, std

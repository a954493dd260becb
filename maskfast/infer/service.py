"""Predicting single photos held in memory, as a service does: the runs loaded once, each photo prepared with each
run's own crop (face-centred where the run crops faces), size and normalisation, the runs soft-voted like predict."""
__all__ = ['ImageError', 'decode_image', 'Photo', 'decode_photo', 'ArrayImages', 'MicroBatcher', 'Predictor']

import io, threading
from typing import NamedTuple
import numpy as np
from ..data.cache import crop_resize, crop_pixels, load_image
from ..data.faces import default_detector, face_fractions, CENTRE_BOX
from ..data.labels import MASKS, GENDERS, AGES, decode
from ..learn.callbacks import pick_precision
from ..learn.runs import find_runs, load_model, run_crop
from .predict import predict_cache, vote_runs
from .submission import run_tasks

class ImageError(ValueError):
    "The bytes are not an image that can be decoded; the message says why."

def decode_image(data, max_pixels=50_000_000):
    "RGB uint8 array of image bytes; empty, non-image, truncated or huge data raise `ImageError`."
    from PIL import Image, UnidentifiedImageError
    if not data: raise ImageError('empty body: send the photo as the multipart field "file"')
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > max_pixels: raise ImageError(f'image of {im.width}x{im.height} pixels is too large')
            return np.asarray(im.convert('RGB'))
    except UnidentifiedImageError: raise ImageError('not an image (JPEG, PNG and the other formats Pillow reads are)') from None
    except (OSError, SyntaxError) as e: raise ImageError(f'truncated or corrupt image ({e})') from None

class Photo(NamedTuple):
    "An uploaded photo: its file's bytes (the model's input, decoded as the cache decodes files) and its full RGB array."
    data: bytes
    array: np.ndarray

def decode_photo(data, max_pixels=50_000_000):
    "A `Photo` of image bytes, decoded once for faces and boxes; bad data raises `ImageError` as `decode_image` does."
    return Photo(data, decode_image(data, max_pixels))

class ArrayImages:
    "The image-cache interface (`read`, `size`, `ok`) over arrays already prepared in memory."
    def __init__(self, arrays): self.arrays = np.stack(arrays); self.size = self.arrays.shape[1:3]
    def __len__(self): return len(self.arrays)
    def read(self, rows, out=None): return self.arrays[np.asarray(rows)]
    @property
    def ok(self): return np.ones(len(self.arrays), bool)

class _Job:
    def __init__(self, items): self.items, self.result, self.error, self.done = items, None, None, False

class MicroBatcher:
    """Calls `fn(items) -> results` one batch at a time, merging the items of concurrent callers into one batch (up to
    `max_items`): whichever caller gets the turn runs everything waiting. On 2 cores, 4 clients sending one photo
    each then cost one batch of 4 instead of 4 batches of 1 fighting for the cores. An error reaches every caller of
    its batch."""
    def __init__(self, fn, max_items=64):
        self.fn, self.max_items = fn, max_items
        self.waiting, self.queue_lock, self.turn = [], threading.Lock(), threading.Lock()

    def __call__(self, items):
        job = _Job(list(items))
        with self.queue_lock: self.waiting.append(job)
        while not job.done:
            with self.turn:
                if job.done: break
                with self.queue_lock:
                    n, take = 0, []
                    while self.waiting and (not take or n + len(self.waiting[0].items) <= self.max_items):
                        take.append(self.waiting.pop(0)); n += len(take[-1].items)
                try:
                    res = self.fn([x for j in take for x in j.items]); i = 0
                    for j in take: j.result, i = res[i:i + len(j.items)], i + len(j.items)
                except Exception as e:
                    for j in take: j.error = e
                for j in take: j.done = True
        if job.error is not None: raise job.error
        return job.result

def _model_input(photo, size, crop):
    "The model's input for one photo: a `Photo` read from its bytes as the cache reads a file, an array resized directly."
    if isinstance(photo, Photo): return load_image(io.BytesIO(photo.data), size, crop)
    return crop_resize(photo, size, crop)

class Predictor:
    "Runs loaded once; `predict(arrays)` answers a dict per photo: class, mask, gender, age, the 18 probabilities, boxes."
    def __init__(self, runs, tta=0, device=None, precision='auto'):
        self.runs, self.precision = find_runs(runs), pick_precision(precision, device)   # once: a fallback notice at start, not per batch
        self.tasks = run_tasks(self.runs)
        self.models = [load_model(r, device) for r in self.runs]
        self.tta = tta
        self.faces = any(run_crop(cfg) == 'face' for _, cfg in self.models)
        if self.faces: default_detector()
        self.batcher = MicroBatcher(self._predict)   # one batch at a time (torch already uses every core), merged

    def _crop(self, cfg, rgb, face):
        c = run_crop(cfg)
        if c != 'face': return c
        H, W = rgb.shape[:2]
        return face_fractions(face, W, H, cfg['size']) if face is not None else tuple(cfg.get('face_fallback') or CENTRE_BOX)

    def predict(self, photos):
        """A result dict per photo: a `Photo` (`decode_photo` of the file's bytes: the model reads them as training did,
        JPEG draft mode included) or an RGB array in its original pixels. Concurrent calls are batched together."""
        return self.batcher(photos)

    def _predict(self, photos):
        arrays = [p.array if isinstance(p, Photo) else p for p in photos]
        faces = [default_detector()(a) for a in arrays] if self.faces else [None] * len(arrays)
        probs = []
        for (model, cfg), task in zip(self.models, self.tasks):
            crops = [self._crop(cfg, a, f) for a, f in zip(arrays, faces)]
            imgs = ArrayImages([_model_input(p, tuple(cfg['size']), c) for p, c in zip(photos, crops)])
            probs.append((task, predict_cache(model, cfg, imgs, tta=self.tta, bs=64, precision=self.precision), crops))
        p18 = vote_runs([p for _, p, _ in probs], self.tasks)
        out = []
        for i, (a, f) in enumerate(zip(arrays, faces)):
            p = p18[i] / p18[i].sum(); c = int(p.argmax()); m, g, ag = decode(c)
            H, W = a.shape[:2]
            y0, y1, x0, x1 = crop_pixels(probs[0][2][i], W, H, tuple(self.models[0][1]['size']))   # the first run's crop
            box = [x0, y0, x1, y1]
            out.append({'class': c, 'mask': MASKS[m], 'gender': GENDERS[g], 'age': AGES[ag], 'probs': [round(float(v), 6) for v in p],
                        'face_box': None if f is None else [round(float(v), 1) for v in f[:4]],
                        'crop_box': [round(float(v), 1) for v in box], 'width': W, 'height': H})
        return out

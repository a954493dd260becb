"""Speed of training, loading and inference: maskfast end to end vs the model alone and vs a naive JPEG loader."""
__all__ = ['run_bench', 'run_serve_bench', 'NaiveJPEGDataset', 'BENCH_ROWS']

import time
import numpy as np, torch
from fastai.callback.core import CancelFitException
from fastai.data.core import DataLoaders
from ..data.block import mask_dataloaders
from ..data.items import load_items
from ..data.splits import fold_indices
from ..data.twin import default_twin
from ..infer.predict import predict_cache
from ..learn.callbacks import BatchTimer
from ..learn.learner import mask_learner
from ..learn.config import DEFAULT_SIZE

class NaiveJPEGDataset(torch.utils.data.Dataset):
    "The official-baseline style path: decode the full JPEG with PIL every epoch, resize, to tensor."
    def __init__(self, files, labels, size): self.files, self.labels, self.size = list(files), list(labels), size
    def __len__(self): return len(self.files)
    def __getitem__(self, i):
        from PIL import Image
        with Image.open(self.files[i]) as im: im = im.convert('RGB').resize(self.size[::-1], Image.BILINEAR)
        return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float().div(255), self.labels[i]

class _MemDL(list):
    "Batches already in memory, with the few DataLoader methods fastai's loop calls."
    def to(self, device): return self


def _loader_rate(it, n, bs):
    it = iter(it); next(it); t = time.perf_counter()
    for _ in range(n): next(it)
    return n * bs / (time.perf_counter() - t)

def _model_only(learn, xb, yb, steps):
    "Training images a second of `learn` on one batch held in memory (no loading), over `steps` timed steps."
    mem = _MemDL([(xb, yb)] * (steps + 5))
    timer = BatchTimer(steps + 3)
    learn.dls = DataLoaders(mem, mem, device=xb.device)
    try: learn.fit(1, 1e-4, cbs=timer)
    except CancelFitException: pass
    return len(xb) / timer.step_seconds(3)

def run_bench(data=None, arch='resnet18', size=(128, 96), bs=32, steps=25, precision='auto', workers=0, stem='plain'):
    """Measure the four speeds in one run; returns a dict of img/s and the ratios. With the plain stem it also times
    the model alone under `--stem s2d` and `--stem s2d-detail` at their default input, 192x128, and `--stem s2d-fine`
    at 384x256 (`s2d_ratio`, `detail_ratio`, `fine_ratio`: their img/s over the plain model's at `size`), and s2d-fine
    under fastai's own Adam (`fused_ratio`: the default fused optimizer step's img/s over it)."""
    if data is None: data = default_twin()
    torch.manual_seed(0)
    df, caches = load_items(data, size, verbose=False)
    tr, va = fold_indices(df)
    dls = mask_dataloaders(df, caches, tr, va, bs=bs, seed=0, num_workers=workers)
    learn = mask_learner(dls, arch, precision=precision, quiet=True, stem=stem)
    res = {'precision': learn.precision}
    # (1) model only: the same learner, batches already in memory
    xb, yb = dls.one_batch()
    res['model_only'] = _model_only(learn, xb, yb, steps)
    if stem == 'plain':   # the space-to-depth stems on the same batch at the fit's default input for each
        for s2d_stem, key in (('s2d', 's2d'), ('s2d-detail', 'detail'), ('s2d-fine', 'fine')):
            big = torch.nn.functional.interpolate(xb, size=DEFAULT_SIZE[s2d_stem], mode='bilinear').contiguous(memory_format=torch.channels_last)
            res[f'model_only_{key}'] = _model_only(mask_learner(dls, arch, precision=precision, quiet=True, stem=s2d_stem), big, yb, steps)
            res[f'{key}_ratio'] = res[f'model_only_{key}'] / res['model_only']
            if s2d_stem == 's2d-fine':   # the default input under fastai's own Adam, a parameter at a time (--no-fused-adam)
                own = mask_learner(dls, arch, precision=precision, quiet=True, stem=s2d_stem, fused_adam=False)
                res['model_only_fine_adam'] = _model_only(own, big, yb, steps)
                res['fused_ratio'] = res['model_only_fine'] / res['model_only_fine_adam']
    # (2) end to end: cache + sampling + augmentation + model
    learn.dls = dls; timer = BatchTimer(steps + 3)
    learn.fit(1, 1e-4, cbs=timer)
    res['end_to_end'] = bs / timer.step_seconds(3)
    # (3) loaders alone
    res['loader_cache'] = _loader_rate(dls.train, min(steps * 2, len(dls.train) - 1), bs)
    naive = torch.utils.data.DataLoader(NaiveJPEGDataset(df.file.values[tr], df.label.values[tr], size), bs, shuffle=True,
                                        num_workers=0)
    res['loader_naive_jpeg'] = _loader_rate(naive, min(steps, len(naive) - 1), bs)
    # (4) inference with and without TTA (flip)
    model = learn.model
    cfg = {'norm': 'imagenet', 'aug': 'light'}
    rows = np.arange(min(len(caches[0]), 40 * bs))
    for tta in (0, 1):
        t = time.perf_counter(); predict_cache(model, cfg, caches[0], rows, tta=tta, bs=64, precision=learn.precision)
        res[f'infer_tta{tta}'] = len(rows) / (time.perf_counter() - t)
    res['ratio'] = res['end_to_end'] / res['model_only']
    res['loader_speedup'] = res['loader_cache'] / res['loader_naive_jpeg']
    return res

BENCH_ROWS = (('model_only', 'train, model only (tensors in memory)'), ('model_only_s2d', 'train, model only, --stem s2d at 192x128'),
              ('model_only_detail', 'train, model only, s2d-detail at 192x128'),
              ('model_only_fine', 'train, model only, s2d-fine at 384x256'),
              ('model_only_fine_adam', 'train, model only, s2d-fine, fastai Adam'),
              ('end_to_end', 'train, maskfast end to end'),
              ('loader_cache', 'loader only, maskfast cache'), ('loader_naive_jpeg', 'loader only, naive JPEG decode'),
              ('infer_tta0', 'inference, no TTA'), ('infer_tta1', 'inference, TTA flip (2 views)'))

def run_serve_bench(runs, photos, n=200, clients=4, batch=32, tta=0):
    """Speed of `python -m maskfast.serve RUNS` started as a separate process on a free local port: single-photo
    latency p50/p95 (sequential requests), throughput with `clients` concurrent clients, and through the batch
    endpoint (`batch` photos a request). `photos`: image files sent (their bytes are read once)."""
    import os, socket, subprocess, sys
    from concurrent.futures import ThreadPoolExecutor
    import httpx
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, '-m', 'maskfast.serve', *map(str, runs), '--port', str(port), '--tta', str(tta)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
    url = f'http://127.0.0.1:{port}'
    data = [open(p, 'rb').read() for p in photos]
    try:
        for _ in range(600):
            try:
                if httpx.get(url + '/health', timeout=1).status_code == 200: break
            except httpx.HTTPError: pass
            time.sleep(0.2)
        with httpx.Client(timeout=60) as c:
            def one(i): r = c.post(url + '/predict', files={'file': ('p.jpg', data[i % len(data)], 'image/jpeg')}); r.raise_for_status()
            for i in range(10): one(i)                                   # warm-up
            lat = []
            for i in range(n):
                t = time.perf_counter(); one(i); lat.append(time.perf_counter() - t)
            t = time.perf_counter()
            with ThreadPoolExecutor(clients) as ex: list(ex.map(one, range(n)))
            conc = n / (time.perf_counter() - t)
            k = max(1, n // batch); t = time.perf_counter()
            for j in range(k):
                files = [('files', (f'{i}.jpg', data[(j * batch + i) % len(data)], 'image/jpeg')) for i in range(batch)]
                c.post(url + '/predict/batch', files=files).raise_for_status()
            bat = k * batch / (time.perf_counter() - t)
    finally: proc.terminate(); proc.wait(10)
    lat = np.array(lat) * 1000
    return {'p50_ms': float(np.percentile(lat, 50)), 'p95_ms': float(np.percentile(lat, 95)), f'concurrent{clients}_img_s': conc,
            'batch_img_s': bat}

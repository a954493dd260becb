"""Batch-level loading from the memmap cache: one gather per batch, augmentation in a tight loop, one-pass normalisation."""
__all__ = ['normalize_u8', 'NormalizeU8', 'CachedBatchDL']

import numpy as np, pandas as pd, torch
from fasttransform import DisplayedTransform
from fastai.torch_core import TensorImage, TensorCategory
from .sampling import PersonEpochDL

def normalize_u8(x, mean, std):
    """uint8 image batch (N, 3, H, W) -> float (x/255 - mean) / std, in place after one allocation. Channels-last
    memory is normalised as rows of W*3 values (broadcasting a 3-vector over it is ~30x slower here)."""
    mean = torch.as_tensor(mean, dtype=torch.float32, device=x.device).reshape(3) * 255
    scale = 1 / (torch.as_tensor(std, dtype=torch.float32, device=x.device).reshape(3) * 255)
    xh = x.permute(0, 2, 3, 1)
    if not xh.is_contiguous(): x = x.contiguous()   # any other layout: make it plain NCHW
    if x.is_contiguous(): return x.float().sub_(mean.view(1, 3, 1, 1)).mul_(scale.view(1, 3, 1, 1))
    n, c, h, w = x.shape
    y = xh.reshape(n * h, w * c).float()
    y.sub_(mean.repeat(w)).mul_(scale.repeat(w))
    return y.view(n, h, w, c).permute(0, 3, 1, 2)

class NormalizeU8(DisplayedTransform):
    "Batch transform: uint8 `TensorImage` -> normalised float in one pass (fastai's IntToFloatTensor + Normalize)."
    order = 99
    def __init__(self, mean, std): self.mean, self.std = torch.tensor(mean).float(), torch.tensor(std).float()
    def encodes(self, x: TensorImage):
        if x.dtype != torch.uint8: return x
        return TensorImage(normalize_u8(x, self.mean, self.std))
    def decodes(self, x: TensorImage):
        if x.dtype == torch.uint8: return x.float() / 255
        return TensorImage((x * self.std.view(1, 3, 1, 1).to(x.device) + self.mean.view(1, 3, 1, 1).to(x.device)).clamp(0, 1))

class CachedBatchDL(PersonEpochDL):
    """`PersonEpochDL` that builds each batch at once: gathers the batch's rows from the memory-mapped `caches`
    (items frame columns `src`/`row`), applies the albumentations `aug` image by image on the training split only,
    and reads the `targets` columns as category tensors, bypassing fastai's per-item pipeline (~0.6 ms/image).
    Items frames without those columns fall back to the per-item pipeline."""
    def __init__(self, dataset=None, caches=None, targets=('label',), aug=None, mixing=None, **kwargs):
        self.caches, self.targets, self.aug, self.mixing = caches, tuple(targets), aug, mixing
        super().__init__(dataset=dataset, **kwargs)
    def _columns(self):
        "(src, row, [targets]) arrays of this loader's items, or None when the batch path does not apply."
        items = getattr(self.dataset, 'items', None)
        if self.caches is None or not isinstance(items, pd.DataFrame): return None
        if not {'src', 'row', *self.targets} <= set(items.columns): return None
        if len(getattr(self.dataset, 'tls', ())) != 1 + len(self.targets): return None   # e.g. a test_dl: no targets
        key = (id(items), len(items))
        if getattr(self, '_cols_key', None) != key:
            self._cols = (items['src'].to_numpy(np.int64), items['row'].to_numpy(np.int64),
                          [items[c].to_numpy(np.int64) for c in self.targets])
            self._cols_key = key
        return self._cols
    def read(self, idxs):
        "HWC uint8 images (N, H, W, 3) of item positions `idxs`, as cached."
        src, row, _ = self._columns()
        s, r = src[idxs], row[idxs]
        first = self.caches[int(s[0])]
        imgs = np.empty((len(idxs), *first.size, 3), np.uint8)
        if (s == s[0]).all(): first.read(r, out=imgs)
        else:
            for c in np.unique(s): imgs[s == c] = self.caches[int(c)].read(r[s == c])
        return imgs
    def partner(self, label, rng):
        "The image of a random training item with 18-class `label` (for same-label mixing)."
        if getattr(self, '_by_label', None) is None:
            labels = self.dataset.items['label'].to_numpy()
            self._by_label = {int(l): np.flatnonzero(labels == l) for l in np.unique(labels)}
        return self.read(np.array([rng.choice(self._by_label[int(label)])]))[0]
    def gather(self, idxs, augment=False, rng=None):
        "HWC uint8 images (N, H, W, 3) of item positions `idxs`; mixed (same-label) and augmented when `augment`."
        imgs = self.read(idxs)
        if augment and self.mixing is not None and self.mixing.active:
            items = self.dataset.items
            self.mixing(imgs, items['label'].to_numpy()[idxs], items['age_group'].to_numpy()[idxs], self.partner,
                        rng if rng is not None else np.random.default_rng(np.random.randint(2**31)))
        if augment and self.aug is not None:
            for i in range(len(imgs)): imgs[i] = self.aug(image=imgs[i])['image']
        return imgs
    def create_batches(self, samps):
        cols = self._columns()
        if cols is None: yield from super().create_batches(samps); return
        augment = getattr(self.dataset, 'split_idx', None) == 0   # the training split: mixing and augmentation
        info = torch.utils.data.get_worker_info()
        if augment and info is not None and hasattr(self.aug, 'set_random_seed'):
            self.aug.set_random_seed(info.seed % 2**32)   # each worker its own augmentation stream
        rng = np.random.default_rng(np.random.randint(2**31)) if augment and self.mixing is not None else None
        for b in self.chunkify(samps):
            b = np.asarray(list(b), np.int64)
            x = TensorImage(torch.from_numpy(self.gather(b, augment, rng)).permute(0, 3, 1, 2))   # channels-last memory
            yield (x, *[TensorCategory(torch.from_numpy(y[b])) for y in cols[2]])
    def new(self, dataset=None, cls=None, **kwargs):
        kw = dict(caches=self.caches, targets=self.targets, aug=self.aug, mixing=self.mixing)
        return super().new(dataset=dataset, cls=cls, **{**kw, **kwargs})

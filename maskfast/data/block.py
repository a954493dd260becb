"""DataBlock / DataLoaders factory over cached images: person split, weighted + mask-downsampled training loader."""
__all__ = ['CachedImage', 'target_columns', 'mask_datablock', 'mask_dataloaders', 'balance_report', 'ImageInput', 'MaskCategorize',
           'inference_dataloaders']

import numpy as np, pandas as pd, torch
from fastcore.basics import store_attr
from fasttransform import Transform
from fastai.data.block import DataBlock, CategoryBlock, TransformBlock
from fastai.data.transforms import ColReader, IndexSplitter, ItemGetter
from fastai.torch_core import TensorCategory
from fastai.vision.core import imagenet_stats
from pathlib import Path
from .augment import AlbumentationsTfm, HWCToTensor, train_aug
from .cache import load_image, crop_resize
from .faces import face_crop_of
from .labels import MASKS, GENDERS, AGES, TASK_NAMES, MaskClass
from .loader import CachedBatchDL, NormalizeU8

class CachedImage(Transform):
    "Items frame row -> HWC uint8 image read from the memory-mapped cache `caches[row.src]` at `row.row`."
    def __init__(self, caches): store_attr()
    def encodes(self, r: pd.Series): return np.array(self.caches[int(r['src'])].array[int(r['row'])])

_N_VALUES = {'label': len(MASKS) * len(GENDERS) * len(AGES), 'mask': len(MASKS), 'gender': len(GENDERS), 'age_group': len(AGES),
             'age': 121}

def target_columns(target, extra=()):
    "Items-frame columns of a target: 'single' -> the 18-way label, 'multi' -> mask, gender, age group; then `extra` ones."
    if target == 'single': return ['label', *extra]
    if target == 'multi': return ['mask', 'gender', 'age_group', *extra]
    raise ValueError(f"target must be 'single' or 'multi', not {target!r}")

def mask_datablock(caches, train_idx, valid_idx, target='single', preset='light', mean=None, std=None, seed=None, extra_targets=(),
                   erase=0.):
    """DataBlock over an items frame with `src`/`row` cache columns: (a) `target='single'`, one 18-way label, or
    (b) `target='multi'`, three labels (mask, gender, age_group); `extra_targets` columns after them (e.g. 'age')."""
    cols = target_columns(target, extra_targets)
    ys = [CategoryBlock(vocab=list(range(_N_VALUES[c]))) for c in cols]
    mean, std = (mean, std) if mean is not None else imagenet_stats
    return DataBlock(blocks=[TransformBlock(type_tfms=CachedImage(caches)), *ys], n_inp=1,
                     getters=[None, *[ColReader(c) for c in cols]], splitter=IndexSplitter(list(valid_idx)),
                     item_tfms=[AlbumentationsTfm(train_aug(preset, seed, erase)), HWCToTensor()],
                     batch_tfms=[NormalizeU8(mean, std)])

def mask_dataloaders(df, caches, train_idx, valid_idx, target='single', preset='light', bs=32, mean=None, std=None,
                     downsample=True, power=0.5, num_workers=0, seed=None, device=None, batch_loading=True, extra_targets=(),
                     mixing=None, erase=0., person_batches=False):
    """fastai DataLoaders: training items `train_idx` drawn by `PersonEpochDL` (one mask photo per person per epoch
    when `downsample`, class-weighted with weight freq**-power when `power` > 0); validation untouched, in order.
    `batch_loading` builds whole batches from the cache (`CachedBatchDL`); False uses fastai's per-item pipeline.
    `extra_targets`: further target columns (e.g. 'age'); `mixing`: a `SameLabelMix` for training batches (batch path); `erase`: random erasing's probability;
    `person_batches`: training batches drawn a whole person at a time (`person_order`)."""
    df = df.reset_index(drop=True)
    idx = np.concatenate([np.asarray(train_idx), np.asarray(valid_idx)]).astype(int)
    sub = df.iloc[idx].reset_index(drop=True)
    n_tr = len(train_idx)
    dblock = mask_datablock(caches, range(n_tr), range(n_tr, len(sub)), target, preset, mean, std, seed, extra_targets, erase)
    dss = dblock.datasets(sub)
    tr = sub.iloc[:n_tr]
    groups = tr['folder'].fillna('').astype(str).values
    is_mask = ((tr['stem'].astype(str).str.startswith('mask')) & tr['folder'].notna()).values
    aug = next((t.aug for t in dblock.item_tfms if isinstance(t, AlbumentationsTfm)), None)
    dl_kw = dict(groups=groups, is_mask=is_mask, labels=tr['label'].values, downsample=downsample, power=power,
                 caches=caches if batch_loading else None, targets=target_columns(target, extra_targets), aug=aug, mixing=mixing,
                 person_batches=person_batches)
    dls = dss.dataloaders(bs=bs, dl_type=CachedBatchDL, dl_kwargs=[dl_kw, {}], num_workers=num_workers,
                          after_item=dblock.item_tfms, after_batch=dblock.batch_tfms, device=device or _default_device())
    dls.items = sub
    return dls

def _default_device():
    "The current GPU when there is one (the rank's own under torchrun), else the CPU."
    return torch.device('cuda', torch.cuda.current_device()) if torch.cuda.is_available() else torch.device('cpu')

def balance_report(df, train_idx, valid_idx, png=None):
    "Counts per 18-class and per task for train and valid; optionally a bar chart PNG. Returns the table."
    from .labels import class_name
    rows = {}
    for name, idx in (('train', train_idx), ('valid', valid_idx)):
        lab = df['label'].values[np.asarray(idx, int)]
        rows[name] = np.bincount(lab, minlength=18)
    tab = pd.DataFrame(rows, index=[class_name(i) for i in range(18)])
    if png is not None:
        import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
        fig, axs = plt.subplots(1, 4, figsize=(16, 4), gridspec_kw={'width_ratios': [6, 1.5, 1.2, 1.5]})
        tab.plot.bar(ax=axs[0], title='images per class'); axs[0].tick_params(axis='x', labelsize=7)
        for ax, col, names, title in ((axs[1], 'mask', MASKS, 'mask'), (axs[2], 'gender', GENDERS, 'gender'),
                                      (axs[3], 'age_group', AGES, 'age')):
            pd.DataFrame({n: np.bincount(df[col].values[np.asarray(i, int)], minlength=len(names))
                          for n, i in (('train', train_idx), ('valid', valid_idx))}, index=names).plot.bar(ax=ax, title=title, legend=False)
        fig.tight_layout(); fig.savefig(png, dpi=80); plt.close(fig)
    return tab

class ImageInput(Transform):
    """A path, PIL image or HWC RGB array -> the run's preprocessing (its crop: a share, a box, or the detected face
    with `fallback` where none is found; then the resize), as the cache would hold it."""
    def __init__(self, size=(128, 96), crop=0.85, fallback=None): store_attr()
    def encodes(self, x: object):
        if isinstance(x, (str, Path)):
            if self.crop != 'face': return load_image(x, self.size, self.crop)
            from PIL import Image
            with Image.open(x) as im: x = im.convert('RGB')
        a = np.asarray(x.convert('RGB')) if hasattr(x, 'convert') else np.asarray(x)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise TypeError(f'expected an image path, a PIL image or an RGB uint8 array (H, W, 3), not {type(x).__name__} {a.shape}')
        return crop_resize(a, self.size, self.crop_of(a))
    def crop_of(self, rgb):
        "The crop this image gets (a share or a box of fractions)."
        return face_crop_of(rgb, self.size, self.fallback) if self.crop == 'face' else self.crop

class MaskCategorize(Transform):
    """The target: an int label encodes as a category tensor; a prediction decodes to its words, a `MaskClass` for the
    18 classes or the task's word ('wear', 'female', '<30') for a single-task run."""
    order = 1
    def __init__(self, task='all'): self.task = task
    def encodes(self, o: object): return TensorCategory(int(o))
    def decodes(self, o: object): return MaskClass(int(o)) if self.task == 'all' else TASK_NAMES[self.task][int(o)]

def inference_dataloaders(size=(128, 96), crop=0.85, mean=None, std=None, device=None, task='all', fallback=None):
    """DataLoaders holding only a run's preprocessing (no data): `learn.predict(path_or_array)` and `dls.test_dl(items)`
    crop, resize and normalise as the run did, and decode predictions to words."""
    mean, std = (mean, std) if mean is not None else imagenet_stats
    dblock = DataBlock(blocks=[TransformBlock(type_tfms=ImageInput(tuple(size), crop, fallback)), TransformBlock(type_tfms=MaskCategorize(task))],
                       n_inp=1, getters=[None, no_label], splitter=IndexSplitter([1]),
                       item_tfms=[HWCToTensor()], batch_tfms=[NormalizeU8(mean, std)])
    dls = dblock.dataloaders([np.zeros((*size, 3), np.uint8)] * 2, bs=1, device=device or _default_device()).new_empty()
    for ds in (dls.train_ds, dls.valid_ds): ds.tls[0].types[0] = object   # any input type: test_dl infers it from the first step
    return dls

def no_label(item):
    "The label of an unlabelled item (inference only)."
    return 0

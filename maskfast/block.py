"""DataBlock / DataLoaders factory over cached images: person split, weighted + mask-downsampled training loader."""
__all__ = ['CachedImage', 'mask_datablock', 'mask_dataloaders', 'balance_report']

import numpy as np, pandas as pd, torch
from fastcore.basics import store_attr
from fasttransform import Transform
from fastai.data.block import DataBlock, CategoryBlock, TransformBlock
from fastai.data.transforms import ColReader, IndexSplitter, IntToFloatTensor, Normalize
from fastai.vision.core import imagenet_stats
from .augment import AlbumentationsTfm, HWCToTensor, train_aug
from .sampling import PersonEpochDL

class CachedImage(Transform):
    "Items frame row -> HWC uint8 image read from the memory-mapped cache `caches[row.src]` at `row.row`."
    def __init__(self, caches): store_attr()
    def encodes(self, r: pd.Series): return np.array(self.caches[int(r['src'])].array[int(r['row'])])

def mask_datablock(caches, train_idx, valid_idx, target='single', preset='light', mean=None, std=None, seed=None):
    """DataBlock over an items frame with `src`/`row` cache columns: (a) `target='single'`, one 18-way label, or
    (b) `target='multi'`, three labels (mask, gender, age_group)."""
    if target == 'single': ys, getters = [CategoryBlock(vocab=list(range(18)))], [ColReader('label')]
    elif target == 'multi':
        ys = [CategoryBlock(vocab=[0, 1, 2]), CategoryBlock(vocab=[0, 1]), CategoryBlock(vocab=[0, 1, 2])]
        getters = [ColReader('mask'), ColReader('gender'), ColReader('age_group')]
    else: raise ValueError(f"target must be 'single' or 'multi', not {target!r}")
    mean, std = (mean, std) if mean is not None else imagenet_stats
    return DataBlock(blocks=[TransformBlock(type_tfms=CachedImage(caches)), *ys], n_inp=1, getters=[None, *getters],
                     splitter=IndexSplitter(list(valid_idx)),
                     item_tfms=[AlbumentationsTfm(train_aug(preset, seed)), HWCToTensor()],
                     batch_tfms=[IntToFloatTensor(), Normalize.from_stats(mean, std)])

def mask_dataloaders(df, caches, train_idx, valid_idx, target='single', preset='light', bs=32, mean=None, std=None,
                     downsample=True, power=0.5, num_workers=0, seed=None, device=None):
    """fastai DataLoaders: training items `train_idx` drawn by `PersonEpochDL` (one mask photo per person per epoch
    when `downsample`, class-weighted with weight freq**-power when `power` > 0); validation untouched, in order."""
    df = df.reset_index(drop=True)
    idx = np.concatenate([np.asarray(train_idx), np.asarray(valid_idx)]).astype(int)
    sub = df.iloc[idx].reset_index(drop=True)
    n_tr = len(train_idx)
    dblock = mask_datablock(caches, range(n_tr), range(n_tr, len(sub)), target, preset, mean, std, seed)
    dss = dblock.datasets(sub)
    tr = sub.iloc[:n_tr]
    groups = tr['folder'].fillna('').astype(str).values
    is_mask = ((tr['stem'].astype(str).str.startswith('mask')) & tr['folder'].notna()).values
    dl_kw = dict(groups=groups, is_mask=is_mask, labels=tr['label'].values, downsample=downsample, power=power)
    if seed is not None: torch.manual_seed(seed); np.random.seed(seed)
    dls = dss.dataloaders(bs=bs, dl_type=PersonEpochDL, dl_kwargs=[dl_kw, {}], num_workers=num_workers,
                          after_item=dblock.item_tfms, after_batch=dblock.batch_tfms, device=device or torch.device('cpu'))
    dls.items = sub
    return dls

def balance_report(df, train_idx, valid_idx, png=None):
    "Counts per 18-class and per task for train and valid; optionally a bar chart PNG. Returns the table."
    from .labels import class_name, MASKS, GENDERS, AGES
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

"""The items a run trains on: the training images of a data root (labels fixed or relabelled, images opened from the
cache) and external labelled images, as frames with `src`/`row` columns into their image sources."""
__all__ = ['load_items', 'external_training_items']

import numpy as np
from .cache import open_images
from .labels import apply_label_fixes, relabel_ages
from .layout import read_train, read_external

def load_items(root, size, crop=0.85, old_from=60, label_fixes=None, workers=None, verbose=True, cache=True):
    """(items frame with src/row columns, [train images]) for the train images of `root`; unreadable images left out.
    The images come from the preprocessing cache, or are decoded on every read with `cache=False`."""
    df = read_train(root, 60, verbose=verbose)
    if label_fixes: df = apply_label_fixes(df, label_fixes, old_from)
    elif old_from != 60: df = relabel_ages(df, old_from)
    images = open_images(df['file'], size, crop, 'train', cache, workers, verbose=verbose, progress=verbose)
    df['src'], df['row'] = 0, np.arange(len(df))
    if (~images.ok).any():
        print(f'left out {(~images.ok).sum()} unreadable training image(s)')
        df = df[images.ok].reset_index(drop=True)
    return df, [images]

def external_training_items(csv, size, crop=0.85, old_from=60, verbose=True, cache=True):
    "Items from an external `path,gender,age,mask` CSV, cached, ready to pass as `fit_run(extra=...)` (training only)."
    ext = read_external(csv, old_from)
    images = open_images(ext['file'], size, crop, 'external', cache, verbose=verbose, progress=verbose)
    ext['src'], ext['row'] = 0, np.arange(len(ext))
    ext = ext[images.ok].reset_index(drop=True)
    ext.attrs['caches'] = [images]
    return ext

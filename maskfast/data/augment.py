"""albumentations pipelines as fastai item transforms: train-only augmentation presets, deterministic validation."""
__all__ = ['PRESETS', 'train_aug', 'random_erasing', 'AlbumentationsTfm', 'HWCToTensor', 'aug_rng_state', 'set_aug_rng_state']

import numpy as np, torch
from fastcore.basics import store_attr
from fasttransform import Transform
from fastai.torch_core import TensorImage
import albumentations as A   # after any fastai star import, which would shadow `A`

PRESETS = ('none', 'light', 'sharp', 'shift', 'medium', 'heavy')

def train_aug(preset='light', seed=None, erase=0.):
    """The albumentations Compose of a preset: shift/scale/rotate and brightness-contrast, plus noise and FancyPCA.
    'sharp' is 'light' resampled to the nearest pixel: a 1-px line keeps its contrast instead of spreading over two.
    'shift' moves by whole pixels only (no scaling or turning): a face's width and a line's width stay as photographed.
    `erase`: the probability of random erasing after the preset (`random_erasing`)."""
    if preset not in PRESETS: raise ValueError(f'unknown augmentation preset {preset!r}; choose one of {PRESETS}')
    if not 0 <= erase <= 1: raise ValueError(f'erase is a probability between 0 and 1, not {erase}')
    tail = [random_erasing(erase)] if erase else []
    if preset == 'none': return A.Compose(tail, seed=seed) if tail else None
    still = preset == 'shift'   # nearest-pixel translation alone is a whole-pixel shift: every value is one of the photo's
    tfms = [A.HorizontalFlip(p=0.5),
            A.Affine(translate_percent=(-0.06, 0.06), scale=1 if still else (0.93, 1.07), rotate=0 if still else (-8, 8),
                     border_mode=1, p=0.7, interpolation=0 if preset in ('sharp', 'shift') else 1),
            A.RandomBrightnessContrast(0.2, 0.2, p=0.5)]
    if preset in ('medium', 'heavy'): tfms += [A.GaussNoise(std_range=(0.02, 0.06), p=0.3), A.HueSaturationValue(8, 12, 8, p=0.3)]
    if preset == 'heavy': tfms += [A.FancyPCA(alpha=0.1, p=0.3), A.CoarseDropout(num_holes_range=(1, 4),
                                   hole_height_range=(0.05, 0.15), hole_width_range=(0.05, 0.15), p=0.3)]
    return A.Compose(tfms + tail, seed=seed)

def random_erasing(p):
    """Random erasing (Zhong et al.; torchvision's `RandomErasing` sizes): with probability `p`, one rectangle of 2-33%
    of the photo, aspect 0.3-3.3, filled with one random colour, so that no one region (hair, a mask's edge) carries the
    label alone. The AI Tech 4 winner used it beside face crops."""
    return A.Erasing(scale=(0.02, 0.33), ratio=(0.3, 3.3), fill='random_uniform', p=p)

class AlbumentationsTfm(Transform):
    "Apply an albumentations pipeline to HWC uint8 images of the training set only."
    split_idx, order = 0, 2
    def __init__(self, aug): store_attr()
    def encodes(self, x: np.ndarray): return self.aug(image=x)['image'] if self.aug is not None else x

class HWCToTensor(Transform):
    "HWC uint8 numpy image -> CHW uint8 `TensorImage` (fastai's IntToFloatTensor scales it on the batch)."
    order = 5
    def encodes(self, x: np.ndarray): return TensorImage(torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1))

def _rng_holders(aug):
    "The pipeline and every transform inside it: each holds its own random generators."
    out = [aug]
    for t in getattr(aug, 'transforms', []): out += _rng_holders(t)
    return out

def aug_rng_state(aug):
    "The random state of an albumentations pipeline (its own and every transform's), to checkpoint and restore."
    if aug is None: return None
    return [(h.random_generator.bit_generator.state, h.py_random.getstate()) for h in _rng_holders(aug)
            if hasattr(h, 'random_generator')]

def set_aug_rng_state(aug, state):
    "Restore what `aug_rng_state` returned, so a resumed run draws the augmentations the uninterrupted one would."
    if aug is None or state is None: return
    holders = [h for h in _rng_holders(aug) if hasattr(h, 'random_generator')]
    if len(holders) != len(state): raise ValueError('augmentation pipeline differs from the checkpointed one')
    for h, (np_state, py_state) in zip(holders, state):
        h.random_generator.bit_generator.state = np_state; h.py_random.setstate(py_state)

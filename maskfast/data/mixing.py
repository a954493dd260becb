"""Minority-aware mixing at batch level that keeps every label: same-label vertical CutMix (the left part of a photo
joined to the right part of another photo of the same class, split near the middle) and mixup among the >=60 photos
(blended with another photo of the same class). Both draw their partner from the whole training set, so a partner
always exists, and both run on the uint8 batch before augmentation."""
__all__ = ['SameLabelMix']

import numpy as np
from fastcore.basics import store_attr

class SameLabelMix:
    """`cutmix`: probability that a training photo gets its right part from another photo with the same 18-class
    label, cut at a random column in `split` (fractions of the width). `mixup_old`: probability that a >=60 photo is
    blended, with weight `lam` in `blend` for itself, with another photo of the same class."""
    def __init__(self, cutmix=0.0, split=(0.46, 0.54), mixup_old=0.0, blend=(0.5, 0.8)): store_attr()
    @property
    def active(self): return self.cutmix > 0 or self.mixup_old > 0
    def __call__(self, imgs, labels, age_groups, partner, rng):
        """Mix the (N, H, W, 3) uint8 batch in place. `labels`, `age_groups`: the batch's; `partner(label, rng)`: the
        image of a random training photo with that label. Returns the indices cut and blended (for tests)."""
        n, w = len(imgs), imgs.shape[2]
        cut = np.flatnonzero(rng.random(n) < self.cutmix) if self.cutmix else np.array([], int)
        for i in cut:
            x = int(round(w * rng.uniform(*self.split)))
            imgs[i, :, x:] = partner(labels[i], rng)[:, x:]
        old = np.flatnonzero((np.asarray(age_groups) == 2) & (rng.random(n) < self.mixup_old)) if self.mixup_old else np.array([], int)
        for i in old:
            lam = rng.uniform(*self.blend)
            imgs[i] = (lam * imgs[i] + (1 - lam) * partner(labels[i], rng).astype(np.float32)).round().astype(np.uint8)
        return cut, old
    def __repr__(self): return f'SameLabelMix(cutmix={self.cutmix}, split={self.split}, mixup_old={self.mixup_old}, blend={self.blend})'

"""Sampling: class-frequency weights and the per-epoch draw of 1 of the 5 near-duplicate mask photos per person."""
__all__ = ['class_weights', 'sample_weights', 'downsample_masks', 'person_codes', 'person_order', 'PersonEpochDL']

import numpy as np
from fastai.data.core import TfmdDL
from fastai.callback.data import WeightedDL

def class_weights(labels, n_classes=18, power=1.0):
    "Per-class weight freq**-power (absent classes get 0), scaled to mean 1 over present classes."
    counts = np.bincount(np.asarray(labels), minlength=n_classes).astype(float)
    w = np.where(counts > 0, np.maximum(counts, 1) ** -power, 0.)
    return w / w[counts > 0].mean()

def sample_weights(labels, n_classes=18, power=1.0):
    "Per-item sampling weight so each class is drawn about equally often (power=1) or softened (power<1)."
    return class_weights(labels, n_classes, power)[np.asarray(labels)]

def downsample_masks(groups, is_mask, rng):
    "Positions kept for one epoch: every non-mask photo and one randomly drawn mask photo per group (person)."
    groups, is_mask = np.asarray(groups), np.asarray(is_mask, bool)
    keep = np.flatnonzero(~is_mask)
    mi = np.flatnonzero(is_mask)
    if len(mi):
        order = rng.permutation(mi)
        _, first = np.unique(groups[order], return_index=True)
        keep = np.concatenate([keep, order[first]])
    return np.sort(keep)

def person_codes(groups):
    "An integer per item naming its person (`groups`: folder names); an item without one ('', pseudo-labelled) is alone."
    groups = np.asarray(groups).astype(str)
    codes = np.unique(groups, return_inverse=True)[1]
    alone = groups == ''
    codes[alone] = codes.max() + 1 + np.arange(alone.sum())
    return codes

def person_order(idxs, groups, weights, n, rng):
    """`n` positions drawn from `idxs` a whole person at a time: people drawn with replacement by the mean `weights` of
    their photos (with `downsample_masks` each person's photos differ only in mask state, so each photo is drawn as
    often as when drawn alone), each person's photos next to each other in a random order, the last person cut at `n`."""
    idxs, w = np.asarray(idxs), np.asarray(weights, float)
    if not len(idxs): return []
    _, inv = np.unique(np.asarray(groups)[idxs], return_inverse=True)
    members = [idxs[inv == g] for g in range(inv.max() + 1)]
    pw = np.bincount(inv, w) / np.bincount(inv)
    out, total = [], 0
    while total < n:
        for g in rng.choice(len(members), max(1, (n - total) // 2), p=pw / pw.sum()):
            out.append(rng.permutation(members[g])); total += len(members[g])
            if total >= n: break
    return list(np.concatenate(out)[:n])

class PersonEpochDL(WeightedDL):
    """Training DataLoader that re-draws, every epoch, which mask photo of each person is used (`downsample`) and
    samples the epoch with replacement by class weights (`power` > 0) computed on the drawn items; `person_batches`
    draws whole people instead (`person_order`), so a person's photos sit side by side in a batch. `epoch_order`: the
    epoch's positions as drawn (batch `i` is `epoch_order[i*bs:(i+1)*bs]` in one process). Unshuffled copies (validation, `get_preds` on train) see every item once, in order."""
    def __init__(self, dataset=None, bs=None, wgts=None, groups=None, is_mask=None, labels=None, downsample=True,
                 power=1.0, n_classes=18, person_batches=False, **kwargs):
        super().__init__(dataset=dataset, bs=bs, wgts=wgts, **kwargs)
        self.groups, self.is_mask, self.labels = groups, is_mask, labels
        self.person_codes = None if groups is None else person_codes(groups)
        self.downsample, self.power, self.n_classes, self.person_batches = downsample, power, n_classes, person_batches
        self.n, self.epoch_idxs, self.epoch_order = self._epoch_len(), np.arange(len(self.dataset)), None
    def _active(self): return self.shuffle and self.groups is not None
    def _epoch_len(self):
        if not (self._active() and self.downsample): return len(self.dataset)
        m = np.asarray(self.is_mask, bool)
        return int((~m).sum() + len(np.unique(np.asarray(self.groups)[m])))
    def get_idxs(self):
        if self.n == 0: return []
        if not self._active(): return TfmdDL.get_idxs(self)
        rng = np.random.default_rng(np.random.randint(2**31))   # follows fastai's set_seed
        idxs = downsample_masks(self.groups, self.is_mask, rng) if self.downsample else np.arange(len(self.dataset))
        self.epoch_idxs = idxs
        weighted = self.power and self.labels is not None
        w = sample_weights(np.asarray(self.labels)[idxs], self.n_classes, self.power) if weighted else np.ones(len(idxs))
        if self.person_batches: order = person_order(idxs, self.person_codes, w, self.n, rng)
        else: order = list(rng.choice(idxs, self.n, p=w / w.sum())) if weighted else list(rng.permutation(idxs))
        self.epoch_order = order
        return order
    def new(self, dataset=None, cls=None, **kwargs):
        "Same sampling for the same dataset; a plain loader over any other dataset (validation, test)."
        kw = dict(groups=self.groups, is_mask=self.is_mask, labels=self.labels) if dataset is None else {}
        kw.update(downsample=self.downsample, power=self.power, n_classes=self.n_classes, person_batches=self.person_batches)
        res = super().new(dataset=dataset, cls=cls, **{**kw, **kwargs})
        res.n = res._epoch_len()
        return res

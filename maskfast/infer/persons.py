"""Person-level decisions on unlabeled photos: group the photos of one person by appearance, then vote gender and age
per group while each photo keeps its own mask state."""
__all__ = ['DEFAULT_VOTE_WEIGHTS', 'thumb_features', 'group_people', 'person_consistency', 'vote_weights', 'grouping_view',
           'photo_groups', 'grouping_ari']

import numpy as np, torch
from ..data.labels import encode

DEFAULT_VOTE_WEIGHTS = (1., 1., 3.)   # predict's: the unmasked photo counts three times in its person's gender and age vote

def thumb_features(cache, rows=None, size=(16, 12)):
    "Identity descriptor per image: a small thumbnail with the lower-centre face (where masks differ) blanked out."
    import cv2
    rows = np.arange(len(cache)) if rows is None else np.asarray(rows)
    h, w = size
    out = np.empty((len(rows), h * w * 3), np.float32)
    for i, r in enumerate(rows):
        t = cv2.resize(np.asarray(cache.array[r]), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        t[int(h * 0.45):int(h * 0.8), int(w * 0.25):int(w * 0.75)] = 0
        out[i] = t.ravel()
    out -= out.mean(1, keepdims=True)
    return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-6)

def group_people(feats, k=6, min_sim=0.9, max_size=7):
    "Group ids from mutual k-nearest neighbours above `min_sim` cosine similarity; groups larger than `max_size` are split up."
    f = torch.from_numpy(np.ascontiguousarray(feats, np.float32))
    n = len(f); k = min(k, n - 1)
    if k < 1: return np.arange(n)
    nbr = np.empty((n, k), np.int64); sims = np.empty((n, k), np.float32)
    for s in range(0, n, 2048):
        sim = f[s:s + 2048] @ f.T
        sim[torch.arange(len(sim)), torch.arange(s, s + len(sim))] = -1
        v, i = sim.topk(k, dim=1); nbr[s:s + 2048], sims[s:s + 2048] = i.numpy(), v.numpy()
    nset = [set(r) for r in nbr]
    parent = np.arange(n)
    def find(a):
        while parent[a] != a: parent[a] = parent[parent[a]]; a = parent[a]
        return a
    size = np.ones(n, int)
    edges = sorted(((sims[i, j], i, nbr[i, j]) for i in range(n) for j in range(k)
                    if sims[i, j] >= min_sim and i in nset[nbr[i, j]] and i < nbr[i, j]), reverse=True)
    for _, a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb and size[ra] + size[rb] <= max_size: parent[rb] = ra; size[ra] += size[rb]
    return np.array([find(i) for i in range(n)])

def person_consistency(probs, groups, weights=None):
    """Per group of photos of one person: each photo keeps its own mask-state marginal, and its gender and age marginals
    become the group's mean ones. `weights` (worn, incorrect, none): how much a photo counts in its group's mean by its
    own most likely mask state (e.g. (1, 1, 3): an unmasked face shows the most; None or equal weights: the plain mean).
    The result stays a distribution (its top probability still says how sure the vote is, which pseudo-label
    thresholds read); its arg-max is the photo's mask state with the group's gender and age. The mean
    scored the same as summed log marginals (0.5447 both on the 2,000-person eval, README) and a prior-corrected log
    sum lower (0.5387)."""
    p = probs.reshape(-1, 3, 2, 3)
    pm, pg, pa = p.sum((2, 3)), p.sum((1, 3)), p.sum((1, 2))
    w = np.ones((len(p), 1)) if weights is None else np.asarray(vote_weights(weights), float)[pm.argmax(1)][:, None]
    _, inv = np.unique(groups, return_inverse=True)
    n = np.zeros((inv.max() + 1, 1)); np.add.at(n, inv, w)
    G, A = np.zeros((inv.max() + 1, 2)), np.zeros((inv.max() + 1, 3))
    np.add.at(G, inv, pg * w); np.add.at(A, inv, pa * w)
    out = pm[:, :, None, None] * (G / n)[inv][:, None, :, None] * (A / n)[inv][:, None, None, :]
    return (out / out.sum((1, 2, 3), keepdims=True)).reshape(len(probs), -1)

def vote_weights(weights):
    "The person vote's photo weights by mask state as a (worn, incorrect, none) tuple of floats; a clear error when unusable."
    try: w = tuple(float(v) for v in weights)
    except (TypeError, ValueError): raise ValueError(f'vote weights must be 3 numbers (worn incorrect none), not {weights!r}') from None
    if len(w) != 3 or min(w) <= 0 or not np.isfinite(w).all():
        raise ValueError(f'vote weights must be 3 positive numbers (worn incorrect none), e.g. 1 1 3; got {weights!r}')
    return w

GROUPING_VIEW = dict(size=(64, 48), crop=0.85)   # the centre view thumbnails are taken from when a run's own crop is not one

def grouping_view(images, cache=True):
    """The images the thumbnail grouping reads: `images` themselves when they are a centre crop (the view whose mask
    region `thumb_features` blanks), else a small centre-crop view of the same files. A face crop is mostly that
    region: its thumbnails grouped the photos of `--crop face` runs at adjusted Rand 0.28 on the twin (README, stop 41)."""
    if isinstance(images.crop, (int, float)): return images
    from ..data.cache import open_images
    return open_images(list(images.index['file']), GROUPING_VIEW['size'], GROUPING_VIEW['crop'], 'groups', cache,
                       verbose=False, progress=False)

def photo_groups(images, features=None, min_sim=None, cache=True):
    """Group ids of photos believed to show one person: from `features` (a model's pooled features, linked at cosine
    0.8 by default) when given, else from thumbnails with the mask region blanked (0.9) of `grouping_view(images, cache)`."""
    if features is None: return group_people(thumb_features(grouping_view(images, cache)), min_sim=min_sim or 0.9)
    f = np.asarray(features, np.float32)
    f = f - f.mean(0, keepdims=True)
    return group_people(f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-6), min_sim=min_sim or 0.8)

def grouping_ari(groups, persons):
    "Adjusted Rand index of photo groups against the true persons (1 = perfect, about 0 = chance)."
    from sklearn.metrics import adjusted_rand_score
    return float(adjusted_rand_score(np.asarray(persons), np.asarray(groups)))

"""Inference: batched prediction from the cache with TTA, soft/hard voting, and per-person consistency."""
__all__ = ['predict_cache', 'soft_vote', 'hard_vote', 'thumb_features', 'group_people', 'person_consistency']

import numpy as np, torch
from .models import to_probs18
from .labels import encode
from .loader import normalize_u8

def _norm(cfg):
    from fastai.vision.core import imagenet_stats
    n = cfg.get('norm', 'imagenet')
    mean, std = imagenet_stats if n == 'imagenet' else (n['mean'], n['std'])
    return torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)   # gradcam uses this shape

def _views(x_u8, k, aug, rng):
    "TTA view `k` of a HWC uint8 batch: 0 = as is, 1 = horizontal flip, >= 2 = a draw of the training augmentation."
    if k == 0: return x_u8
    if k == 1: return x_u8[:, :, ::-1]
    np.random.seed(int(rng.integers(2**31)))
    return np.stack([aug(image=im)['image'] for im in x_u8])

def _forward(model, x, dev, dtype, features):
    "(logits, pooled features or None) of batch `x`, under autocast to `dtype` unless it is None."
    with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
        if not features: return model(x), None
        f = model[1][:2](model[0](x))
        return model[1][2:](f), f

def predict_cache(model, cfg, cache, rows=None, tta=1, bs=128, precision='auto', features=False, progress=False):
    """18-class probabilities (N, 18) of cached images `rows` (all by default), averaged over 1 + `tta` views
    (flip, then training-augmentation draws). With `features`, also the pooled backbone features (identity view)."""
    from .callbacks import pick_precision
    from .augment import train_aug
    rows = np.arange(len(cache)) if rows is None else np.asarray(rows)
    mean, std = _norm(cfg)
    dev = next(model.parameters()).device
    prec = pick_precision(precision, dev) if precision == 'auto' else precision
    ctx_dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(prec)
    aug = train_aug(cfg.get('aug', 'light') if cfg.get('aug', 'none') != 'none' else 'light') if tta >= 2 else None
    rng = np.random.default_rng(0)
    model.eval(); out, feats, warned = [], [], False
    chunks = range(0, len(rows), bs)
    if progress:
        from fastprogress.fastprogress import progress_bar
        chunks = progress_bar(chunks)
    with torch.inference_mode():
        for s in chunks:
            x_u8 = cache.read(rows[s:s + bs])
            acc = 0
            for k in range(1 + tta):
                x = torch.from_numpy(np.ascontiguousarray(_views(x_u8, k, aug, rng))).permute(0, 3, 1, 2)
                x = normalize_u8(x.to(dev), mean, std).contiguous(memory_format=torch.channels_last)
                logits, f = _forward(model, x, dev, ctx_dtype, features and k == 0)
                if ctx_dtype is not None and not torch.isfinite(logits).all():   # low precision overflowed: redo in fp32
                    if not warned: print(f'notice: non-finite {prec} outputs in a batch; that batch is predicted in fp32'); warned = True
                    logits, f = _forward(model, x, dev, None, features and k == 0)
                if f is not None: feats.append(f.float().cpu().numpy())
                acc = acc + to_probs18(logits.float()).cpu().numpy()
            out.append(acc / (1 + tta))
    probs = np.concatenate(out) if out else np.zeros((0, 18))
    return (probs, np.concatenate(feats)) if features else probs

def soft_vote(probs_list, weights=None):
    "Weighted mean of probability arrays."
    w = np.ones(len(probs_list)) if weights is None else np.asarray(weights, float)
    return sum(wi * p for wi, p in zip(w, probs_list)) / w.sum()

def hard_vote(probs_list, weights=None):
    "Majority of each model's argmax (weighted counts); ties go to the higher mean probability. Returns one-hot-ish scores."
    w = np.ones(len(probs_list)) if weights is None else np.asarray(weights, float)
    votes = np.zeros_like(probs_list[0])
    for wi, p in zip(w, probs_list): votes[np.arange(len(p)), p.argmax(1)] += wi
    return votes + 1e-3 * soft_vote(probs_list, w)   # the mean only breaks ties

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

def person_consistency(probs, groups):
    "Per group of photos of one person: vote gender and age (summed log marginals), keep each photo's own mask state."
    p = probs.reshape(-1, 3, 2, 3)
    pm, pg, pa = p.sum((2, 3)), p.sum((1, 3)), p.sum((1, 2))
    lg, la = np.log(pg + 1e-9), np.log(pa + 1e-9)
    _, inv = np.unique(groups, return_inverse=True)
    G, A = np.zeros((inv.max() + 1, 2)), np.zeros((inv.max() + 1, 3))
    np.add.at(G, inv, lg); np.add.at(A, inv, la)
    g, a = G.argmax(1)[inv], A.argmax(1)[inv]
    out = np.full_like(probs, 1e-6)
    out[np.arange(len(probs)), encode(pm.argmax(1), g, a)] = 1.0
    return out / out.sum(1, keepdims=True)

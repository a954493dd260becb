"""Batched prediction from the image cache with test-time augmentation, and soft / hard voting of several models."""
__all__ = ['predict_cache', 'soft_vote', 'hard_vote', 'norm_stats', 'combine_tasks', 'vote_runs']

import numpy as np, torch
from ..data.augment import train_aug
from ..data.labels import TASK_NAMES
from ..data.loader import normalize_u8
from ..data.progress import progress as show_progress
from ..learn.callbacks import pick_precision
from ..learn.models import output_probs, TASKS

def norm_stats(cfg):
    "(mean, std) as (1, 3, 1, 1) tensors of a run's normalisation: ImageNet's or the data's own."
    from fastai.vision.core import imagenet_stats
    n = cfg.get('norm', 'imagenet')
    mean, std = imagenet_stats if n == 'imagenet' else (n['mean'], n['std'])
    return torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)   # gradcam uses this shape

def _views(x_u8, k, aug, rng):
    "TTA view `k` of a HWC uint8 batch: 0 = as is, 1 = horizontal flip, >= 2 = a draw of the training augmentation."
    if k == 0: return x_u8
    if k == 1: return x_u8[:, :, ::-1]
    seed = int(rng.integers(2**31))
    np.random.seed(seed)
    if hasattr(aug, 'set_random_seed'): aug.set_random_seed(seed)   # albumentations 2 draws from its own generator
    return np.stack([aug(image=im)['image'] for im in x_u8])

def _forward(model, x, dev, dtype, features):
    "(logits, pooled features or None) of batch `x`, under autocast to `dtype` unless it is None."
    with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
        if not features: return model(x), None
        f = model[1][:2](model[0](x))
        return model[1][2:](f), f

def predict_cache(model, cfg, cache, rows=None, tta=1, bs=128, precision='auto', features=False, progress=False):
    """18-class probabilities (N, 18) of cached images `rows` (all by default), averaged over 1 + `tta` views
    (flip, then training-augmentation draws); a single-task run (`cfg['task']`) gives its task's probabilities.
    With `features`, also the pooled backbone features (identity view)."""
    rows = np.arange(len(cache)) if rows is None else np.asarray(rows)
    task = cfg.get('task', 'all')
    mean, std = norm_stats(cfg)
    dev = next(model.parameters()).device
    prec = pick_precision(precision, dev)   # fp16 off CUDA, or bf16 on a CPU without it, falls back with a notice
    ctx_dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(prec)
    aug = train_aug(cfg.get('aug', 'light') if cfg.get('aug', 'none') != 'none' else 'light') if tta >= 2 else None
    rng = np.random.default_rng(0)
    model.eval(); out, feats, warned = [], [], False
    chunks = show_progress(range(0, len(rows), bs), label=f'predicting {len(rows)} images', show=progress)
    with torch.inference_mode():
        for s in chunks:
            x_u8 = cache.read(rows[s:s + bs])
            n = len(x_u8)
            # a small chunk (a service's few photos) sends all its views through the model as one batch
            groups = [list(range(1 + tta))] if n * (1 + tta) <= bs and not features else [[k] for k in range(1 + tta)]
            acc = 0
            for ks in groups:
                x = np.concatenate([_views(x_u8, k, aug, rng) for k in ks]) if len(ks) > 1 else _views(x_u8, ks[0], aug, rng)
                x = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
                x = normalize_u8(x.to(dev), mean, std).contiguous(memory_format=torch.channels_last)
                want = features and ks[0] == 0
                logits, f = _forward(model, x, dev, ctx_dtype, want)
                if ctx_dtype is not None and not torch.isfinite(logits).all():   # low precision overflowed: redo in fp32
                    if not warned: print(f'notice: non-finite {prec} outputs in a batch; that batch is predicted in fp32'); warned = True
                    logits, f = _forward(model, x, dev, None, want)
                if f is not None: feats.append(f.float().cpu().numpy())
                p = output_probs(logits.float(), task, cfg.get('age_head', 'class'), cfg.get('old_from', 60)).cpu().numpy()
                acc = acc + p.reshape(len(ks), n, -1).sum(0)
            out.append(acc / (1 + tta))
    probs = np.concatenate(out) if out else np.zeros((0, 18 if task == 'all' else TASKS[task]))
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

def combine_tasks(task_probs):
    "18-class probabilities p(m, g, a) = p(m) p(g) p(a) from one probability array per task {'mask', 'gender', 'age'}."
    pm, pg, pa = task_probs['mask'], task_probs['gender'], task_probs['age']
    return (pm[:, :, None, None] * pg[:, None, :, None] * pa[:, None, None, :]).reshape(len(pm), 18)

def vote_runs(probs_list, tasks, weights=None, vote='soft'):
    """18-class probabilities from each run's probabilities: 18-class runs (`tasks` all 'all') voted together;
    single-task runs voted within their task, then combined as p(mask) p(gender) p(age)."""
    w = [1.0] * len(probs_list) if weights is None else list(weights)
    voted = soft_vote if vote == 'soft' else hard_vote
    if tasks[0] == 'all': return voted(probs_list, w)
    per = {t: voted([p for p, u in zip(probs_list, tasks) if u == t], [x for x, u in zip(w, tasks) if u == t]) for t in TASK_NAMES}
    return combine_tasks({t: v / v.sum(1, keepdims=True) for t, v in per.items()})

"""Which of the twin's cues can be read from its pixels at all. The ceiling's ideal observer sees every cue the
generator drew exactly; a model sees pixels. A probe model (the default's body and input) is trained to regress the
cues themselves from the photos of one twin (the generator's values as targets: a supervision no real data set has,
so it reads what the pixels allow better than a model taught by labels alone), then scored on other people: R^2 per
cue, and an observer (gradient boosting, folds by person) of its outputs against the same observer of the true cues.
The gap between the two observers is what the pixels at this input hide; the true-cue observer in the same protocol
is the yardstick a model taught by labels can be held against."""
__all__ = ['cue_visibility', 'probe_data', 'masked_mse', 'train_cue_probe', 'probe_outputs', 'cue_r2', 'cv_observer',
           'cue_probe']

import time
from pathlib import Path
import numpy as np, pandas as pd, torch
from ..data.ceiling import VISIBLE
from ..data.layout import read_eval
from .cue_reading import READABLE, readable_cues, read_cues

SOURCE = {'lips': 'lips_r', 'hair': 'hair_r', 'skin': 'skin_r'}   # a readable cue's column in the ceiling's VISIBLE lists

def cue_visibility(mask_states):
    "(N, len(READABLE)) float 0/1: whether each photo shows each readable cue in its mask state (a worn mask hides lips, beard)."
    seen = {m: [c for c in READABLE if v is None or SOURCE.get(c, c) in v] for m, v in VISIBLE.items()}
    return np.array([[c in seen[int(m)] for c in READABLE] for m in mask_states], np.float32)

def probe_data(root, size=(384, 256), crop=0.85):
    """A twin's eval photos for the probe: (image cache, cues frame (`READABLE` columns, one row a photo), 18-class
    labels, mask states, visibility, person ids), from eval/info.csv, eval/solution.csv and eval/cues.csv."""
    from ..data.cache import build_cache
    info = read_eval(root)
    sol = pd.read_csv(Path(root) / 'eval' / 'solution.csv', dtype={'ImageID': str}).set_index('ImageID').loc[info['ImageID']]
    cues = readable_cues(read_cues(root, info['ImageID']))
    cache = build_cache(info['file'], size, crop, name='eval', progress=False)
    y = sol['ans'].values.astype(int)
    return cache, cues, y, y // 6, cue_visibility(y // 6), sol['person'].astype(str).values

def masked_mse(out, target, visible):
    "Mean squared error over the cues a photo shows (`visible` 0/1): a hidden cue's output gets no gradient."
    return (((out - target) ** 2) * visible).sum() / visible.sum().clamp_min(1)

def _batch(cache, rows, flip_rng=None):
    from fastai.vision.core import imagenet_stats
    from ..data.loader import normalize_u8
    x = cache.read(rows)
    if flip_rng is not None:
        f = flip_rng.random(len(x)) < 0.5; x[f] = x[f, :, ::-1]
    x = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
    return normalize_u8(x, *imagenet_stats).contiguous(memory_format=torch.channels_last)

def _cpu_dtype():
    "bf16 for autocast where the CPU has it natively, else None (fp32)."
    from ..learn.callbacks import pick_precision
    return torch.bfloat16 if pick_precision('auto', torch.device('cpu')) == 'bf16' else None

def train_cue_probe(cache, targets, visible, persons, epochs=8, arch='resnet18', stem='s2d-fine', lr=3e-3, bs=32,
                    photos_per_person=3, seed=0, log=print):
    """A model (`arch`, `stem`) trained to regress the standardized `targets` (N, n_cues) of the cached photos, each
    epoch on `photos_per_person` random photos of every person (as fit keeps 1 of the 5 masked ones), flips only,
    one-cycle AdamW at `lr`, bf16 autocast where the CPU has it. Returns the model."""
    from ..learn.models import build_model
    torch.manual_seed(seed); rng = np.random.default_rng(seed)
    n_out = targets.shape[1]
    if n_out > 18: raise ValueError(f'the probe regresses at most 18 cues (the single head\'s outputs), not {n_out}')
    model = build_model(arch, head='single', stem=stem).to(memory_format=torch.channels_last)
    people = list(pd.DataFrame({'person': persons}).groupby('person', sort=False).indices.values())
    per_epoch = sum(min(photos_per_person, len(r)) for r in people)
    bs = min(bs, per_epoch)   # a tiny twin still trains
    steps = max(1, epochs * (per_epoch // bs))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.25)
    dtype = _cpu_dtype()
    T, V, t0, done = torch.from_numpy(np.asarray(targets, np.float32)), torch.from_numpy(np.asarray(visible, np.float32)), time.time(), 0
    for ep in range(epochs):
        model.train(); tot, n = 0., 0
        rows = np.concatenate([rng.choice(r, min(photos_per_person, len(r)), replace=False) for r in people]); rng.shuffle(rows)
        for s in range(0, len(rows) - bs + 1, bs):
            if done == steps: break
            r = rows[s:s + bs]
            with torch.autocast('cpu', dtype=dtype, enabled=dtype is not None): out = model(_batch(cache, r, rng))[:, :n_out].float()
            loss = masked_mse(out, T[r], V[r])
            opt.zero_grad(); loss.backward(); opt.step(); sched.step(); tot += loss.item(); n += 1; done += 1
        if log: log(f'probe epoch {ep}: masked MSE {tot / max(n, 1):.4f} ({time.time() - t0:.0f} s)')
    return model.eval()

def probe_outputs(model, cache, n_out, bs=128):
    "(N, n_out) outputs of the probe on every cached photo, averaged with the flipped view."
    dtype = _cpu_dtype()
    out = []
    with torch.inference_mode(), torch.autocast('cpu', dtype=dtype, enabled=dtype is not None):
        for s in range(0, len(cache), bs):
            x = _batch(cache, np.arange(s, min(s + bs, len(cache))))
            out.append(((model(x)[:, :n_out] + model(x.flip(3))[:, :n_out]) / 2).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, n_out), np.float32)

def cue_r2(true, pred, visible):
    "R^2 of each cue (column) over the photos that show it: 1 - mean squared error / variance of the true values."
    true, pred, visible = np.asarray(true, float), np.asarray(pred, float), np.asarray(visible) > 0
    return np.array([1 - ((true[v, j] - pred[v, j]) ** 2).mean() / true[v, j].var() if true[v, j].var() > 0 else np.nan
                     for j, v in enumerate(visible.T)])

def cv_observer(x, y, persons, folds=5, seed=0, max_iter=200):
    """Per-photo 18-class, gender and age macro F1 of an observer of the features `x` (NaN where a cue is hidden):
    gradient boosting on (gender, age) learned on the other folds of people, the photo's true mask state (it is visible;
    the model's own mask F1 is ~0.99), arg-max decision; `max_iter` boosting rounds."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GroupKFold
    y = np.asarray(y); ga, mask = y % 6, y // 6
    x = np.hstack([np.asarray(x, float), np.eye(3)[mask]])
    post = np.zeros((len(y), 6))
    for tr, te in GroupKFold(folds).split(x, ga, persons):
        m = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.05, max_leaf_nodes=15, random_state=seed).fit(x[tr], ga[tr])
        post[np.ix_(te, m.classes_)] = m.predict_proba(x[te])
    p = post.argmax(1)
    f = lambda a, b: float(f1_score(a, b, average='macro'))
    return {'f1': f(y, mask * 6 + p), 'gender': f(ga // 3, p // 3), 'age': f(ga % 3, p % 3)}

def cue_probe(train_root, test_roots, epochs=8, blind=(('brow',), ('wrinkle_dark',)), size=(384, 256), crop=0.85,
              stem='s2d-fine', arch='resnet18', seed=0, log=print):
    """Train the probe on `train_root`'s eval photos (the twin's cues as targets), predict the eval photos of
    `test_roots` (other people), and return {'r2': per cue, 'observers': {name: scores}, 'train_s': seconds,
    'outputs': the probe's outputs (a frame, one row a test photo)}. Observers: of the true visible cues, of the probe's
    outputs, and of the true cues less each set in `blind`."""
    cache, cues, _, _, vis, persons = probe_data(train_root, size, crop)
    mu, sd = cues.mean(), cues.std().replace(0, 1)
    t0 = time.time()
    model = train_cue_probe(cache, ((cues - mu) / sd).values, vis, persons, epochs, arch, stem, seed=seed, log=log)
    train_s = time.time() - t0
    parts = [probe_data(r, size, crop) for r in test_roots]
    out = np.concatenate([probe_outputs(model, p[0], len(READABLE)) for p in parts]) * sd.values + mu.values
    true = pd.concat([p[1] for p in parts], ignore_index=True)
    y, vis = np.concatenate([p[2] for p in parts]), np.concatenate([p[4] for p in parts])
    persons = np.concatenate([[f'{k}:{q}' for q in p[5]] for k, p in enumerate(parts)])
    hide = lambda a: np.where(vis > 0, a, np.nan)
    obs = {'true cues': cv_observer(hide(true.values), y, persons, seed=seed),
           'probe outputs': cv_observer(hide(out), y, persons, seed=seed)}
    for b in blind:
        keep = [j for j, c in enumerate(READABLE) if c not in b]
        obs[f'true cues without {", ".join(b)}'] = cv_observer(hide(true.values)[:, keep], y, persons, seed=seed)
    return {'r2': dict(zip(READABLE, cue_r2(true.values, out, vis).round(3))), 'observers': obs, 'train_s': round(train_s),
            'outputs': pd.DataFrame(out, columns=READABLE)}

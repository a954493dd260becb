"""Draw the synthetic twin of the competition data set: same layout, quirks and imbalance, visible but not trivial cues."""
__all__ = ['CUES', 'look_cues', 'draw_person', 'sample_people', 'make_twin', 'share_one_id', 'default_twin']

import hashlib, os
from functools import partial
from multiprocessing import Pool
from pathlib import Path
import numpy as np, pandas as pd
from .labels import STEM_MASK, encode, age_group
from .home import cache_home
from .progress import progress as show_progress

W, H = 384, 512
STEMS = tuple(STEM_MASK)
_N_BG = 12

def _backgrounds(seed):
    "A bank of room-like backgrounds shared across people."
    rng = np.random.default_rng(seed + 7919)
    import cv2
    out = []
    for _ in range(_N_BG):
        c0, c1 = rng.uniform(40, 230, 3), rng.uniform(40, 230, 3)
        t = np.linspace(0, 1, H)[:, None, None]
        bg = (c0 * (1 - t) + c1 * t).repeat(W, 1).astype(np.uint8)
        for _ in range(rng.integers(2, 6)):
            x, y = rng.integers(0, W), rng.integers(0, H)
            cv2.rectangle(bg, (int(x), int(y)), (int(x + rng.integers(30, 200)), int(y + rng.integers(30, 200))),
                          tuple(float(v) for v in rng.uniform(30, 240, 3)), -1)
        out.append(cv2.GaussianBlur(bg, (0, 0), 3))
    return out

def sample_people(n, rng, start=0):
    "Person attributes with the real imbalance: ~61% female, men younger, 60 the only old age, a bump at 55-59."
    female = rng.random(n) < 0.614
    p_group = np.where(female[:, None], [[0.45, 0.47, 0.08]], [[0.52, 0.42, 0.06]])
    group = (rng.random(n)[:, None] > p_group.cumsum(1)).sum(1).clip(0, 2)
    young = rng.choice(np.arange(18, 30), n, p=np.r_[np.full(8, 1.2), np.full(4, 0.6)] / 12)
    mid_w = np.r_[np.ones(25), np.full(5, 3.0)]
    mid = rng.choice(np.arange(30, 60), n, p=mid_w / mid_w.sum())
    age = np.where(group == 0, young, np.where(group == 1, mid, 60))
    race = rng.choice(['Asian', 'Asian', 'Asian', 'Asian', 'White', 'Black'], n)
    ids = [f'{start + i + 1:06d}' for i in range(n)]
    return pd.DataFrame({'id': ids, 'gender': np.where(female, 'female', 'male'), 'race': race, 'age': age})

def _person_look(rng, female, age, race):
    "Appearance of one person: every cue is noisy so that neighbours of a class boundary stay ambiguous."
    skin = {'Asian': (150, 185, 225), 'White': (170, 195, 235), 'Black': (60, 90, 130)}[race]
    skin = np.clip(np.array(skin) + rng.normal(0, 12, 3) - 0.5 * max(age - 30, 0) * rng.uniform(0, 1), 20, 250)
    grey = np.clip(1 / (1 + np.exp(-(age - 47) / 7)) + rng.normal(0, 0.18), 0, 1)   # hair greys smoothly with age
    base_hair = rng.uniform(10, 70, 3) if rng.random() < 0.85 else rng.uniform(60, 140, 3)
    return dict(
        skin=skin, hair=base_hair * (1 - grey) + np.array([200, 200, 205]) * grey,
        long_hair=rng.random() < (0.8 if female else 0.12),
        rx=rng.normal(72 if female else 82, 6), ry=rng.normal(100, 6),
        brow=int(np.clip(rng.normal(4 if not female else 2.5, 1), 1, 7)),
        lips=np.array([90, 80, 200]) if (female and rng.random() < 0.6) or rng.random() < 0.03 else skin * 0.75,
        beard=(not female) and rng.random() < 0.35,
        wrinkles=int(max(0, rng.normal((age - 24) / 6, 1.3))),
        wrinkle_dark=np.clip((age - 20) / 45 + rng.normal(0, 0.15), 0.05, 1),
        shirt=rng.uniform(20, 235, 3), bg=int(rng.integers(_N_BG)),
        masks=[dict(color=rng.uniform(20, 250, 3), stripes=rng.random() < 0.3, stripe_color=rng.uniform(0, 255, 3),
                    shape=int(rng.integers(3))) for _ in range(5)],
        dx=rng.normal(0, 8), dy=rng.normal(0, 8))

CUES = ['long_hair', 'rx', 'ry', 'brow', 'lips_b', 'lips_g', 'lips_r', 'beard', 'hair_b', 'hair_g', 'hair_r', 'wrinkles',
        'wrinkle_dark', 'skin_b', 'skin_g', 'skin_r']

def look_cues(look):
    "The cues of a person's look (what `_person_look` drew), as numbers in the order of `CUES`."
    return (float(look['long_hair']), float(look['rx']), float(look['ry']), float(look['brow']), *map(float, look['lips']),
            float(look['beard']), *map(float, look['hair']), float(look['wrinkles']), float(look['wrinkle_dark']),
            *map(float, look['skin']))

def c(v):
    "An OpenCV colour tuple."
    return tuple(float(x) for x in v)

def _draw(look, mask_state, mask_style, rng, bgs):
    import cv2
    img = bgs[look['bg']].copy()
    cx, cy = int(W / 2 + look['dx'] + rng.normal(0, 6)), int(H * 0.45 + look['dy'] + rng.normal(0, 6))
    rx, ry = int(look['rx']), int(look['ry'])
    if look['long_hair']:
        cv2.ellipse(img, (cx, cy + 30), (rx + 22, ry + 70), 0, 180, 360, c(look['hair']), -1)
        cv2.rectangle(img, (cx - rx - 22, cy + 30), (cx + rx + 22, cy + ry + 60), c(look['hair']), -1)
    cv2.ellipse(img, (cx, H), (int(rx * 2.3), 120), 0, 180, 360, c(look['shirt']), -1)
    cv2.rectangle(img, (cx - rx // 2, cy + ry - 20), (cx + rx // 2, cy + ry + 50), c(look['skin'] * 0.92), -1)
    cv2.ellipse(img, (cx, cy), (rx, ry), 0, 0, 360, c(look['skin']), -1)
    cv2.ellipse(img, (cx, cy - ry // 3), (rx + 6, ry * 2 // 3 + 6), 0, 180, 360, c(look['hair']), -1)
    ey, ex = cy - ry // 8, rx * 2 // 5
    for s in (-1, 1):
        cv2.circle(img, (cx + s * ex, ey), 7, (250, 250, 250), -1); cv2.circle(img, (cx + s * ex, ey), 4, (30, 20, 10), -1)
        cv2.line(img, (cx + s * ex - 12, ey - 16), (cx + s * ex + 12, ey - 18), c(look['hair'] * 0.8), look['brow'])
        cv2.line(img, (cx + s * ex - 8, ey + 11), (cx + s * ex + 8, ey + 11), c(look['skin'] * (1 - 0.4 * look['wrinkle_dark'])), 1)
    for i in range(look['wrinkles']):
        y = cy - ry // 2 + 8 * i - 10
        cv2.line(img, (cx - rx // 2, y), (cx + rx // 2, y + int(rng.integers(-2, 3))),
                 c(look['skin'] * (1 - 0.35 * look['wrinkle_dark'])), 1)
    ny, my = cy + ry // 4, cy + ry // 2
    cv2.line(img, (cx, ey + 8), (cx - 6, ny), c(look['skin'] * 0.7), 2); cv2.line(img, (cx - 6, ny), (cx + 6, ny), c(look['skin'] * 0.7), 2)
    cv2.ellipse(img, (cx, my), (20, 6), 0, 0, 360, c(look['lips']), -1)
    if look['beard']:
        pts = rng.integers([cx - rx + 15, my - 20], [cx + rx - 15, cy + ry - 5], size=(250, 2))
        for x, y in pts: img[y, x] = (40, 40, 40)
    if mask_state != 2:
        top = ey + 16 if mask_state == 0 else my - 14 + int(rng.integers(0, 18))  # incorrect: nose (or more) uncovered
        bot = cy + ry + 6
        if mask_style['shape'] == 0: pts = [(cx - rx + 4, top + 6), (cx + rx - 4, top + 6), (cx + rx - 14, bot - 18), (cx, bot), (cx - rx + 14, bot - 18)]
        elif mask_style['shape'] == 1: pts = [(cx - rx, top + 12), (cx, top), (cx + rx, top + 12), (cx + rx - 10, bot - 10), (cx - rx + 10, bot - 10)]
        else: pts = [(cx - rx + 2, top), (cx + rx - 2, top), (cx + rx - 8, bot - 8), (cx - rx + 8, bot - 8)]
        cv2.fillPoly(img, [np.array(pts, np.int32)], c(mask_style['color']))
        if mask_style['stripes']:
            for y in range(top + 10, bot - 10, 12): cv2.line(img, (cx - rx + 12, y), (cx + rx - 12, y), c(mask_style['stripe_color']), 2)
        cv2.line(img, (cx - rx + 4, top + 8), (cx - rx - 6, ey), (235, 235, 235), 2)
        cv2.line(img, (cx + rx - 4, top + 8), (cx + rx + 6, ey), (235, 235, 235), 2)
    M = cv2.getRotationMatrix2D((W / 2, H / 2), rng.normal(0, 3), rng.normal(1, 0.03))
    img = cv2.warpAffine(img, M, (W, H), borderMode=cv2.BORDER_REFLECT)
    img = img.astype(np.float32) * rng.normal(1, 0.08) + rng.normal(0, 10)
    img += rng.normal(0, 6, (H // 4, W // 4, 1)).repeat(4, 0).repeat(4, 1)
    return np.clip(img, 0, 255).astype(np.uint8)

def _look_and_rng(i, seed, female, age, race):
    "Person `i`'s look and the generator that goes on to draw their photos."
    rng = np.random.default_rng([seed, i])
    return _person_look(rng, female, age, race), rng

def draw_person(i, seed, female, age, race, bgs=None):
    "The 7 photos (BGR uint8 arrays, keyed by stem) of person `i`; same person = same look and background."
    look, rng = _look_and_rng(i, seed, female, age, race)
    bgs = bgs if bgs is not None else _backgrounds(seed)
    return {s: _draw(look, STEM_MASK[s], look['masks'][int(s[-1]) - 1] if s.startswith('mask') else look['masks'][0], rng, bgs)
            for s in STEMS}

_BGS = {}
def _write_person(job, seed, dest):
    import cv2
    i, folder, female, age, race, kind = job
    if seed not in _BGS: _BGS[seed] = _backgrounds(seed)
    rng = np.random.default_rng([seed, i, 1])
    photos = draw_person(i, seed, female, age, race, _BGS[seed])
    if kind == 'eval':
        out = []
        for s, im in photos.items():
            name = hashlib.sha1(f'{seed}/{i}/{s}'.encode()).hexdigest() + '.jpg'
            cv2.imwrite(str(dest / name), im, [cv2.IMWRITE_JPEG_QUALITY, 90]); out.append((name, s))
        return out
    if kind == 'swap_mask': photos['incorrect_mask'], photos['normal'] = photos['normal'], photos['incorrect_mask']
    d = dest / folder; d.mkdir(parents=True, exist_ok=True)
    for s, im in photos.items():
        ext = '.jpg' if rng.random() > 0.05 else ('.png' if rng.random() < 0.6 else '.jpeg')
        cv2.imwrite(str(d / (s + ext)), im, [cv2.IMWRITE_JPEG_QUALITY, 90] if ext != '.png' else [])
    if rng.random() < 0.02: (d / '._mask1.jpg').write_bytes(b'\x00\x05\x16\x07' + bytes(60))
    return []

def share_one_id(tr):
    """Give the last person the id of an earlier one, as the real data has one id twice with different folders: the
    third from last (as before), or the nearest earlier person whose gender, race or age differs from the last's, so that
    the two folders (`{id}_{gender}_{race}_{age}`) never coincide. In place; returns the index the id came from."""
    last = tr.iloc[-1]
    src = next(j for j in range(len(tr) - 3, -1, -1)
               if (tr.iloc[j][['gender', 'race', 'age']].values != last[['gender', 'race', 'age']].values).any())
    tr.iloc[-1, tr.columns.get_loc('id')] = tr.iloc[src]['id']
    return src

def make_twin(dest, people=2700, eval_people=1800, seed=0, mislabel=0.01, workers=None, progress=True):
    """Write a synthetic twin in the competition layout at `dest` (train/train.csv, train/images/, eval/info.csv,
    eval/images/), plus what only a twin can have: the answer key eval/solution.csv (ImageID, ans, Usage, and the
    `person` each photo shows), eval/cues.csv (each eval person's gender and age and the cues drawn for them, `CUES`:
    what `maskfast.headroom` relates a model's outputs to) and mislabels.csv (folder, kind, given, truth: the people
    whose labels were made wrong). A `mislabel` share of people gets a gender swap in its folder name or swapped
    incorrect_mask/normal files. mislabels.csv is written last: a twin without it is incomplete. Returns `dest`."""
    dest = Path(dest); rng = np.random.default_rng(seed)
    (dest / 'train' / 'images').mkdir(parents=True, exist_ok=True); (dest / 'eval' / 'images').mkdir(parents=True, exist_ok=True)
    tr = sample_people(people, rng)
    tr.loc[rng.random(people) < 0.01, 'id'] += '-1'
    true_gender = tr['gender'].copy()
    bad = rng.random(people) < mislabel
    swap_gender = bad & (rng.random(people) < 0.5)
    tr.loc[swap_gender, 'gender'] = np.where(tr.loc[swap_gender, 'gender'] == 'male', 'female', 'male')
    if people > 10: share_one_id(tr)
    tr['path'] = [f'{r.id}_{r.gender}_{r.race}_{r.age}' for r in tr.itertuples()]
    jobs = [(i, r.path, true_gender[i] == 'female', r.age, r.race, 'swap_mask' if bad[i] and not swap_gender[i] else 'train')
            for i, r in enumerate(tr.itertuples())]
    ev = sample_people(eval_people, rng, start=people)
    jobs += [(people + j, None, r.gender == 'female', r.age, r.race, 'eval') for j, r in enumerate(ev.itertuples())]
    workers = workers or os.cpu_count() or 1
    fn = partial(_write_person, seed=seed, dest=dest / 'train' / 'images')
    fn_eval = partial(_write_person, seed=seed, dest=dest / 'eval' / 'images')
    results = []
    with Pool(workers) as pool:
        it = pool.imap(_dispatch, [(fn_eval if j[-1] == 'eval' else fn, j) for j in jobs], chunksize=8)
        for r in show_progress(it, len(jobs), f'twin: drawing {len(jobs)} people', progress): results.append(r)
    tr[['id', 'gender', 'race', 'age', 'path']].to_csv(dest / 'train' / 'train.csv', index=False)
    rows, cues = [], []
    for j, r in enumerate(ev.itertuples()):
        look, _ = _look_and_rng(people + j, seed, r.gender == 'female', r.age, r.race)   # the look draw_person drew
        cues.append((f'p{j:05d}', r.gender, int(r.age), *look_cues(look)))
        for name, s in results[people + j]:
            rows.append((name, int(encode(STEM_MASK[s], r.gender == 'female', int(age_group(r.age)))), f'p{j:05d}'))
    sol = pd.DataFrame(rows, columns=['ImageID', 'ans', 'person']).sample(frac=1, random_state=seed).reset_index(drop=True)
    sol['Usage'] = np.where(np.random.default_rng(seed + 1).random(len(sol)) < 0.5, 'Public', 'Private')
    sol[['ImageID', 'ans', 'Usage', 'person']].to_csv(dest / 'eval' / 'solution.csv', index=False)
    sol[['ImageID']].assign(ans=0).to_csv(dest / 'eval' / 'info.csv', index=False)
    pd.DataFrame(cues, columns=['person', 'gender', 'age'] + CUES).to_csv(dest / 'eval' / 'cues.csv', index=False, float_format='%.4f')
    mis = [(r.path, 'gender', r.gender, true_gender[i]) if swap_gender[i] else (r.path, 'mask_swap', 'swapped', 'incorrect_mask<->normal')
           for i, r in enumerate(tr.itertuples()) if bad[i]]
    pd.DataFrame(mis, columns=['folder', 'kind', 'given', 'truth']).to_csv(dest / 'mislabels.csv', index=False)
    return dest

def _dispatch(a): return a[0](a[1])

def default_twin(people=600, eval_people=200, seed=0, cache_dir=None):
    "The embedded default data set: a small twin made once in a cache folder and reused."
    root = Path(cache_dir or cache_home())
    dest = root / f'twin_{people}_{eval_people}_s{seed}'
    if not (dest / 'mislabels.csv').exists():   # written last: absent means never drawn, cut short, or an older twin
        print(f'making the synthetic twin ({people} + {eval_people} people) in {dest} (once)')
        make_twin(dest, people, eval_people, seed)
    return dest

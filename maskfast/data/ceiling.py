"""The twin's ceiling: the macro F1 an ideal observer reaches, computed from the generator's latent variables. The
observer sees every cue the generator draws for a person (hair length and colour, face width and height, brows,
lips, beard; greying, wrinkle count and darkness, skin tone) exactly, but not the gender and age behind them, nor
which people were mislabelled. Its decision is learned on a large simulated population (a gradient-boosted
classifier on the cues approximates the Bayes posterior) and scored on a fresh one with the eval set's make-up
(7 photos a person: 5 worn masks, 1 incorrect, 1 without); the mask state is visible, so it is always right.
An observer blind to some cues (`blind`, e.g. the 1-2 pixel ones a downscaled input blurs: `FINE_CUES`) says how much
of the ceiling those cues hold."""
__all__ = ['CUES', 'FINE_CUES', 'person_cues', 'person_targets', 'ideal_observer', 'mask_state_observers',
           'coordinate_weights', 'twin_ceiling']

import numpy as np, pandas as pd
from .labels import encode, age_group
from .twin import CUES, look_cues, sample_people, _person_look

VISIBLE = {   # the cues a photo shows, by mask state: a worn mask hides mouth and chin, an incorrect one the chin
    0: ['long_hair', 'rx', 'ry', 'brow', 'hair_b', 'hair_g', 'hair_r', 'wrinkles', 'wrinkle_dark', 'skin_b', 'skin_g', 'skin_r'],
    1: ['long_hair', 'rx', 'ry', 'brow', 'lips_b', 'lips_g', 'lips_r', 'hair_b', 'hair_g', 'hair_r', 'wrinkles', 'wrinkle_dark',
        'skin_b', 'skin_g', 'skin_r'],
    2: None}      # no mask: every cue
MASKS_OF_A_PERSON = np.array([0, 0, 0, 0, 0, 1, 2])
FINE_CUES = ['brow', 'beard', 'wrinkles', 'wrinkle_dark']   # a few px or less: brows 2.5 vs 4 px, 1 px beard dots and lines

def person_cues(n, seed=0):
    "(cues frame, people frame) for `n` people drawn as the twin draws them."
    rng = np.random.default_rng(seed)
    people = sample_people(n, rng)
    rows = []
    for r in people.itertuples():
        look = _person_look(np.random.default_rng([seed, r.Index, 7]), r.gender == 'female', int(r.age), r.race)
        rows.append(look_cues(look))
    return pd.DataFrame(rows, columns=CUES), people

def person_targets(people, old_from=60):
    "(gender, age group) of simulated people as 3 * gender + age group, the ideal observer's classes."
    g = (people['gender'] == 'female').astype(int).values
    return g * 3 + age_group(people['age'].values, old_from)

def ideal_observer(cues, y, columns=None, seed=0):
    "A classifier of (gender, age group) = 3 * gender + age from the `columns` of the cues (all when None)."
    from sklearn.ensemble import HistGradientBoostingClassifier
    x = cues.values if columns is None else cues[columns].values
    return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1, max_leaf_nodes=63, random_state=seed).fit(x, y)

def mask_state_observers(n_train, seed=0, blind=()):
    """{mask state: (the cues a photo in that state shows, less `blind`; the ideal observer of them)}, learned on
    `n_train` simulated people (`person_cues(n_train, seed)`)."""
    cues, people = person_cues(n_train, seed)
    y = person_targets(people)
    seen = {m: [c for c in (VISIBLE[m] or CUES) if c not in blind] for m in (0, 1, 2)}
    return {m: (cols, ideal_observer(cues, y, cols, seed)) for m, cols in seen.items()}

def _macro_f1(y, preds):
    "18-class macro F1 over the eval photos: `preds` (n_people, 7) of (gender, age) codes, photos as MASKS_OF_A_PERSON."
    from sklearn.metrics import f1_score
    m = np.tile(MASKS_OF_A_PERSON, len(y))
    t, p = np.repeat(y, 7), np.asarray(preds).ravel()
    return float(f1_score(encode(m, t // 3, t % 3), encode(m, p // 3, p % 3), average='macro', labels=range(18), zero_division=0))

def coordinate_weights(score, n=6, rounds=3, grid=None):
    "Weights (n,) that maximise `score(w)`, one coordinate at a time over `grid` (0.25..8, geometric), `rounds` times."
    grid = np.geomspace(0.25, 8, 31) if grid is None else grid
    w = np.ones(n)
    for _ in range(rounds):
        for c in range(n):
            def at(v): ww = w.copy(); ww[c] = v; return score(ww)
            w[c] = max(grid, key=at)
    return w

def _tune(y, posts, rounds=3):
    "Per-class weights on the (gender, age) posteriors that maximise the 18-class macro F1 (coordinate search)."
    return coordinate_weights(lambda w: _macro_f1(y, np.stack([(p * w).argmax(1) for p in posts], 1)), 6, rounds)

def twin_ceiling(n_train=100_000, n_test=100_000, seed=0, blind=()):
    """The ideal observer's scores on a fresh simulated population, per photo (each photo's visible cues: the ceiling)
    and pooled (every cue of the person on every photo: what perfect grouping of a person's photos could add).
    18-class macro F1 with per-class weights on the posterior tuned for macro F1 on a separate half, and the gender
    and age macro F1 of the per-photo observer. `blind`: cues (of `CUES`) the observer does not see on any photo."""
    from sklearn.metrics import f1_score
    unknown = set(blind) - set(CUES)
    if unknown: raise ValueError(f'unknown cue(s) {sorted(unknown)}; the cues are {CUES}')
    obs = mask_state_observers(n_train, seed, blind)
    cues, people = person_cues(n_test, seed + 1)
    y = person_targets(people)
    post = {m: o.predict_proba(cues[cols].values) for m, (cols, o) in obs.items()}
    per_photo = [post[m] for m in MASKS_OF_A_PERSON]
    pooled = [post[2]] * 7
    half = len(y) // 2
    res = {}
    for name, posts in (('per_photo', per_photo), ('pooled', pooled)):
        w = _tune(y[:half], [p[:half] for p in posts])
        pred = np.stack([(p[half:] * w).argmax(1) for p in posts], 1)
        res[f'f1_{name}'] = _macro_f1(y[half:], pred)
        res[f'f1_{name}_map'] = _macro_f1(y[half:], np.stack([p[half:].argmax(1) for p in posts], 1))
        if name == 'per_photo':
            t = np.repeat(y[half:], 7); p = pred.ravel()
            res['gender_f1'] = float(f1_score(t // 3, p // 3, average='macro'))
            res['age_f1'] = float(f1_score(t % 3, p % 3, average='macro'))
            res['weights'] = w.round(3).tolist()
    res['f1'] = res['f1_per_photo']
    return res

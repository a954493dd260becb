"""What a model reads: how its gender and age outputs on the twin's eval photos follow each cue the generator drew for
the person (`eval/cues.csv`), next to how the ideal observer's follow them. Within each true class of a task (all
women, all men; each age group) the label is fixed, so what still moves the output there is what is read from the
photo. Cues go together within a class too (older people in the 30-59 group have both greyer hair and more wrinkles),
so each is weighed with the others held fixed: the standardized coefficients of a linear fit of the output on all the
cues, per class, averaged. A cue the ideal observer's output leans on and the model's does not is one the model has
not learned to read. Outputs: the model's P(female) as a logit and its expected age group, and the same from the
ideal observer's posterior over the cues each photo shows (a worn mask hides the lips)."""
__all__ = ['READABLE', 'readable_cues', 'within_class_weights', 'ideal_posteriors', 'cue_reading', 'read_cues']

import numpy as np, pandas as pd
from ..data.ceiling import mask_state_observers
from ..data.labels import decode
from ..data.twin import CUES

READABLE = ['long_hair', 'rx', 'ry', 'brow', 'lips', 'beard', 'hair', 'wrinkles', 'wrinkle_dark', 'skin']

def readable_cues(cues):
    "The cues as one column each: lips as red minus green (lipstick against skin tone), hair and skin as mean RGB."
    c = cues
    return pd.DataFrame({'long_hair': c.long_hair, 'rx': c.rx, 'ry': c.ry, 'brow': c.brow, 'lips': c.lips_r - c.lips_g,
                         'beard': c.beard, 'hair': c[['hair_r', 'hair_g', 'hair_b']].mean(axis=1), 'wrinkles': c.wrinkles,
                         'wrinkle_dark': c.wrinkle_dark, 'skin': c[['skin_r', 'skin_g', 'skin_b']].mean(axis=1)})[READABLE]

def within_class_weights(out, x, cls, min_n=30):
    """(n_cues,) standardized coefficients of a least-squares fit of `out` on the columns of `x` (N, n_cues) inside
    each class of `cls` with at least `min_n` photos, averaged with the classes' sizes as weights; a cue constant in a
    class (a beard among women) gets no weight from it; NaN where no class has it vary."""
    out, x, cls = np.asarray(out, np.float64), np.asarray(x, np.float64), np.asarray(cls)
    tot, wsum = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for c in np.unique(cls):
        m = cls == c
        if m.sum() < min_n or out[m].std() == 0: continue
        sd = x[m].std(0); var = sd > 0
        z = (x[m][:, var] - x[m][:, var].mean(0)) / sd[var]
        beta = np.linalg.lstsq(np.c_[z, np.ones(m.sum())], (out[m] - out[m].mean()) / out[m].std(), rcond=None)[0][:-1]
        tot[var] += beta * m.sum(); wsum[var] += m.sum()
    with np.errstate(invalid='ignore'): return tot / wsum

def ideal_posteriors(cues, mask_states, n_train=20_000, seed=0):
    """(N, 6) posterior over (gender, age) = 3 * gender + age group of the ideal observer for each photo: the cues
    frame `cues` (one row a photo, columns `CUES`) seen as its mask state (0 worn, 1 incorrect, 2 none) leaves them,
    from observers learned on `n_train` simulated people (`maskfast.data.ceiling`)."""
    mask_states = np.asarray(mask_states)
    post = np.zeros((len(cues), 6))
    for m, (cols, obs) in mask_state_observers(n_train, seed).items():
        sel = mask_states == m
        if sel.any(): post[np.ix_(sel, obs.classes_)] = obs.predict_proba(cues.loc[sel, cols].values)
    return post

def _outputs(p6):
    "(logit of P(female), expected age group) from (N, 6) probabilities over 3 * gender + age."
    p6 = np.clip(np.asarray(p6, np.float64), 1e-6, None); p6 = p6 / p6.sum(1, keepdims=True)
    pf = p6[:, 3:].sum(1)
    return np.log(pf) - np.log1p(-pf), p6.reshape(-1, 2, 3).sum(1) @ np.arange(3)

def cue_reading(probs, y, cues, n_train=20_000, seed=0):
    """A frame indexed by `READABLE` cue: for the model's eval probabilities `probs` (N, 18), true classes `y` (N,) and
    each photo's person's cues `cues` (a frame with the columns `CUES`, one row a photo), how its gender output
    (P(female) as a logit, within each true gender) and its age output (the expected age group, within each true age
    group) lean on every cue with the others held fixed (`within_class_weights`), next to the ideal observer's
    (`ideal_posteriors`, learned on `n_train` simulated people)."""
    probs, y = np.asarray(probs, np.float64), np.asarray(y)
    if len(probs) != len(y) or len(y) != len(cues): raise ValueError(f'{len(probs)} probabilities, {len(y)} labels and '
                                                                     f'{len(cues)} cue rows: one of each a photo')
    missing = [c for c in CUES if c not in cues.columns]
    if missing: raise ValueError(f'the cues frame lacks {missing}; it needs the columns {CUES}')
    mask, gender, age = decode(y)
    cues = cues.reset_index(drop=True)
    x = readable_cues(cues).values
    model = _outputs(probs.reshape(-1, 3, 6).sum(1))
    ideal = _outputs(ideal_posteriors(cues, mask, n_train, seed))
    cols = {'gender_model': within_class_weights(model[0], x, gender), 'gender_ideal': within_class_weights(ideal[0], x, gender),
            'age_model': within_class_weights(model[1], x, age), 'age_ideal': within_class_weights(ideal[1], x, age)}
    return pd.DataFrame(cols, index=READABLE)

def read_cues(root, image_ids):
    """The cues of the person each of `image_ids` shows, from `root`'s eval/solution.csv (its person column) and
    eval/cues.csv (what `maskfast.synth` writes); a clear error when the data set has neither."""
    from pathlib import Path
    sol_f, cues_f = Path(root) / 'eval' / 'solution.csv', Path(root) / 'eval' / 'cues.csv'
    if not cues_f.exists(): raise FileNotFoundError(f'{cues_f} not found: reading cues needs the twin\'s record of what '
                                                    'it drew (python -m maskfast.synth writes it; twins made before it did lack it)')
    sol = pd.read_csv(sol_f, dtype={'ImageID': str}).set_index('ImageID')
    cues = pd.read_csv(cues_f, dtype={'person': str}).set_index('person')
    persons = sol.reindex(list(image_ids))['person']
    if persons.isna().any(): raise ValueError(f'{sol_f} lacks {int(persons.isna().sum())} of the eval images')
    unknown = sorted(set(persons) - set(cues.index))
    if unknown: raise ValueError(f'{cues_f} lacks {len(unknown)} person(s) of {sol_f}, e.g. {unknown[:3]}')
    return cues.loc[persons.values].reset_index(drop=True)

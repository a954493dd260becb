"""Where a model's errors are: how much macro F1 a better decision rule or a perfect grouping of each person's photos
could add to its eval probabilities, measured against an answer key that names each photo's person (the twin's
`eval/solution.csv`). Both are oracles (they see the key), so they bound what post-processing could win: when both
are small, the gap to the ceiling lies in what the model reads from each person, not in how its outputs are decided.
`run_headroom` also scores the one predict pass it makes as `predict` would (each photo alone, and with the person
vote and the >=60 share that `predict` applies by default), so one call measures a run completely and can keep what it measured."""
__all__ = ['weighted_decision', 'tune_class_weights', 'pool_persons', 'headroom', 'eval_scores', 'run_headroom']

import numpy as np
from functools import partial
from ..data.ceiling import coordinate_weights
from ..data.labels import decode
from ..learn.metrics import macro_f1, task_f1

def _f18(y, pred):
    "18-class macro F1 over every class (a class absent from both counts as 0, as in the ceiling)."
    from sklearn.metrics import f1_score
    return float(f1_score(y, pred, average='macro', labels=range(18), zero_division=0))

def weighted_decision(probs, w):
    "18-class decisions from probabilities (N, 18) with each (gender, age) class's probability scaled by `w` (6,)."
    p = np.asarray(probs).reshape(-1, 3, 6) * np.asarray(w)
    return p.reshape(len(probs), 18).argmax(1)

def tune_class_weights(probs, y, rounds=3):
    "Per (gender, age) class weights on the probabilities that maximise 18-class macro F1 on `y` (coordinate search)."
    return coordinate_weights(partial(_weighted_f1, probs, y), 6, rounds)

def _weighted_f1(probs, y, w): return _f18(y, weighted_decision(probs, w))

def pool_persons(probs, groups):
    """Probabilities with each photo's (gender, age) part replaced by the mean over its group's photos (a person's
    photos share gender and age); each photo keeps its own mask state."""
    p = np.asarray(probs, np.float64).reshape(-1, 3, 6)
    pm, pga = p.sum(2), p.sum(1)
    _, inv = np.unique(np.asarray(groups), return_inverse=True)
    s = np.zeros((inv.max() + 1, 6)); np.add.at(s, inv, pga)
    pga = s[inv] / np.bincount(inv)[inv, None]
    return (pm[:, :, None] * pga[:, None, :]).reshape(len(p), 18)

def headroom(probs, y, persons, seed=0):
    """Macro F1 of the argmax decision, of class weights tuned on one half of the persons and scored on the other
    (both ways, averaged, next to the argmax on the same halves), and of pooling each true person's photos; and the
    argmax's gender macro F1 per true mask state (0 worn, 1 incorrect, 2 none)."""
    probs, y, persons = np.asarray(probs, np.float64), np.asarray(y), np.asarray(persons)
    probs = probs / probs.sum(1, keepdims=True)
    people = np.unique(persons); np.random.default_rng(seed).shuffle(people)
    a = np.isin(persons, people[:len(people) // 2]); halves = [(a, ~a), (~a, a)]
    tuned = [_f18(y[te], weighted_decision(probs[te], tune_class_weights(probs[tr], y[tr]))) for tr, te in halves]
    plain = [_f18(y[te], probs[te].argmax(1)) for _, te in halves]
    pred = probs.argmax(1)
    (mask, gender, _), (_, pred_gender, _) = decode(y), decode(pred)
    by_mask = {int(m): macro_f1(gender[mask == m], pred_gender[mask == m]) for m in np.unique(mask)}
    return {'argmax': _f18(y, pred), 'tuned_weights': float(np.mean(tuned)), 'argmax_same_halves': float(np.mean(plain)),
            'pooled_persons': _f18(y, pool_persons(probs, persons).argmax(1)), 'gender_by_mask': by_mask}

def eval_scores(y, probs):
    "{'f1', 'mask', 'gender', 'age'}: the macro F1s `maskfast.score` gives (All) for the arg-max of `probs` against `y`."
    pred = np.asarray(probs).argmax(1)
    return {'f1': macro_f1(y, pred), **task_f1(y, pred)}

def run_headroom(runs, data=None, tta=1, seed=0, cues=True, ideal_people=20_000, save=None):
    """`headroom` of the eval predictions of `runs` (a run folder or k-fold parent, or a list; predicted as `predict`
    does) against `data`'s `eval/solution.csv`, which must name each photo's person (the twin's does); under 'scores'
    the same pass scored each photo alone ('photo', its own arg-max) and with `predict`'s default decision ('voted': the
    person vote by mask state and the >=60 share, over
    appearance groups whose purity against the true persons is 'grouping_ari'); with `cues` and the twin's
    `eval/cues.csv`, also what the model reads (`cue_reading` with an ideal observer learned on `ideal_people`
    simulated people, under 'cues'). `save`: a folder that receives headroom.json (all of it) and eval_probs.npz
    (ImageID, the per-photo probabilities, the photo groups), so a measurement outlives the session that made it."""
    import pandas as pd
    from pathlib import Path
    from ..infer.persons import grouping_ari, photo_groups
    from ..infer.submission import predict_eval, decide_photos
    from ..learn.runs import find_runs, run_data
    runs = [runs] if isinstance(runs, (str, Path)) else list(runs)
    data = data or run_data(find_runs(runs)[0])
    key = Path(data) / 'eval' / 'solution.csv'
    if not key.exists(): raise FileNotFoundError(f'{key} not found: headroom needs an answer key with a person column '
                                                 '(python -m maskfast.synth writes one for the twin)')
    sol = pd.read_csv(key, dtype={'ImageID': str})
    if not {'ImageID', 'ans', 'person'} <= set(sol.columns):
        raise ValueError(f'{key} has columns {list(sol.columns)}: headroom needs ImageID, ans and person (who each photo shows)')
    sub, probs, images, _ = predict_eval(runs, data, out=None, tta=tta, progress=False, consistency=False,   # per-photo outputs
                                         old_share=None, return_cache=True)
    m = sub[['ImageID']].merge(sol, on='ImageID', how='left')
    if m['ans'].isna().any(): raise ValueError(f'{key} lacks {int(m["ans"].isna().sum())} eval image(s), e.g. '
                                               f'{list(m.loc[m["ans"].isna(), "ImageID"][:3])}')
    y, persons = m['ans'].astype(int).values, m['person'].astype(str).values
    res = headroom(probs, y, persons, seed)
    groups = photo_groups(images)
    res['scores'] = {'photo': eval_scores(y, probs), 'voted': eval_scores(y, decide_photos(probs, groups, find_runs(runs), verbose=False))}
    res['grouping_ari'] = grouping_ari(groups, persons)
    if cues and (Path(data) / 'eval' / 'cues.csv').exists():
        from .cue_reading import cue_reading, read_cues
        res['cues'] = cue_reading(probs, y, read_cues(data, sub['ImageID']), ideal_people, seed)
    if save: _save_headroom(Path(save), res, sub['ImageID'].values, probs, groups)
    return res

def _save_headroom(folder, res, image_ids, probs, groups):
    "Write `folder`/headroom.json (the cue table as {column: {cue: weight}}) and `folder`/eval_probs.npz."
    import json
    folder.mkdir(parents=True, exist_ok=True)
    out = {k: (v.to_dict() if k == 'cues' else v) for k, v in res.items()}
    (folder / 'headroom.json').write_text(json.dumps(out, indent=1, default=float))
    np.savez_compressed(folder / 'eval_probs.npz', image_id=np.asarray(image_ids, str), probs=np.asarray(probs, np.float32),
                        groups=np.asarray(groups))

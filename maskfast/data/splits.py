"""Person-grouped splits: a holdout and stratified group k-fold; no person is ever on both sides."""
__all__ = ['person_folds', 'profile_splitter', 'fold_indices', 'random_image_splitter']

import numpy as np

def person_folds(df, n_folds=5, seed=42, by='folder'):
    "Fold number (0..n_folds-1) of each row, stratified by the person's gender x age class and grouped by `by`."
    from sklearn.model_selection import StratifiedGroupKFold
    people = df.drop_duplicates(by)
    strat = people['gender'].astype(str) + '_' + people['age_group'].astype(str)
    fold_of = {}
    n_folds = min(n_folds, len(people))
    skf = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, vi) in enumerate(skf.split(people, strat, groups=people[by].values)):
        for p in people[by].values[vi]: fold_of[p] = k
    return df[by].map(fold_of).values.astype(int)

def fold_indices(df, fold=0, n_folds=5, seed=42, by='folder'):
    "(train_idx, valid_idx) row positions for `fold` of a person-grouped stratified k-fold."
    folds = person_folds(df, n_folds, seed, by)
    return np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)

def profile_splitter(fold=0, n_folds=5, seed=42, by='folder'):
    "A fastai splitter over an items frame that keeps each person (folder) on one side only."
    def _inner(df): return [list(i) for i in fold_indices(df, fold, n_folds, seed, by)]
    return _inner

def random_image_splitter(valid_pct=0.2, seed=42):
    "The leaky split the competition warned about (images of one person on both sides), for the lessons notebook."
    def _inner(df):
        idx = np.random.default_rng(seed).permutation(len(df)); n = int(len(df) * valid_pct)
        return [list(np.sort(idx[n:])), list(np.sort(idx[:n]))]
    return _inner

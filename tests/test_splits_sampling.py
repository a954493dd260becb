import numpy as np, pytest, torch
from maskfast.data.splits import fold_indices, person_folds
from maskfast.data.sampling import downsample_masks, class_weights
from maskfast.data.block import mask_dataloaders

def test_person_split(items):
    df, _ = items
    for fold in range(4):
        tr, va = fold_indices(df, fold, 4, seed=1)
        assert not set(df.folder[tr]) & set(df.folder[va])
        assert len(tr) + len(va) == len(df)
    assert (person_folds(df, 4, 1) == person_folds(df, 4, 1)).all()
    assert not (person_folds(df, 4, 1) == person_folds(df, 4, 2)).all()
    assert sorted(set(person_folds(df, 4, 1))) == [0, 1, 2, 3]

def test_downsample_one_mask_per_person_redrawn():
    groups = np.repeat(['a', 'b', 'c'], 7); is_mask = np.tile([1, 1, 1, 1, 1, 0, 0], 3).astype(bool)
    rng = np.random.default_rng(0)
    draws = [downsample_masks(groups, is_mask, rng) for _ in range(10)]
    for d in draws:
        assert len(d) == 9
        assert all((is_mask[d] & (groups[d] == g)).sum() == 1 for g in 'abc')
    assert len({tuple(d) for d in draws}) > 1

def test_class_weights():
    w = class_weights([0, 0, 0, 1], 3, power=1.0)
    assert w[2] == 0 and w[1] == pytest.approx(3 * w[0])
    assert class_weights([0, 0, 0, 1], 3, power=0.5)[1] == pytest.approx(np.sqrt(3) * class_weights([0, 0, 0, 1], 3, 0.5)[0])

def test_dataloaders_sampling_and_valid_untouched(items):
    df, caches = items
    tr, va = fold_indices(df, 0, 4)
    dls = mask_dataloaders(df, caches, tr, va, bs=8, downsample=True, power=1.0, seed=0)
    n_people = df.folder[tr].nunique()
    assert dls.train.n == 3 * n_people
    assert dls.valid.n == len(va) and not dls.valid.shuffle
    seen = []
    for _ in range(3):
        dls.train.get_idxs(); seen.append(set(dls.train.epoch_idxs))
        drawn = dls.items.iloc[dls.train.epoch_idxs]
        assert (drawn[drawn.stem.str.startswith('mask')].groupby('folder').size() == 1).all()
    assert seen[0] != seen[1] or seen[1] != seen[2]
    assert list(dls.valid.get_idxs()) == list(range(len(va)))
    yb = torch.cat([y for _, y in dls.valid])
    assert (yb.numpy() == df.label.values[va]).all()
    # weighted: rare classes are drawn more often than their share
    lab = dls.items.label.values[:len(tr)]
    draws = np.concatenate([lab[dls.train.get_idxs()] for _ in range(30)])
    share = np.bincount(draws, minlength=18) / len(draws)
    assert share.max() / share[share > 0].min() < np.bincount(lab, minlength=18).max() / np.bincount(lab)[np.bincount(lab) > 0].min()

def test_multi_target_block(items):
    df, caches = items
    tr, va = fold_indices(df, 0, 4)
    dls = mask_dataloaders(df, caches, tr, va, target='multi', bs=8, power=0)
    xb, m, g, a = dls.one_batch()
    assert xb.shape[1:] == (3, 64, 32) and m.max() <= 2 and g.max() <= 1 and a.max() <= 2

def test_balance_report(items, tmp_path):
    from maskfast.data.block import balance_report
    df, _ = items
    tr, va = fold_indices(df, 0, 4)
    tab = balance_report(df, tr, va, tmp_path / 'b.png')
    assert tab.train.sum() == len(tr) and tab.valid.sum() == len(va) and (tmp_path / 'b.png').stat().st_size > 1000

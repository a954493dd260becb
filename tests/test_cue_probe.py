import numpy as np, pandas as pd, pytest, torch
from maskfast.experiments.cue_probe import (cue_visibility, masked_mse, train_cue_probe, probe_outputs, cue_r2, cv_observer,
                                            cue_probe)
from maskfast.experiments.cue_reading import READABLE

def test_cue_visibility_follows_the_mask_state():
    v = pd.DataFrame(cue_visibility([0, 1, 2]), columns=READABLE)
    assert v.loc[0, 'lips'] == 0 and v.loc[0, 'beard'] == 0 and v.loc[0, 'brow'] == 1 and v.loc[0, 'wrinkle_dark'] == 1
    assert v.loc[1, 'lips'] == 1 and v.loc[1, 'beard'] == 0      # an incorrect mask shows the mouth, not the chin
    assert v.loc[2].sum() == len(READABLE)

def test_masked_mse_gives_a_hidden_cue_no_gradient():
    out = torch.zeros(2, 3, requires_grad=True)
    t, v = torch.tensor([[1., 2., 3.], [1., 1., 1.]]), torch.tensor([[1., 1., 0.], [1., 0., 0.]])
    loss = masked_mse(out, t, v)
    loss.backward()
    assert loss.item() == pytest.approx((1 + 4 + 1) / 3)
    assert out.grad[0, 2] == 0 and out.grad[1, 1] == 0 and out.grad[1, 2] == 0 and out.grad[0, 1] != 0

def test_cue_r2_hand_cases():
    true = np.array([[1., 5.], [2., 5.], [3., 9.], [4., 1.]]); vis = np.ones_like(true)
    assert cue_r2(true, true, vis) == pytest.approx([1, 1])
    assert cue_r2(true, np.tile(true.mean(0), (4, 1)), vis) == pytest.approx([0, 0])
    vis[2:, 1] = 0                                                  # hidden rows do not count: the rest is constant
    assert np.isnan(cue_r2(true, true, vis)[1])

def test_cv_observer_tells_informative_features_from_noise():
    rng = np.random.default_rng(0)
    n = 100; persons = np.repeat(np.arange(n), 7); ga = rng.integers(0, 6, n)[persons]
    y = np.tile([0, 0, 0, 0, 0, 1, 2], n) * 6 + ga
    good = np.c_[ga // 3 + rng.normal(0, 0.1, len(y)), ga % 3 + rng.normal(0, 0.1, len(y))]
    r = cv_observer(good, y, persons, max_iter=40)
    assert r['f1'] > 0.95 and r['gender'] > 0.95 and r['age'] > 0.95
    noise = cv_observer(rng.normal(size=(len(y), 2)), y, persons, max_iter=40)
    assert noise['f1'] < 0.4 and noise['gender'] < 0.65
    good[y // 6 == 0, 1] = np.nan                                   # a cue hidden on masked photos: still an observer
    assert cv_observer(good, y, persons, max_iter=40)['gender'] > 0.95

class _Photos:
    "A cache of tiny grey photos whose brightness is the cue to read."
    def __init__(self, level): self.level = level
    def __len__(self): return len(self.level)
    def read(self, rows):
        rows = np.asarray(rows)
        x = np.broadcast_to(self.level[rows, None, None, None], (len(rows), 32, 32, 3)).astype(np.uint8).copy()
        x[:, 8:24, 8:24] = 255 - x[:, 8:24, 8:24]                # some structure, so the stats are not one value
        return x

def test_train_cue_probe_learns_a_readable_cue():
    rng = np.random.default_rng(1)
    level = rng.integers(30, 220, 240).astype(np.float32)
    cache, persons = _Photos(level), np.repeat(np.arange(80), 3)
    t = ((level - level.mean()) / level.std())[:, None]
    model = train_cue_probe(cache, t, np.ones_like(t), persons, epochs=6, stem='plain', lr=3e-3, bs=32, log=None)
    r2 = cue_r2(t, probe_outputs(model, cache, 1), np.ones_like(t))[0]
    assert r2 > 0.5, r2
    with pytest.raises(ValueError, match='at most 18'): train_cue_probe(cache, np.zeros((240, 19)), np.ones((240, 19)), persons)

def test_cue_probe_end_to_end_on_the_twin(twin):
    r = cue_probe(twin, [twin], epochs=1, size=(128, 128), log=None)
    assert list(r['r2']) == READABLE and len(r['outputs']) == len(pd.read_csv(twin / 'eval' / 'info.csv'))
    assert set(r['observers']) == {'true cues', 'probe outputs', 'true cues without brow', 'true cues without wrinkle_dark'}
    assert all(0 <= v['f1'] <= 1 for v in r['observers'].values())

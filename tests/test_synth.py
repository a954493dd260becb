import numpy as np, pandas as pd
from PIL import Image
from maskfast.data.twin import sample_people, draw_person

def test_twin_layout(twin):
    sol = pd.read_csv(twin / 'eval' / 'solution.csv')
    info = pd.read_csv(twin / 'eval' / 'info.csv')
    assert list(sol.columns) == ['ImageID', 'ans', 'Usage', 'person'] and set(sol.Usage) <= {'Public', 'Private'}
    assert sol.person.nunique() == 8 and sol.groupby('person').size().eq(7).all()
    assert len(sol) == len(info) == 8 * 7 and (info.ans == 0).all() and list(sol.ImageID) == list(info.ImageID)
    assert sol.ans.between(0, 17).all()
    files = list((twin / 'train' / 'images').rglob('*.*'))
    with Image.open([p for p in files if not p.name.startswith('._')][0]) as im: assert im.size == (384, 512)
    assert pd.read_csv(twin / 'train' / 'train.csv').columns.tolist() == ['id', 'gender', 'race', 'age', 'path']

def test_imbalance_like_the_real_data():
    p = sample_people(20000, np.random.default_rng(0))
    female = (p.gender == 'female').mean()
    assert 0.59 < female < 0.64
    assert p.age.min() == 18 and p.age.max() == 60 and (p.age > 60).sum() == 0
    old = (p.age == 60).mean(); assert 0.05 < old < 0.09
    assert (p.age.between(55, 59).mean() / 5) > 2 * (p.age.between(30, 54).mean() / 25)    # the 55-59 bump
    assert p[p.gender == 'male'].age.mean() < p[p.gender == 'female'].age.mean()             # men younger

def test_same_person_same_look_masks_differ():
    ph = draw_person(5, 0, True, 40, 'Asian')
    assert set(ph) == {'mask1', 'mask2', 'mask3', 'mask4', 'mask5', 'incorrect_mask', 'normal'}
    top = lambda a: a[:120].astype(float)
    assert np.abs(top(ph['mask1']) - top(ph['normal'])).mean() < 20         # same background and hair
    mid = lambda a: a[250:330, 140:250].astype(float)
    assert np.abs(mid(ph['mask1']) - mid(ph['normal'])).mean() > 10         # the mask region changes
    other = draw_person(6, 0, False, 25, 'Asian')
    assert np.abs(top(ph['normal']) - top(other['normal'])).mean() > np.abs(top(ph['mask1']) - top(ph['normal'])).mean()

def test_mislabel_share(tmp_path):
    from maskfast.data.twin import make_twin
    root = make_twin(tmp_path / 't', people=60, eval_people=1, seed=1, mislabel=0.5, workers=1, progress=False)
    df = pd.read_csv(root / 'train' / 'train.csv')
    clean = make_twin(tmp_path / 'c', people=60, eval_people=1, seed=1, mislabel=0.0, workers=1, progress=False)
    dc = pd.read_csv(clean / 'train' / 'train.csv')
    assert (df.gender != dc.gender).sum() > 5          # some folder names carry the wrong gender
    mis = pd.read_csv(root / 'mislabels.csv')
    assert set(mis.kind) == {'gender', 'mask_swap'} and set(mis[mis.kind == 'gender'].folder) == set(df.path[df.gender != dc.gender])
    assert len(pd.read_csv(clean / 'mislabels.csv')) == 0

def test_one_id_twice_never_in_one_folder():
    "The twin's id shared by two people (as in the real data) keeps two folders even when their gender, race and age match."
    from maskfast.data.twin import share_one_id
    tr = pd.DataFrame({'id': [f'{i:06d}' for i in range(6)], 'gender': ['female', 'male', 'female', 'male', 'female', 'male'],
                       'race': ['Asian'] * 6, 'age': [30, 19, 40, 19, 50, 19]})   # the 3rd from last matches the last, so does the 5th
    src = share_one_id(tr)
    assert src == 2 and tr.id.iloc[-1] == '000002' and tr.id.value_counts().max() == 2
    paths = [f'{r.id}_{r.gender}_{r.race}_{r.age}' for r in tr.itertuples()]
    assert len(set(paths)) == len(paths)
    plain = pd.DataFrame({'id': ['a', 'b', 'c', 'd'], 'gender': ['male', 'female', 'male', 'female'], 'race': ['Asian'] * 4, 'age': [20, 30, 40, 50]})
    assert share_one_id(plain) == 1 and list(plain.id) == ['a', 'b', 'c', 'b']   # as before: the third from last

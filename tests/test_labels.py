import numpy as np, pandas as pd, pytest
from maskfast.data.labels import encode, decode, class_name, age_group, relabel_ages, drop_age_boundary, load_label_fixes, apply_label_fixes

def test_round_trip_all_18():
    for c in range(18):
        m, g, a = decode(c)
        assert encode(m, g, a) == c
    assert class_name(0) == 'wear/male/<30' and class_name(17) == 'normal/female/>=60'
    arr = np.arange(18)
    assert (encode(*decode(arr)) == arr).all()
    assert encode(2, 1, 2) == 17 and encode(1, 0, 1) == 7

def test_age_groups_and_relabel():
    assert list(age_group([18, 29, 30, 57, 58, 59, 60])) == [0, 0, 1, 1, 1, 1, 2]
    assert list(age_group([57, 58, 60], old_from=58)) == [1, 2, 2]
    df = pd.DataFrame({'age': [25, 58, 60], 'mask': [0, 1, 2], 'gender': [0, 1, 1]})
    r = relabel_ages(df, 58)
    assert list(r.age_group) == [0, 2, 2] and list(r.label) == [0, 11, 17]

def test_boundary_drop_touches_train_only():
    df = pd.DataFrame({'age': [20, 28, 29, 30, 45, 57, 59, 60]})
    kept = drop_age_boundary(df, np.arange(8))
    assert list(df.age[kept]) == [20, 30, 45, 60]

def _items():
    return relabel_ages(pd.DataFrame({'folder': ['a', 'a', 'b', 'c'], 'gender': [0, 0, 1, 1], 'age': [20, 20, 40, 50],
                                      'mask': [1, 2, 0, 2]}))

def test_label_fixes_csv_and_yaml(tmp_path):
    (tmp_path / 'f.csv').write_text('folder,fix,value\na,gender_swap,\na,mask_swap,\nb,age,60\n')
    (tmp_path / 'f.yaml').write_text('gender_swap: [a]\nmask_swap: [a]\nage: {b: 60}\n')
    for f in ('f.csv', 'f.yaml'):
        out = apply_label_fixes(_items(), tmp_path / f)
        assert list(out.gender) == [1, 1, 1, 1]
        assert list(out['mask']) == [2, 1, 0, 2]
        assert out.age[2] == 60 and out.age_group[2] == 2 and out.label[2] == encode(0, 1, 2)
        assert out.label[0] == encode(2, 1, 0)

def test_label_fixes_bad_input(tmp_path):
    (tmp_path / 'u.csv').write_text('folder,fix\nzzz,gender_swap\n')
    with pytest.raises(ValueError, match='zzz'): apply_label_fixes(_items(), tmp_path / 'u.csv')
    (tmp_path / 'k.csv').write_text('folder,fix\na,flip\n')
    with pytest.raises(ValueError, match='unknown fix'): load_label_fixes(tmp_path / 'k.csv')
    (tmp_path / 'n.csv').write_text('folder,fix,value\na,age,\n')
    with pytest.raises(ValueError, match='numeric'): load_label_fixes(tmp_path / 'n.csv')

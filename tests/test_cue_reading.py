import numpy as np, pandas as pd, pytest
from maskfast.data.ceiling import MASKS_OF_A_PERSON, person_cues
from maskfast.data.labels import encode, age_group
from maskfast.data.twin import CUES
from maskfast.experiments.cue_reading import READABLE, within_class_weights, cue_reading, read_cues

def test_twin_records_the_cues_it_drew(twin):
    sol = pd.read_csv(twin / 'eval' / 'solution.csv')
    cues = pd.read_csv(twin / 'eval' / 'cues.csv')
    assert list(cues.columns) == ['person', 'gender', 'age'] + CUES and sorted(cues.person) == sorted(sol.person.unique())
    m = sol.merge(cues, on='person')       # every photo's label agrees with its person's recorded gender and age
    assert (m.ans.values % 6 == encode(np.zeros(len(m), int), m.gender.values == 'female', age_group(m.age.values))).all()
    assert cues.long_hair.isin([0, 1]).all() and cues.rx.between(40, 120).all() and (cues.beard[cues.gender == 'female'] == 0).all()

def test_within_class_weights_hand_cases():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)); cls = np.repeat([0, 1], 100)
    x[:, 1] += x[:, 0]                                                   # a second cue that goes with the first
    w = within_class_weights(2 * x[:, 0] + cls * 7, x, cls)              # the output reads the first cue only
    assert w[0] == pytest.approx(1) and abs(w[1]) < 1e-9 and abs(w[2]) < 1e-9
    assert np.isnan(within_class_weights(cls * 1.0, x, cls)).all()       # the label only: nothing read within a class
    x[:100, 2] = 0                                                       # a cue constant in class 0 (a beard among women)
    w = within_class_weights(x[:, 2] + x[:, 0], x, cls)
    assert w[2] > 0.5 and not np.isnan(w).any()
    assert np.isnan(within_class_weights(x[:120, 0], x[:120], cls[:120])[2])   # class 1 too small (20): cue 2 never varies

def _photos(n=1500, seed=5):
    "n simulated people as an eval set of 7 photos each: their cues per photo, true 18-class labels, mask states."
    cues, people = person_cues(n, seed)
    idx = np.repeat(np.arange(n), 7); mask = np.tile(MASKS_OF_A_PERSON, n)
    female = (people.gender.values == 'female')[idx]; age = age_group(people.age.values)[idx]
    return cues.iloc[idx].reset_index(drop=True), encode(mask, female, age), female, age

def _probs(p_female, p_age, mask):
    "(N, 18) probabilities of a model sure of the mask, with P(female) and the age probabilities given."
    p = np.zeros((len(mask), 3, 2, 3))
    p[np.arange(len(mask)), mask] = np.stack([1 - p_female, p_female], 1)[:, :, None] * p_age[:, None, :]
    return p.reshape(len(mask), 18)

def test_cue_reading_tells_a_hair_only_model_from_the_ideal_observer():
    cues, y, female, age = _photos()
    mask = y // 6
    # a model that reads hair only: gender from its length, age from its greyness; it never looks at the face
    p_female = np.where(cues.long_hair.values == 1, 0.8, 0.3)
    grey = (cues.hair_r.values > 120).astype(float)
    p_age = np.stack([0.6 - 0.4 * grey, np.full(len(grey), 0.3), 0.1 + 0.4 * grey], 1)
    t = cue_reading(_probs(p_female, p_age, mask), y, cues, n_train=6000)
    assert list(t.columns) == ['gender_model', 'gender_ideal', 'age_model', 'age_ideal'] and list(t.index) == READABLE
    assert t.loc['long_hair', 'gender_model'] > 0.9 and abs(t.loc['rx', 'gender_model']) < 0.1
    assert t.loc['rx', 'gender_ideal'] < -0.2 and t.loc['brow', 'gender_ideal'] < -0.2    # the ideal reads face and brows
    assert t.loc['hair', 'age_model'] > 0.5 and abs(t.loc['wrinkles', 'age_model']) < 0.1 and abs(t.loc['wrinkle_dark', 'age_model']) < 0.1
    assert t.loc['wrinkles', 'age_ideal'] > 0.2 and t.loc['wrinkle_dark', 'age_ideal'] > 0.2   # and the wrinkles
    with pytest.raises(ValueError, match='one of each a photo'): cue_reading(_probs(p_female, p_age, mask)[:10], y, cues)
    with pytest.raises(ValueError, match='lacks'): cue_reading(_probs(p_female, p_age, mask), y, cues.drop(columns='rx'))

def test_read_cues_errors(twin, tmp_path):
    sol = pd.read_csv(twin / 'eval' / 'solution.csv')
    got = read_cues(twin, sol.ImageID[:5])
    cues = pd.read_csv(twin / 'eval' / 'cues.csv').set_index('person')
    assert np.allclose(got[CUES].values, cues.loc[sol.person[:5], CUES].values)
    with pytest.raises(ValueError, match='lacks 1 of the eval images'): read_cues(twin, ['nope.jpg'])
    (tmp_path / 'eval').mkdir(); sol.to_csv(tmp_path / 'eval' / 'solution.csv', index=False)
    with pytest.raises(FileNotFoundError, match='cues.csv not found'): read_cues(tmp_path, sol.ImageID[:5])
    cues.iloc[1:].to_csv(tmp_path / 'eval' / 'cues.csv')
    with pytest.raises(ValueError, match='lacks 1 person'): read_cues(tmp_path, sol.ImageID)

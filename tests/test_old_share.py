import numpy as np, pandas as pd, pytest
from maskfast.infer.old_share import parse_old_share, training_old_share, resolve_old_share, old_share_weight, call_old_share, OLD
from maskfast.infer.persons import person_consistency
from maskfast.data.labels import encode

def _voted(n=300, seed=0):
    "Person-voted probabilities (mask x gender x age per photo, people of 6 photos) with few >=60 calls."
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1] * 18, n) * np.where(np.isin(np.arange(18), OLD), 0.2, 1.0)
    return person_consistency(p / p.sum(1, keepdims=True), np.arange(n) // 6)

def test_call_old_share_hits_the_share_and_keeps_mask_and_gender():
    v = _voted()
    own = np.isin(v.argmax(1), OLD).mean()
    for share in (0.0, 0.02, 0.1, 0.3, 1.0):
        q, c = call_old_share(v, share)
        called = np.isin(q.argmax(1), OLD)
        assert called.sum() % 6 == 0 and abs(called.sum() - share * len(v)) <= 3    # a person's 6 photos move together
        assert np.allclose(q.sum(1), 1) and (q >= 0).all()
        assert (q.argmax(1) // 6 == v.argmax(1) // 6).all() and (q.argmax(1) // 3 % 2 == v.argmax(1) // 3 % 2).all()
        if share > own + 0.02: assert c > 1                                      # more >=60 calls than its own: weighted up
    q1, _ = call_old_share(v, 0.05); q2, _ = call_old_share(v, 0.2)
    assert (np.isin(q2.argmax(1), OLD) >= np.isin(q1.argmax(1), OLD)).all()

def test_old_share_weight_exact_on_distinct_rows():
    p = np.full((10, 18), 0.01); p[:, 0] = 0.5
    p[np.arange(10), 2] = np.linspace(0.05, 0.5, 10)     # rows with a growing >=60 probability, all called <30 now
    p /= p.sum(1, keepdims=True)
    for k in range(11):
        q, c = call_old_share(p, k / 10)
        assert list(np.flatnonzero(np.isin(q.argmax(1), OLD))) == list(range(10 - k, 10))   # the k most likely >=60 rows
    assert old_share_weight(p, 0.0) < old_share_weight(p, 0.5) < old_share_weight(p, 1.0)
    assert call_old_share(np.zeros((0, 18)), 0.1)[0].shape == (0, 18)          # nothing to predict: nothing moves

def test_parse_old_share_values_and_errors():
    assert parse_old_share('train') == ('times', 1.0) and parse_old_share('1.25x') == ('times', 1.25)
    assert parse_old_share('0.07') == ('fraction', 0.07) and parse_old_share(0) == ('fraction', 0.0)
    for bad in ('abc', '-0.1', '1.5', '0x', 'x', 'nanx', '-2x'):
        with pytest.raises(ValueError, match='old share must be'): parse_old_share(bad)

def test_training_old_share_from_the_run_folder(tmp_path):
    counts = np.arange(1, 19)
    pd.DataFrame({'train': counts, 'valid': counts}).to_csv(tmp_path / 'balance.csv')
    want = counts[OLD].sum() / counts.sum()
    assert training_old_share(tmp_path) == pytest.approx(want)
    assert resolve_old_share('train', [tmp_path, tmp_path]) == pytest.approx(want)
    assert resolve_old_share('2x', [tmp_path]) == pytest.approx(2 * want) and resolve_old_share('0.3', []) == 0.3
    with pytest.raises(FileNotFoundError, match='give --old-share as a fraction'): training_old_share(tmp_path / 'nowhere')
    pd.DataFrame({'train': [1, 2]}).to_csv(tmp_path / 'balance.csv')
    with pytest.raises(ValueError, match='18 classes'): training_old_share(tmp_path)

def test_predict_eval_with_old_share(twin, trained, capsys, tmp_path):
    from maskfast.infer.submission import predict_eval
    from maskfast.infer.config import PredictConfig
    from maskfast.predict import parser
    from maskfast.learn.config import parse_cli
    run = trained['run_dir']
    _, base = predict_eval([run], str(twin), None, tta=0, progress=False, precision='fp32', old_share='off')
    sub, probs = predict_eval([run], str(twin), str(tmp_path / 's.csv'), tta=0, progress=False, precision='fp32', old_share='0.5')
    assert np.isin(sub['ans'], OLD).mean() == pytest.approx(0.5, abs=0.1)          # 56 photos in groups of up to 7
    assert (sub['ans'].values // 6 == base.argmax(1) // 6).all()                      # mask states untouched
    assert 'called >=60 (target 50.0%' in capsys.readouterr().out
    sub_t, _ = predict_eval([run], str(twin), None, tta=0, progress=False, precision='fp32', old_share='train')
    want = training_old_share(run)
    assert abs(np.isin(sub_t['ans'], OLD).mean() - want) <= 7 / len(sub_t) + 1e-9
    assert PredictConfig(**parse_cli(parser(), ['--old-share', '1.25x'])).old_share == '1.25x'
    with pytest.raises(ValueError, match='old share must be'): PredictConfig(old_share='lots')

def test_the_fit_records_the_training_share_of_old_people(twin, trained, tmp_path):
    from maskfast.learn.runs import read_args
    from maskfast.data.layout import read_train
    run = trained['run_dir']
    people = read_train(twin, verbose=False).drop_duplicates('folder')
    recorded = read_args(run)['run']['old_share']
    assert recorded == pytest.approx((people['age'] >= 60).mean(), abs=0.02)   # the run's training people (val-as-train: all)
    assert training_old_share(run) == recorded
    # a run relabelled from 58 counts 58-59 as old in balance.csv; without run: old_share it is refused, not misread
    (tmp_path / 'model.json').write_text('{"old_from": 58}')
    pd.DataFrame({'train': np.arange(1, 19)}).to_csv(tmp_path / 'balance.csv')
    with pytest.raises(FileNotFoundError, match='relabelled ages from 58'): training_old_share(tmp_path)

def test_a_run_folder_without_a_record_predicts_by_arg_max_with_a_notice(twin, trained, tmp_path, capsys):
    import shutil
    from maskfast.infer.submission import predict_eval
    run = tmp_path / 'by_hand'; run.mkdir()
    for f in ('model.json', 'model.pth'): shutil.copy(f"{trained['run_dir']}/{f}", run / f)   # what a notebook writes
    sub, probs = predict_eval([run], str(twin), None, tta=0, progress=False, precision='fp32')
    assert "notice: >=60 called by the model's own arg-max, not --old-share 1.5x" in capsys.readouterr().out
    _, off = predict_eval([run], str(twin), None, tta=0, progress=False, precision='fp32', old_share='off')
    assert np.allclose(probs, off)
    _, frac = predict_eval([run], str(twin), None, tta=0, progress=False, precision='fp32', old_share='0.3')
    assert np.isin(frac.argmax(1), OLD).mean() == pytest.approx(0.3, abs=0.1)   # a fraction needs no record

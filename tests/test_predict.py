import json, shutil, subprocess, sys, numpy as np, pandas as pd, pytest, torch
from maskfast.infer.submission import predict_eval, predict_images, score_submission, check_submission, SubmissionError
from maskfast.infer.predict import soft_vote, hard_vote
from maskfast.infer.persons import person_consistency, group_people, thumb_features
from maskfast.data.labels import encode

def test_submission_format_and_order(twin, trained, tmp_path):
    out = tmp_path / 'sub.csv'
    sub, probs = predict_eval([trained['run_dir']], str(twin), str(out), tta=0, progress=False)
    info = pd.read_csv(twin / 'eval' / 'info.csv')
    disk = pd.read_csv(out)
    assert list(disk.columns) == ['ImageID', 'ans'] and list(disk.ImageID) == list(info.ImageID)
    assert disk.ans.between(0, 17).all() and (disk.ans.values == probs.argmax(1)).all()
    sub1, p1 = predict_eval([trained['run_dir']], str(twin), None, tta=1, progress=False)
    sub3, p3 = predict_eval([trained['run_dir']], str(twin), None, tta=3, progress=False)
    assert not np.allclose(probs, p1) and not np.allclose(p1, p3)
    assert np.allclose(p1.sum(1), 1, atol=1e-4)
    res = score_submission(out, twin / 'eval' / 'solution.csv')
    assert set(res) == {'Public', 'Private', 'All', 'tasks'} and res['All']['n'] == len(info)

def test_ensemble_of_the_same_run_is_the_run(twin, trained):
    _, p1 = predict_eval([trained['run_dir']], str(twin), None, tta=0, progress=False, precision='fp32')
    _, p2 = predict_eval([trained['run_dir']] * 2, str(twin), None, tta=0, progress=False, weighted=True, precision='fp32')
    assert np.allclose(p1, p2, atol=1e-5)   # fp32: CPU bf16 passes differ pass to pass (up to ~1e-2 on an AMX Xeon)

def test_vote_arithmetic():
    a = np.array([[0.6, 0.4, 0.0], [0.2, 0.3, 0.5]]); b = np.array([[0.0, 0.9, 0.1], [0.1, 0.1, 0.8]])
    c = np.array([[0.45, 0.55, 0.0], [0.9, 0.05, 0.05]])
    assert np.allclose(soft_vote([a, b]), (a + b) / 2)
    assert np.allclose(soft_vote([a, b], [3, 1]), (3 * a + b) / 4)
    assert list(soft_vote([a, b, c]).argmax(1)) == [1, 2]
    assert list(hard_vote([a, b, c]).argmax(1)) == [1, 2]            # votes: row0 0,1,1 -> 1; row1 2,2,0 -> 2
    assert list(hard_vote([a, b, c], [5, 1, 1]).argmax(1)) == [0, 2]
    assert list(hard_vote([a, b]).argmax(1)) == [1, 2]               # row0 tie 0 vs 1: mean prob 0.65 for 1 wins

def test_scorer_hand_cases(tmp_path):
    sol = pd.DataFrame({'ImageID': ['a', 'b', 'c', 'd'], 'ans': [0, 1, 1, 17], 'Usage': ['Public', 'Public', 'Private', 'Private']})
    perfect = sol[['ImageID', 'ans']].iloc[::-1]
    r = score_submission(perfect, sol)
    assert r['All']['f1'] == 1 and r['Public']['acc'] == 1 and r['Private']['n'] == 2
    half = perfect.assign(ans=[17, 0, 0, 0])   # d right, c wrong, b wrong, a right
    r = score_submission(half, sol)
    assert r['All']['acc'] == 0.5 and r['All']['f1'] == pytest.approx((0.5 + 0 + 1) / 3)   # F1 of 0, 1, 17
    for bad, msg in ((sol[['ImageID', 'ans']].iloc[:3], 'missing'), (pd.concat([perfect, perfect.iloc[:1]]), 'duplicated'),
                     (pd.concat([perfect, pd.DataFrame({'ImageID': ['z'], 'ans': [0]})]), 'not in the answer key'),
                     (perfect.assign(ans=[0, 1, 18, 17]), 'outside 0..17')):
        with pytest.raises(SubmissionError, match=msg): check_submission(bad, sol)
    perfect.to_csv(tmp_path / 's.csv', index=False); sol.to_csv(tmp_path / 'k.csv', index=False)
    r = subprocess.run([sys.executable, '-m', 'maskfast.score', str(tmp_path / 's.csv'), str(tmp_path / 'k.csv')], capture_output=True, text=True)
    assert 'All      macro F1 1.0000' in r.stdout
    sol.iloc[:2].to_csv(tmp_path / 'k2.csv', index=False)
    r = subprocess.run([sys.executable, '-m', 'maskfast.score', str(tmp_path / 's.csv'), str(tmp_path / 'k2.csv')], capture_output=True, text=True)
    assert r.returncode != 0 and 'not in the answer key' in r.stderr and 'Traceback' not in r.stderr

def test_predict_folder_with_broken_file(twin, trained, tmp_path):
    d = tmp_path / 'imgs'; shutil.copytree(next((twin / 'train' / 'images').iterdir()), d)
    (d / 'broken.jpg').write_bytes(b'not a jpeg'); (d / 'notes.txt').write_text('hi')
    df = predict_images([trained['run_dir']], [d, tmp_path / 'missing.jpg'], str(tmp_path / 'p.csv'))
    names = set(pd.read_csv(tmp_path / 'p.csv').file.map(lambda f: f.split('/')[-1]))
    assert 'broken.jpg' not in names and 'notes.txt' not in names and len(df) == 7
    assert set(df['mask']) <= {'wear', 'incorrect', 'normal'} and df.prob.between(0, 1).all(), df.to_string()

def test_predict_cli_precision_reaches_the_model(twin, trained, tmp_path, capsys):
    from maskfast.predict import main
    from maskfast.infer.submission import ensemble_probs
    photos = sorted((twin / 'eval' / 'images').glob('*.jpg'))[:3]
    main([trained['run_dir'], '--images', *map(str, photos), '--precision', 'fp32', '--tta', '0', '--out', str(tmp_path / 'p.csv')])
    ref = ensemble_probs([trained['run_dir']], photos, 'images', 0, 'soft', precision='fp32')[0]
    df = pd.read_csv(tmp_path / 'p.csv')   # fp32 both ways: the same probabilities on any CPU
    assert list(df['class']) == list(ref.argmax(1)) and np.allclose(df.prob, ref.max(1) / ref.sum(1), atol=1e-4)
    with pytest.raises(SystemExit): main([trained['run_dir'], '--images', str(photos[0]), '--precision', 'fp8'])
    assert 'fp8' in capsys.readouterr().err

def test_an_unknown_precision_is_refused_by_the_api_too(trained):
    "Not only the CLIs: the library's own entry points (the service's Predictor among them) name the bad value."
    from maskfast.learn.callbacks import pick_precision
    from maskfast.infer.service import Predictor
    for bad in ('fp8', 'FP32', None):
        with pytest.raises(ValueError, match='not one of auto, fp32, bf16, fp16'): pick_precision(bad)
    with pytest.raises(ValueError, match="precision 'half'"): Predictor([trained['run_dir']], precision='half')
    assert pick_precision('fp32') == 'fp32' and pick_precision('auto', 'cpu') in ('bf16', 'fp32')

def test_person_consistency_votes_gender_age_keeps_mask():
    probs = np.full((3, 18), 1e-4)
    probs[0, encode(0, 1, 1)] = 1; probs[1, encode(2, 1, 1)] = 1; probs[2, encode(1, 0, 0)] = 0.5; probs[2, encode(1, 1, 1)] = 0.4
    out = person_consistency(probs / probs.sum(1, keepdims=True), np.array([0, 0, 0]))
    assert list(out.argmax(1)) == [encode(0, 1, 1), encode(2, 1, 1), encode(1, 1, 1)]
    assert np.allclose(out.sum(1), 1) and (out.max(1) < 0.9).all()   # a distribution: one dissenting photo lowers the confidence
    alone = person_consistency(probs / probs.sum(1, keepdims=True), np.arange(3))   # groups of one change nothing
    assert list(alone.argmax(1)) == list(probs.argmax(1))

def test_person_vote_weights_photos_by_mask_state():
    from maskfast.infer.config import PredictConfig
    from maskfast.predict import parser
    from maskfast.learn.config import parse_cli
    probs = np.full((4, 18), 1e-4)                                   # three masked photos lean male, the unmasked one is sure of female
    for i in range(3): probs[i, encode(0, 0, 1)] = 0.8; probs[i, encode(0, 1, 1)] = 0.2
    probs[3, encode(2, 1, 1)] = 1
    probs /= probs.sum(1, keepdims=True); g = np.zeros(4, int)
    plain = person_consistency(probs, g)
    assert [p // 3 % 2 for p in plain.argmax(1)] == [0] * 4              # equal weights: male, 3 photos to 1
    assert np.allclose(person_consistency(probs, g, (2, 2, 2)), plain)   # only the ratios count
    heavy = person_consistency(probs, g, (1, 1, 3))
    assert list(heavy.argmax(1)) == [encode(0, 1, 1)] * 3 + [encode(2, 1, 1)]   # the unmasked face outweighs them; masks kept
    for bad in ((1, 1), (1, 0, 3), (1, -1, 3), ('a', 1, 1)):
        with pytest.raises(ValueError, match='vote weights must be 3'): person_consistency(probs, g, bad)
    assert PredictConfig(**parse_cli(parser(), ['--vote-weights', '1', '1', '3'])).vote_weights == (1., 1., 3.)
    assert PredictConfig().vote_weights == (1., 1., 3.)                  # the default since stop 41 (README)
    assert PredictConfig(**parse_cli(parser(), ['--vote-weights', '1', '1', '1'])).vote_weights == (1., 1., 1.)
    with pytest.raises(ValueError, match='3 positive numbers'): PredictConfig(vote_weights=(1, 1, 0))

def test_grouping_finds_people(twin):
    from maskfast.data.cache import build_cache
    from maskfast.data.layout import read_train
    df = read_train(twin, verbose=False)
    c = build_cache(df.file, (64, 48), name='g', verbose=False, progress=False)
    g = group_people(thumb_features(c), min_sim=0.8)
    same = [len(set(g[df.folder.values == f])) for f in df.folder.unique()]
    assert np.mean(same) < 3          # photos of one person mostly land in one group
    assert len(np.unique(g)) > df.folder.nunique() * 0.8

def test_predict_without_cache_is_the_same(twin, trained):
    _, p1, im1, g1 = predict_eval([trained['run_dir']], str(twin), None, tta=1, progress=False, return_cache=True, precision='fp32')
    _, p2, im2, g2 = predict_eval([trained['run_dir']], str(twin), None, tta=1, progress=False, cache=False, return_cache=True,
                                  precision='fp32')
    rows = np.arange(len(im1))
    assert np.array_equal(im1.read(rows), im2.read(rows)) and (g1 == g2).all()   # the same pixels, so the same groups
    # fp32: CPU bf16 passes differ pass to pass even from the same pixels (a 5e-3 tolerance failed 1 run in 3 on stop
    # 35's AMX Xeon: one bf16 step of a logit near 4 moves a probability by up to ~1e-2)
    assert np.allclose(p1, p2, atol=1e-5)

class _NaNUnderAutocast(torch.nn.Module):
    "A model whose low-precision outputs are NaN (what a bf16 overflow or kernel glitch gives)."
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, x):
        out = self.m(x)
        return out * float('nan') if torch.is_autocast_enabled('cpu') else out

def test_non_finite_low_precision_batches_are_redone_in_fp32(twin, trained, capsys):
    from maskfast.learn.runs import load_model
    from maskfast.data.cache import build_cache
    from maskfast.infer.predict import predict_cache
    from maskfast.data.layout import read_eval
    model, cfg = load_model(trained['run_dir'], torch.device('cpu'))
    cache = build_cache(read_eval(twin)['file'], cfg['size'], cfg['crop'], name='eval', verbose=False, progress=False)
    p = predict_cache(_NaNUnderAutocast(model), cfg, cache, tta=1, precision='bf16')
    assert np.isfinite(p).all() and 'predicted in fp32' in capsys.readouterr().out
    assert np.allclose(p, predict_cache(model, cfg, cache, tta=1, precision='fp32'), atol=1e-6)

def test_micro_batcher_merges_concurrent_callers_and_keeps_their_answers():
    import threading, time
    from concurrent.futures import ThreadPoolExecutor
    from maskfast.infer.service import MicroBatcher
    calls, gate = [], threading.Event()
    def square(xs):
        calls.append(list(xs)); gate.wait(5); time.sleep(0.05)
        if -1 in xs: raise ValueError('bad item')
        return [x * x for x in xs]
    b = MicroBatcher(square, max_items=4)
    with ThreadPoolExecutor(6) as ex:
        futs = [ex.submit(b, [i]) for i in range(6)]
        time.sleep(0.3); gate.set()                       # the others queue while the first batch runs
        assert [f.result()[0] for f in futs] == [i * i for i in range(6)]   # each caller gets its own answer
    assert len(calls) < 6 and max(map(len, calls)) <= 4   # merged, never over max_items
    with pytest.raises(ValueError, match='bad item'): b([-1, 2])   # the error reaches its caller
    assert b([4]) == [16]                                           # and the batcher keeps serving

def test_views_in_one_batch_equal_views_one_at_a_time(twin, trained):
    from maskfast.learn.runs import load_model
    from maskfast.data.cache import build_cache
    from maskfast.infer.predict import predict_cache
    from maskfast.data.layout import read_eval
    model, cfg = load_model(trained['run_dir'], torch.device('cpu'))
    cache = build_cache(read_eval(twin)['file'][:6], cfg['size'], cfg['crop'], name='eval6', verbose=False, progress=False)
    for tta in (1, 3):   # one chunk of 6 photos either way: bs 6 * (1 + tta) sends all views as one batch, one less view by view
        bs = 6 * (1 + tta)
        assert np.allclose(predict_cache(model, cfg, cache, tta=tta, bs=bs, precision='fp32'),
                           predict_cache(model, cfg, cache, tta=tta, bs=bs - 1, precision='fp32'), atol=1e-5)

def test_predict_eval_returns_the_groups_it_voted_over(twin, trained):
    from maskfast.data.labels import decode
    sub, probs, images, groups = predict_eval([trained['run_dir']], str(twin), None, tta=0, progress=False,
                                              consistency=True, group_by='features', return_cache=True)
    assert len(groups) == len(sub) == len(images.index) and len(set(groups)) < len(groups)
    _, g, a = decode(sub['ans'].values)
    for grp in set(groups):        # one gender and one age per group of photos: the vote used these groups
        members = groups == grp
        assert len(set(g[members])) == 1 and len(set(a[members])) == 1
    assert predict_eval([trained['run_dir']], str(twin), None, tta=0, progress=False, return_cache=True,
                        consistency=False)[3] is None

def test_headroom_hand_cases():
    from maskfast.experiments.headroom import weighted_decision, tune_class_weights, pool_persons, headroom
    p = np.zeros((2, 18)); p[:, 1], p[:, 2] = 0.6, 0.4                  # mask wear, male: 30-59 over >=60
    assert list(weighted_decision(p, np.ones(6))) == [1, 1]
    assert list(weighted_decision(p, [1, 1, 2, 1, 1, 1])) == [2, 2]     # >=60 weighted x2: 0.8 > 0.6
    # 18 classes, 2 photos each; the >=60 ones read as 30-59 at 0.6 / 0.4: argmax misses them, weights find them
    y = np.repeat(np.arange(18), 2); q = np.full((36, 18), 1e-3); q[np.arange(36), y] = 1
    old = y % 3 == 2; q[old, y[old]] = 0.4; q[old, y[old] - 1] = 0.6
    w = tune_class_weights(q, y)
    assert (w[[2, 5]] / w[[1, 4]] > 1.5).all() and (weighted_decision(q, w) == y).all() and not (q.argmax(1) == y).all()
    # a person's two photos: one says female (0.9), one male (0.4 female); pooled both female, each keeps its mask
    g = np.zeros((2, 18)); g[0, 6 * 0 + 3] = 0.9; g[0, 0] = 0.1; g[1, 6 * 2 + 3] = 0.4; g[1, 6 * 2 + 0] = 0.6
    pooled = pool_persons(g, ['a', 'a'])
    assert list(pooled.argmax(1)) == [3, 15] and np.allclose(pooled.sum(1), 1)
    assert list(pool_persons(g, ['a', 'b']).argmax(1)) == [3, 12]      # apart, the second stays male
    r = headroom(q, y, np.arange(36) // 2)
    assert r['argmax'] < 1 and r['pooled_persons'] == r['argmax'] and set(r) == {'argmax', 'tuned_weights', 'argmax_same_halves', 'pooled_persons', 'gender_by_mask'}
    assert r['gender_by_mask'] == {0: 1.0, 1: 1.0, 2: 1.0}              # the flips are all in age

def test_headroom_of_a_run(twin, trained, tmp_path):
    from maskfast.experiments.headroom import run_headroom
    from maskfast.experiments.cue_reading import READABLE
    from maskfast.infer.persons import person_consistency
    r = run_headroom(trained['run_dir'], str(twin), tta=0, ideal_people=2000, save=tmp_path / 'kept')
    assert list(r['cues'].index) == READABLE and r['cues']['gender_model'].notna().any()    # what it reads (eval/cues.csv)
    assert 'cues' not in run_headroom(trained['run_dir'], str(twin), tta=0, cues=False)
    # score what the pass saved: two passes under CPU bf16 autocast differ by up to ~1e-3, enough to flip a near tie
    npz, kept = np.load(tmp_path / 'kept' / 'eval_probs.npz'), json.loads((tmp_path / 'kept' / 'headroom.json').read_text())
    sol = pd.read_csv(twin / 'eval' / 'solution.csv')
    m = pd.read_csv(twin / 'eval' / 'info.csv')[['ImageID']].merge(sol, on='ImageID')
    probs, groups = npz['probs'].astype(np.float64), npz['groups']
    assert list(npz['image_id']) == list(m.ImageID) and len(groups) == len(m)
    _, fresh = predict_eval([trained['run_dir']], str(twin), None, tta=0, progress=False, consistency=False, old_share='off')   # per photo
    assert np.allclose(probs, fresh, atol=2e-2)   # a pass of its own: bf16 differs pass to pass (test above)
    from sklearn.metrics import f1_score
    assert r['argmax'] == pytest.approx(f1_score(m.ans, probs.argmax(1), average='macro', labels=range(18), zero_division=0))
    assert all(0 <= v <= 1 for v in [*r.values()][:4]) and set(r['gender_by_mask']) == {0, 1, 2}
    from maskfast.infer.old_share import call_old_share, training_old_share
    voted, _ = call_old_share(person_consistency(probs, groups, (1, 1, 3)), 1.5 * training_old_share(trained['run_dir']))
    for k, p in (('photo', probs), ('voted', voted)):   # the numbers `maskfast.score` gives; voted: predict's default decision
        want = score_submission(pd.DataFrame({'ImageID': m.ImageID, 'ans': p.argmax(1)}), sol)
        assert r['scores'][k] == pytest.approx({'f1': want['All']['f1'], **want['tasks']})
    assert r['scores']['voted'] != r['scores']['photo'] and -1 <= r['grouping_ari'] <= 1
    _, _, _, pred_groups = predict_eval([trained['run_dir']], str(twin), None, tta=0, progress=False, return_cache=True)
    assert (pred_groups == groups).all()   # the same groups predict votes over by default
    assert all(kept['scores'][k] == pytest.approx(r['scores'][k]) for k in ('photo', 'voted')) and kept['argmax'] == pytest.approx(r['argmax'])
    assert kept['cues']['age_ideal']['wrinkles'] == pytest.approx(r['cues'].loc['wrinkles', 'age_ideal'])
    root = tmp_path / 'nokey'; shutil.copytree(twin / 'eval', root / 'eval')
    sol.drop(columns='person').to_csv(root / 'eval' / 'solution.csv', index=False)
    with pytest.raises(ValueError, match='person'): run_headroom(trained['run_dir'], str(root))
    (root / 'eval' / 'solution.csv').unlink()
    with pytest.raises(FileNotFoundError, match='solution.csv not found'): run_headroom(trained['run_dir'], str(root))
    run = tmp_path / 'run'; shutil.copytree(trained['run_dir'], run)   # --save writes into the run folder
    out = subprocess.run([sys.executable, '-m', 'maskfast.headroom', str(run), '--data', str(twin), '--tta', '0',
                          '--ideal-people', '2000', '--save'], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    c = json.loads((run / 'headroom.json').read_text())   # its own pass, printed and kept
    assert f"argmax decision             macro F1 {c['argmax']:.4f}" in out.stdout and "pooled macro F1" in out.stdout and "by mask state  worn" in out.stdout
    assert 'what the model reads' in out.stdout and 'wrinkle_dark' in out.stdout and (run / 'eval_probs.npz').exists()
    assert f"as predict decides         macro F1 {c['scores']['voted']['f1']:.4f}" in out.stdout
    assert f"each photo alone          macro F1 {c['scores']['photo']['f1']:.4f}" in out.stdout
    assert f"adjusted Rand {c['grouping_ari']:.3f}" in out.stdout and f'wrote {run}/headroom.json' in out.stdout

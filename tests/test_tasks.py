"Single-task models (--task mask|gender|age): trained alone, combined by predict into the 18 classes."
import numpy as np, pandas as pd, pytest, torch
from conftest import TINY
from maskfast.learn.train import fit_run
from maskfast.infer.submission import predict_eval, ensemble_probs
from maskfast.infer.predict import predict_cache, combine_tasks
from maskfast.data.cache import build_cache
from maskfast.data.layout import read_eval
from maskfast.learn.runs import load_model

@pytest.fixture(scope='module')
def task_runs(twin, tmp_path_factory):
    out = tmp_path_factory.mktemp('tasks')
    return {t: fit_run(data=str(twin), out=str(out / t), task=t, **TINY) for t in ('mask', 'gender', 'age')}

def test_task_runs_record_their_task(task_runs):
    for t, res in task_runs.items():
        hist = pd.read_csv(f'{res["run_dir"]}/history.csv')
        assert {f'acc_{t}', f'f1_{t}'} <= set(hist.columns) and 'f1_macro' not in hist.columns
        model, cfg = load_model(res['run_dir'], torch.device('cpu'))
        assert cfg['task'] == t and model.eval()(torch.zeros(1, 3, 64, 32)).shape[-1] == {'mask': 3, 'gender': 2, 'age': 3}[t]
        vp = pd.read_csv(f'{res["run_dir"]}/valid_preds.csv')
        assert vp.true.max() < cfg_n(t) and res['f1'] == pytest.approx(res[f'f1_{t}'])

def cfg_n(t): return {'mask': 3, 'gender': 2, 'age': 3}[t]

def test_predict_combines_one_run_per_task(twin, task_runs):
    runs = [r['run_dir'] for r in task_runs.values()]
    # fp32 on both sides: CPU bf16 passes differ (once a whole row, on stop 35's AMX Xeon in the full suite)
    sub, probs = predict_eval(runs, str(twin), None, tta=0, progress=False, consistency=False, precision='fp32', old_share='off')
    assert probs.shape == (len(sub), 18) and np.allclose(probs.sum(1), 1, atol=1e-4)
    files = read_eval(twin)['file']
    per = {}
    for t, r in task_runs.items():
        model, cfg = load_model(r['run_dir'])
        per[t] = predict_cache(model, cfg, build_cache(files, cfg['size'], cfg['crop'], name='eval', verbose=False, progress=False),
                               tta=0, precision='fp32')
    assert np.allclose(probs, combine_tasks(per), atol=1e-5)       # p(m) p(g) p(a)
    assert (sub.ans.values == probs.argmax(1)).all()

def test_mixing_or_missing_tasks_is_refused(twin, trained, task_runs):
    files = read_eval(twin)['file']
    with pytest.raises(ValueError, match='cannot mix'):
        ensemble_probs([task_runs['mask']['run_dir'], trained['run_dir']], files)
    with pytest.raises(ValueError, match=r"no run for \['age'\]"):
        ensemble_probs([task_runs['mask']['run_dir'], task_runs['gender']['run_dir']], files)

def test_load_learner_of_a_task_run_says_the_task_word(twin, task_runs):
    from maskfast import load_learner
    word, i, p = load_learner(task_runs['gender']['run_dir'], device='cpu').predict(read_eval(twin)['file'][0])
    assert word in ('male', 'female') and p.shape == (2,) and word == ('male', 'female')[int(i)]

"Recipes (named or from a file, explicit options win) and optuna sweeps (SQLite study, continued, killed)."
import json, os, signal, subprocess, sys, time
import pandas as pd, pytest, yaml
from maskfast.learn.recipes import recipe_config, recipe_options, write_recipe
from maskfast import fit as fit_cli
from maskfast.learn.config import parse_cli

def test_recipe_file_under_explicit_options(tmp_path):
    f = write_recipe(tmp_path / 'r.yaml', {'lr': 0.004, 'size': (96, 64), 'loss': 'focal'}, 'a comment')
    cfg = recipe_config(recipe=str(f), loss='ce')
    assert cfg.lr == 0.004 and cfg.size == (96, 64) and cfg.loss == 'ce' and cfg.recipe == str(f)
    given = parse_cli(fit_cli.parser(), ['--recipe', str(f), '--size', '128', '96'])
    assert recipe_config(**given).size == (128, 96) and recipe_config(**given).lr == 0.004
    (tmp_path / 'bad.yaml').write_text('lrr: 0.1\n')
    with pytest.raises(ValueError, match='did you mean lr'): recipe_options(str(tmp_path / 'bad.yaml'))
    with pytest.raises(ValueError, match='neither a recipe'): recipe_options('defualt')
    assert recipe_config().recipe == 'default' and recipe_options('default') == {}

ARGS = ['--epochs', '1', '--size', '64', '32', '--bs', '16', '--folds', '4', '--precision', 'fp32', '--quiet', '--lr', '1e-3']

def _sweep(twin, out, trials, wait=True, extra=()):
    cmd = [sys.executable, '-m', 'maskfast.sweep', '--data', str(twin), '--trials', str(trials), '--out', str(out), *ARGS, *extra]
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    if wait: return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

def test_sweep_writes_study_trials_plots_best_recipe_and_continues(twin, tmp_path):
    pytest.importorskip('optuna', reason="the 'sweep' extra is not installed: pip install -e '.[sweep]'")
    out = tmp_path / 'sw'
    r = _sweep(twin, out, 2)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'trial 1 of 2' in r.stdout and 'trial 2 of 2' in r.stdout
    t = pd.read_csv(out / 'trials.csv')
    assert len(t) == 2 and (t.state == 'COMPLETE').all() and t.valid_f1.between(0, 1).all()
    assert 'size' not in t.columns and {'weighted', 'loss', 'aug', 'old_from', 'head'} <= set(t.columns)   # typed: fixed
    assert all((out / f'trial{i:03d}' / 'model.pth').exists() for i in t.number)
    assert all(json.loads((out / f'trial{i:03d}' / 'result.json').read_text())['holdout'] for i in t.number)   # scored on a hold-out
    assert (out / 'history.png').stat().st_size > 1000 and (out / 'importance.png').stat().st_size > 1000
    best = yaml.safe_load((out / 'best_recipe.yaml').read_text())
    assert best['size'] == [64, 32] and 'train_all' not in best and best['loss'] == t.loc[t.valid_f1.idxmax(), 'loss']
    cfg = recipe_config(recipe=str(out / 'best_recipe.yaml'))
    assert cfg.head == t.loc[t.valid_f1.idxmax(), 'head']
    r = _sweep(twin, out, 3)                                   # the same DIR continues the study
    assert r.returncode == 0 and '2 finished trial(s)' in r.stdout and 'trial 3 of 3' in r.stdout, r.stdout[-2000:]
    assert len(pd.read_csv(out / 'trials.csv')) == 3
    r = _sweep(twin, out, 3, extra=['--train-all'])
    assert r.returncode != 0 and 'leaves none' in r.stderr

def test_killed_sweep_loses_only_the_running_trial(twin, tmp_path):
    pytest.importorskip('optuna', reason="the 'sweep' extra is not installed: pip install -e '.[sweep]'")
    out = tmp_path / 'k'
    proc = _sweep(twin, out, 5, wait=False)
    t0 = time.time()
    def rows(): return len(pd.read_csv(out / 'trials.csv')) if (out / 'trials.csv').exists() else 0
    while rows() < 1 and proc.poll() is None and time.time() - t0 < 300: time.sleep(0.1)
    time.sleep(1.0)                                            # inside the next trial's fit
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the sweep finished before it could be killed'
    kept = rows()
    r = _sweep(twin, out, kept + 1)
    assert r.returncode == 0 and 'marked failed' in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    t = pd.read_csv(out / 'trials.csv')
    assert (t.state == 'COMPLETE').sum() == kept + 1 and (t.state == 'FAIL').sum() <= 1

def test_sweep_logs_each_trial_to_wandb_offline(twin, tmp_path):
    pytest.importorskip('optuna', reason="the 'sweep' extra is not installed: pip install -e '.[sweep]'")
    pytest.importorskip('wandb', reason="the 'wandb' extra is not installed: pip install -e '.[wandb]'")
    out = tmp_path / 'w'
    r = subprocess.run([sys.executable, '-m', 'maskfast.sweep', '--data', str(twin), '--trials', '2', '--out', str(out), '--wandb', *ARGS],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, 'PYTHONWARNINGS': 'ignore', 'WANDB_MODE': 'offline', 'WANDB_SILENT': 'true'})
    assert r.returncode == 0, r.stderr[-3000:]
    runs = [p for p in (out / 'wandb').glob('offline-run-*') if list(p.glob('*.wandb'))]
    assert len(runs) == 2                                          # one W&B run per trial

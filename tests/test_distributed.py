"Two CPU processes under torchrun: same weights on both ranks, one run folder written by rank 0 only."
import json, math, os, re, subprocess, sys
import pandas as pd, pytest, torch
from maskfast.learn.distrib import is_distributed, broadcast_object, main_first, world_size
from maskfast.learn.runs import load_model
from maskfast.learn.train import weights_digest

def test_single_process_helpers_are_no_ops():
    assert not is_distributed() and world_size() == 1 and broadcast_object({'a': 1}) == {'a': 1}
    with main_first(): pass

def test_two_cpu_processes(twin, tmp_path):
    pytest.importorskip('accelerate', reason="the 'dist' extra is not installed: pip install -e '.[dist]'")
    # no --lr/--epochs: lr_find and the epoch plan run on both ranks (the LRFinder patch, rank 0's decisions broadcast)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--standalone', '-m', 'maskfast.fit',
           '--data', str(twin), '--size', '64', '32', '--bs', '16', '--budget', '20', '--precision', 'fp32', '--folds', '4', '--quiet']
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=420, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    digests = dict(re.findall(r'rank (\d)/2: weights sha1 ([0-9a-f]{40})', out))
    assert set(digests) == {'0', '1'}, out[-2000:]
    assert digests['0'] == digests['1'], 'the two ranks ended with different weights'
    runs = list((tmp_path / 'runs').iterdir())
    assert len(runs) == 1, f'expected one run folder, got {runs}'   # rank 1 made none of its own
    run = runs[0]
    res = json.loads((run / 'result.json').read_text())
    assert res['world_size'] == 2 and res['weights_sha1'] == digests['0']
    model, _ = load_model(run, torch.device('cpu'))
    assert weights_digest(model) == digests['0']            # the saved model is the weights both ranks hold
    hist = pd.read_csv(run / 'history.csv')
    assert list(hist['epoch']) == list(range(math.ceil(res['epochs']))) and hist['train_loss'].notna().all()   # a row per epoch (the last may be part of one), not per rank
    vp = pd.read_csv(run / 'valid_preds.csv')
    assert len(vp) == vp['file'].nunique() == pd.read_csv(run / 'balance.csv')['valid'].sum()   # gathered once, padding dropped
    assert sorted(p.name for p in run.iterdir() if p.name.startswith('tmp')) == []   # no lr_find scratch left behind

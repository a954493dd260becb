import atexit, os, shutil, tempfile, warnings
if 'MASKFAST_HOME' not in os.environ:   # the session's own caches, removed when it ends (~10 MB a run, left behind before)
    os.environ['MASKFAST_HOME'] = tempfile.mkdtemp(prefix='maskfast-home-')
    atexit.register(shutil.rmtree, os.environ['MASKFAST_HOME'], ignore_errors=True)
os.environ.setdefault('WANDB_MODE', 'offline')
warnings.filterwarnings('ignore', category=DeprecationWarning)
import pytest
from maskfast.data.twin import make_twin

TINY = dict(size=(64, 32), bs=16, epochs=1, lr=1e-3, quiet=True, folds=4, precision='fp32')

@pytest.fixture(scope='session')
def twin(tmp_path_factory):
    "A tiny synthetic twin: 40 training people, 8 eval people (56 eval images)."
    return make_twin(tmp_path_factory.mktemp('twin'), people=40, eval_people=8, seed=3, mislabel=0.0, workers=2, progress=False)

@pytest.fixture(scope='session')
def trained(twin, tmp_path_factory):
    "One tiny finished run folder on the twin."
    from maskfast.learn.train import fit_run
    out = tmp_path_factory.mktemp('runs') / 'r0'
    res = fit_run(data=str(twin), out=str(out), **{**TINY, 'epochs': 2})
    return res

@pytest.fixture(scope='session')
def items(twin):
    "The twin's training items with src/row into one 64x32 cache: (items frame, [cache])."
    import numpy as np
    from maskfast.data.layout import read_train
    from maskfast.data.cache import build_cache
    df = read_train(twin, verbose=False)
    c = build_cache(df.file, (64, 32), name='t', verbose=False, progress=False)
    df['src'], df['row'] = 0, np.arange(len(df))
    return df, [c]

"""The run folder: args.yaml, history.csv, model.pth + model.json, plots, report.txt, valid_preds.csv; one writer, one reader."""
__all__ = ['versions', 'new_run_dir', 'write_args', 'read_args', 'read_config', 'write_model', 'load_model',
           'write_valid_preds', 'read_valid_preds', 'read_result', 'find_runs', 'run_data', 'run_crop']

import datetime, json
from pathlib import Path
import numpy as np, pandas as pd, torch
from .checkpoints import atomic_save
from .config import FitConfig, RunState
from .models import build_model, task_target

def versions():
    "Versions of the libraries a run depends on."
    import fastai, timm, albumentations
    from importlib.metadata import version, PackageNotFoundError
    try: mf = version('maskfast')
    except PackageNotFoundError: mf = 'not installed'
    return {'maskfast': mf, 'torch': str(torch.__version__), 'fastai': fastai.__version__,
            'timm': timm.__version__, 'albumentations': albumentations.__version__}

def new_run_dir(out=None, root='runs', prefix='run'):
    "`out` if given, else a new timestamped folder under `root`; created."
    p = Path(out) if out else Path(root) / f'{prefix}-{datetime.datetime.now():%Y%m%d-%H%M%S-%f}'
    p.mkdir(parents=True, exist_ok=True)
    return p

def write_args(run_dir, config, state=None, name='args.yaml'):
    "RUN_DIR/args.yaml: the config's options, what the run resolved (`run:`) and the library versions (`versions:`)."
    import yaml
    d = config.to_dict() if hasattr(config, 'to_dict') else dict(config)
    if state is not None: d['run'] = state.to_dict()
    d['versions'] = versions()
    tmp = Path(run_dir) / (name + '.tmp'); tmp.write_text(yaml.safe_dump(d, sort_keys=False)); tmp.replace(Path(run_dir) / name)

def read_args(run_dir, name='args.yaml'):
    "RUN_DIR/args.yaml as a plain dict."
    import yaml
    p = Path(run_dir) / name
    if not p.exists(): raise FileNotFoundError(f'{p} not found: {run_dir} is not a maskfast run folder')
    return yaml.safe_load(p.read_text()) or {}

_OLD_STATE = {'norm': 'norm', 'precision_used': 'precision', 'extra': 'extra'}   # keys older args.yaml kept at the top

def read_config(run_dir, cls=FitConfig, notice=print):
    """(config, RunState) of a run folder. A file written by an older maskfast (no `run:` section, resolved values
    at the top level) or a newer one (unknown keys) loads with defaults and a notice, never a KeyError."""
    d = read_args(run_dir); d.pop('versions', None)
    run = d.pop('run', None)
    if run is None:   # older layout: lr/epochs at the top were the resolved ones; norm/precision_used beside them
        run = {new: d.pop(old) for old, new in _OLD_STATE.items() if old in d}
        run.update(lr=d.get('lr'), epochs=d.get('epochs'), data=d.get('data'), size=d.get('size'))
    src = str(Path(run_dir) / 'args.yaml')
    return cls.from_dict(d, src, notice), RunState.from_dict(run, src + ' (run)', notice=_quiet)

def _quiet(*args): pass

def run_data(run_dir):
    "The data root a run trained on (the twin's path when its config left `data` unset)."
    cfg, state = read_config(run_dir, notice=_quiet)
    return state.data or cfg.data

def write_model(run_dir, model, config):
    "Best weights as a plain state dict (model.pth) plus what is needed to rebuild the model (model.json)."
    atomic_save(model.state_dict(), Path(run_dir) / 'model.pth')
    (Path(run_dir) / 'model.json').write_text(json.dumps(config, indent=1, default=_plain))

def load_model(run_dir, device=None):
    "(model in eval mode on `device` (a GPU when there is one), config) from RUN_DIR/model.json and model.pth, no unpickling."
    run_dir = Path(run_dir)
    for f in ('model.json', 'model.pth'):
        if not (run_dir / f).exists(): raise FileNotFoundError(f'{run_dir / f} not found: is {run_dir} a finished maskfast run?')
    cfg = json.loads((run_dir / 'model.json').read_text())
    model = build_model(cfg['arch'], cfg['head'], cfg.get('task', 'all'), cfg.get('age_head', 'class'), cfg.get('stem', 'plain'))
    model.load_state_dict(torch.load(run_dir / 'model.pth', map_location='cpu', weights_only=True))
    device = device or torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return model.to(device).eval(), cfg

def write_valid_preds(run_dir, items, probs, task='all'):
    """valid_preds.csv: image, person, true, predicted and the probabilities of the validation fold (18 classes, or
    the task's own labels and probabilities for a single-task run)."""
    probs = np.asarray(probs)
    true = items['label'].values if task == 'all' else task_target(items['label'].values, task)
    df = pd.DataFrame({'file': items['file'].values, 'person': items['folder'].values, 'true': true, 'pred': probs.argmax(1)})
    for c in range(probs.shape[1]): df[f'p{c}'] = probs[:, c].round(6)
    df.to_csv(Path(run_dir) / 'valid_preds.csv', index=False)
    return df

def read_valid_preds(run_dir):
    "(frame, probs) of RUN_DIR/valid_preds.csv."
    df = pd.read_csv(Path(run_dir) / 'valid_preds.csv')
    return df, df[[c for c in df.columns if c[0] == 'p' and c[1:].isdigit()]].values

def read_result(run_dir):
    "RUN/result.json's scores and facts as a dict ({} for a run without one, e.g. one still training)."
    f = Path(run_dir) / 'result.json'
    return json.loads(f.read_text()) if f.exists() else {}

def find_runs(paths):
    """Expand run folders and k-fold parents (folders whose sub-folders hold model.json) into run folders; a run with
    a refit on all people (RUN/full, from --full) stands for it."""
    out = []
    for p in map(Path, paths):
        if (p / 'full' / 'model.json').exists(): out.append(p / 'full')
        elif (p / 'model.json').exists(): out.append(p)
        else:
            subs = sorted(q.parent for q in p.glob('*/model.json'))
            if not subs: raise FileNotFoundError(f'{p}: neither a run folder (model.json) nor a parent of run folders')
            out += subs
    return out

def _plain(v):
    "JSON for numpy scalars, tuples and paths."
    if hasattr(v, 'item'): return v.item()
    return str(v)

def run_crop(model_cfg):
    "The crop of a run's model.json as the image sources take it: a share, 'face', or a box tuple."
    c = model_cfg.get('crop', 0.85)
    return tuple(c) if isinstance(c, list) else c

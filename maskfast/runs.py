"""The run folder: args.yaml, history.csv, model.pth + model.json, plots, report.txt, valid_preds.csv; one writer, one reader."""
__all__ = ['versions', 'new_run_dir', 'write_args', 'read_args', 'write_model', 'load_model', 'write_valid_preds',
           'read_valid_preds', 'find_runs']

import datetime, json
from pathlib import Path
import numpy as np, pandas as pd, torch
from .callbacks import atomic_save
from .models import build_model

def versions():
    "Versions of the libraries a run depends on."
    import fastai, timm, albumentations
    import maskfast
    return {'maskfast': maskfast.__version__, 'torch': str(torch.__version__), 'fastai': fastai.__version__,
            'timm': timm.__version__, 'albumentations': albumentations.__version__}

def new_run_dir(out=None, root='runs', prefix='run'):
    "`out` if given, else a new timestamped folder under `root`; created."
    p = Path(out) if out else Path(root) / f'{prefix}-{datetime.datetime.now():%Y%m%d-%H%M%S-%f}'
    p.mkdir(parents=True, exist_ok=True)
    return p

def _plain(v):
    if isinstance(v, (Path, str)): return str(v)
    if isinstance(v, (tuple, list)): return [_plain(x) for x in v]
    if isinstance(v, (np.integer,)): return int(v)
    if isinstance(v, (np.floating,)): return float(v)
    return v

def write_args(run_dir, args):
    "Write every option plus library versions to RUN_DIR/args.yaml."
    import yaml
    d = {k: _plain(v) for k, v in args.items()}
    d['versions'] = versions()
    (Path(run_dir) / 'args.yaml').write_text(yaml.safe_dump(d, sort_keys=False))

def read_args(run_dir):
    import yaml
    p = Path(run_dir) / 'args.yaml'
    if not p.exists(): raise FileNotFoundError(f'{p} not found: {run_dir} is not a maskfast run folder')
    return yaml.safe_load(p.read_text())

def write_model(run_dir, model, config):
    "Best weights as a plain state dict (model.pth) plus what is needed to rebuild the model (model.json)."
    atomic_save(model.state_dict(), Path(run_dir) / 'model.pth')
    (Path(run_dir) / 'model.json').write_text(json.dumps({k: _plain(v) for k, v in config.items()}, indent=1))

def load_model(run_dir, device=None):
    "(model in eval mode on `device` (a GPU when there is one), config) from RUN_DIR/model.json and model.pth, no unpickling."
    run_dir = Path(run_dir)
    for f in ('model.json', 'model.pth'):
        if not (run_dir / f).exists(): raise FileNotFoundError(f'{run_dir / f} not found: is {run_dir} a finished maskfast run?')
    cfg = json.loads((run_dir / 'model.json').read_text())
    model = build_model(cfg['arch'], cfg['head'])
    model.load_state_dict(torch.load(run_dir / 'model.pth', map_location='cpu', weights_only=True))
    device = device or torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return model.to(device).eval(), cfg

def write_valid_preds(run_dir, items, probs):
    "valid_preds.csv: image, person, true, predicted and the 18 probabilities of the validation fold."
    probs = np.asarray(probs)
    df = pd.DataFrame({'file': items['file'].values, 'person': items['folder'].values, 'true': items['label'].values,
                       'pred': probs.argmax(1)})
    for c in range(probs.shape[1]): df[f'p{c}'] = probs[:, c].round(6)
    df.to_csv(Path(run_dir) / 'valid_preds.csv', index=False)
    return df

def read_valid_preds(run_dir):
    "(frame, probs) of RUN_DIR/valid_preds.csv."
    df = pd.read_csv(Path(run_dir) / 'valid_preds.csv')
    return df, df[[f'p{c}' for c in range(18)]].values

def find_runs(paths):
    "Expand run folders and k-fold parents (folders whose sub-folders hold model.json) into run folders."
    out = []
    for p in map(Path, paths):
        if (p / 'model.json').exists(): out.append(p)
        else:
            subs = sorted(q.parent for q in p.glob('*/model.json'))
            if not subs: raise FileNotFoundError(f'{p}: neither a run folder (model.json) nor a parent of run folders')
            out += subs
    return out

"""A fastai Learner rebuilt from a run folder (its state dict and config, no pickle), ready for `learn.predict`."""
__all__ = ['load_learner']

from pathlib import Path
import torch
from fastai.learner import Learner
from ..data.block import inference_dataloaders
from ..data.progress import interactive
from ..learn.losses import make_loss
from ..learn.runs import load_model, run_crop

def load_learner(run_dir, device=None):
    """A fastai `Learner` for the run in `run_dir`, rebuilt from model.pth + model.json: nothing is unpickled, so
    nothing of the file runs as code. `learn.predict(path_or_array)` returns (the words as a `MaskClass`, e.g.
    'wear/female/30-59' with `.mask`/`.gender`/`.age`, the class id, the 18 probabilities), with the run's own crop,
    size and normalisation; `learn.dls.test_dl(items)` + `learn.get_preds(dl=...)` predicts many. `learn.export()`
    writes a pickle that fastai's `load_learner` reads."""
    run_dir = Path(run_dir)
    device = torch.device(device) if device else torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    model, cfg = load_model(run_dir, device)
    norm = cfg.get('norm', 'imagenet')
    mean, std = (None, None) if norm == 'imagenet' else (norm['mean'], norm['std'])
    task = cfg.get('task', 'all')
    dls = inference_dataloaders(tuple(cfg['size']), run_crop(cfg), mean, std, device, task, cfg.get('face_fallback'))
    learn = Learner(dls, model, loss_func=make_loss('ce', cfg['head'], task=task, age_head=cfg.get('age_head', 'class'),
                                                           old_from=cfg.get('old_from', 60)), path=run_dir, model_dir='.')
    if not interactive(): learn.remove_cbs(learn.progress)   # no redrawn bars in logs
    learn.run_config = cfg
    return learn

"""maskfast: fastai defaults for the 18-class face-mask / gender / age competition.

Layers, each a subpackage, imports pointing down only: `data` (labels, layout, twin, cache, splits, sampling,
augment, loader, block, items) <- `learn` (config, models, losses, metrics, callbacks, checkpoints, learner, budget,
train, runs, distrib) <- `infer` (predict, persons, submission, pseudo) <- `viz` (eda, gradcam) and `experiments`
(lessons, bench). The modules at the top (fit, predict, score, pseudo, synth, eda, bench) are the `python -m`
entry points. The names below are the ones a notebook starts from; they load on first use."""
__version__ = '0.1.0'
__all__ = ['FitConfig', 'PredictConfig', 'fit_run', 'fit_folds', 'mask_learner', 'mask_dataloaders', 'load_items',
           'read_train', 'read_eval', 'default_twin', 'make_twin', 'fold_indices', 'predict_eval', 'predict_images',
           'score_submission', 'pseudo_rounds', 'load_model', 'load_learner']

_WHERE = {'FitConfig': 'learn.config', 'PredictConfig': 'infer.config', 'fit_run': 'learn.train', 'fit_folds': 'learn.train',
          'mask_learner': 'learn.learner', 'mask_dataloaders': 'data.block', 'load_items': 'data.items',
          'read_train': 'data.layout', 'read_eval': 'data.layout', 'default_twin': 'data.twin', 'make_twin': 'data.twin',
          'fold_indices': 'data.splits', 'predict_eval': 'infer.submission', 'predict_images': 'infer.submission',
          'score_submission': 'infer.submission', 'pseudo_rounds': 'infer.pseudo', 'load_model': 'learn.runs',
          'load_learner': 'infer.load'}

import warnings
# fastai's layers build their jit-scripted activations at import, and torch 2.14 warns about every `torch.jit.script`
# (pytorch/pytorch#189914 made it a visible FutureWarning): two lines of noise at every start that no user can act on
warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)

def __getattr__(name):
    "Import the exported names lazily, so `python -m maskfast.synth` does not load fastai."
    if name not in _WHERE: raise AttributeError(f'module maskfast has no attribute {name!r}')
    import importlib
    return getattr(importlib.import_module(f'.{_WHERE[name]}', __name__), name)

def __dir__(): return sorted(list(globals()) + __all__)

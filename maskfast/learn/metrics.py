"""Macro F1 over the 18 classes and per task, as fastai metrics and plain functions."""
__all__ = ['macro_f1', 'task_f1', 'f1_macro', 'f1_mask', 'f1_gender', 'f1_age', 'acc18', 'acc_mask', 'acc_gender', 'acc_age',
           'mask_metrics', 'monitor_metric', 'TASK_INDEX', 'LabelMetric']

import numpy as np
from fastai.metrics import AccumMetric
from ..data.labels import decode
from .models import to_probs18

def macro_f1(y_true, y_pred):
    "sklearn macro F1 (zero_division=0) of integer labels."
    from sklearn.metrics import f1_score
    return float(f1_score(np.asarray(y_true), np.asarray(y_pred), average='macro', zero_division=0))

def task_f1(y_true, y_pred):
    "Macro F1 per task (mask, gender, age) of 18-class labels."
    t, p = decode(np.asarray(y_true)), decode(np.asarray(y_pred))
    return {k: macro_f1(a, b) for k, a, b in zip(('mask', 'gender', 'age'), t, p)}

def _pred(preds): return (preds if preds.shape[-1] == 18 else to_probs18(preds)).argmax(-1).numpy()
def _task(preds, targs, task):
    """(true, predicted) labels of `task`: from 18-class probabilities (or 8 multi-head logits), or a single-task
    model's own probabilities."""
    p = decode(_pred(preds))[TASK_INDEX[task]] if preds.shape[-1] in (8, 18) else preds.argmax(-1).numpy()
    return decode(targs.numpy())[TASK_INDEX[task]], p
def f1_macro(preds, targs): return macro_f1(targs.numpy(), _pred(preds))
def f1_mask(preds, targs): return macro_f1(*_task(preds, targs, 'mask'))
def f1_gender(preds, targs): return macro_f1(*_task(preds, targs, 'gender'))
def f1_age(preds, targs): return macro_f1(*_task(preds, targs, 'age'))
def acc18(preds, targs): return float((_pred(preds) == targs.numpy()).mean())
def acc_mask(preds, targs): t, p = _task(preds, targs, 'mask'); return float((t == p).mean())
def acc_gender(preds, targs): t, p = _task(preds, targs, 'gender'); return float((t == p).mean())
def acc_age(preds, targs): t, p = _task(preds, targs, 'age'); return float((t == p).mean())

TASK_INDEX = {'mask': 0, 'gender': 1, 'age': 2}
_TASK_METRICS = {'mask': (acc_mask, f1_mask), 'gender': (acc_gender, f1_gender), 'age': (acc_age, f1_age)}

class LabelMetric(AccumMetric):
    """A metric on the loss's probabilities (its activation: every head's outputs become 18-class or task
    probabilities) and the 18-class label, the first target (an age head adds the age as a second)."""
    def accumulate(self, learn):
        act = getattr(learn.loss_func, 'activation', None)
        self.accum_values(act(learn.pred) if act else learn.pred, learn.yb[0], learn)

def mask_metrics(task='all'):
    """The metrics every epoch: 18-class accuracy and macro F1, then per-task macro F1; for a single-task model its
    accuracy and macro F1 (`acc_{task}`, `f1_{task}`)."""
    fs = (acc18, f1_macro, f1_mask, f1_gender, f1_age) if task == 'all' else _TASK_METRICS[task]
    return [LabelMetric(f, flatten=False) for f in fs]

def monitor_metric(task='all'):
    "The metric the best model and early stopping follow: 18-class macro F1, or the task's."
    return 'f1_macro' if task == 'all' else f'f1_{task}'

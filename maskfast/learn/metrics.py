"""Macro F1 over the 18 classes and per task, as fastai metrics and plain functions."""
__all__ = ['macro_f1', 'task_f1', 'f1_macro', 'f1_mask', 'f1_gender', 'f1_age', 'acc18', 'mask_metrics']

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

def _pred(preds): return to_probs18(preds).argmax(-1).numpy()
def f1_macro(preds, targs): return macro_f1(targs.numpy(), _pred(preds))
def f1_mask(preds, targs): return task_f1(targs.numpy(), _pred(preds))['mask']
def f1_gender(preds, targs): return task_f1(targs.numpy(), _pred(preds))['gender']
def f1_age(preds, targs): return task_f1(targs.numpy(), _pred(preds))['age']
def acc18(preds, targs): return float((_pred(preds) == targs.numpy()).mean())

def mask_metrics():
    "The metrics every epoch: 18-class accuracy and macro F1, then per-task macro F1."
    return [AccumMetric(f, flatten=False) for f in (acc18, f1_macro, f1_mask, f1_gender, f1_age)]

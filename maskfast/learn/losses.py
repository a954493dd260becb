"""Losses on 18-class targets: CE, class-weighted CE, label smoothing, focal, soft-F1, weighted sums, per-task heads."""
__all__ = ['SoftF1Loss', 'FocalLoss', 'CombinedLoss', 'MultiTaskLoss', 'TaskLoss', 'parse_loss', 'make_loss']

import re, torch, torch.nn as nn, torch.nn.functional as F
from fastcore.basics import store_attr
from ..data.labels import boundary_mask
from .age_heads import OrdinalAgeLoss, GaussianAgeLoss, HybridAgeLoss, ClassOrdinalAgeLoss, SoftAgeGroupLoss
from .models import output_probs, task_target, TASKS
from .config import task_loss_specs, check_age_sigma

class SoftF1Loss(nn.Module):
    "1 - macro F1 computed on softmax probabilities (differentiable)."
    def __init__(self, n_classes=18, eps=1e-7): super().__init__(); store_attr()
    def forward(self, logits, y):
        p = F.softmax(logits.float(), -1); t = F.one_hot(y, self.n_classes).float()
        tp, fp, fn = (p * t).sum(0), (p * (1 - t)).sum(0), ((1 - p) * t).sum(0)
        return 1 - (2 * tp / (2 * tp + fp + fn + self.eps)).mean()

class FocalLoss(nn.Module):
    "Focal loss (Lin et al.) with optional class weights."
    def __init__(self, gamma=2.0, weight=None): super().__init__(); self.gamma = gamma; self.register_buffer('weight', weight)
    def forward(self, logits, y):
        logp = F.log_softmax(logits.float(), -1)
        ce = F.nll_loss(logp, y, weight=self.weight, reduction='none')
        pt = logp.gather(1, y[:, None])[:, 0].exp()
        return ((1 - pt) ** self.gamma * ce).mean()

class CombinedLoss(nn.Module):
    "Weighted sum of losses, e.g. 0.6 focal + 0.4 soft-F1."
    def __init__(self, parts): super().__init__(); self.ws = [w for w, _ in parts]; self.losses = nn.ModuleList([l for _, l in parts])
    def forward(self, logits, y): return sum(w * l(logits, y) for w, l in zip(self.ws, self.losses))

def _single(name, n, weight=None, smoothing=0.1, gamma=2.0):
    if name == 'ce': return nn.CrossEntropyLoss()
    if name == 'wce': return nn.CrossEntropyLoss(weight=weight)
    if name == 'smooth': return nn.CrossEntropyLoss(label_smoothing=smoothing)
    if name == 'focal': return FocalLoss(gamma)
    if name == 'f1': return SoftF1Loss(n)
    raise ValueError(f"unknown loss {name!r}; use ce, wce, smooth, focal, f1 or a sum like '0.6*focal+0.4*f1'")

def parse_loss(spec, n=18, weight=None, smoothing=0.1, gamma=2.0):
    "A loss module from a spec: 'ce' | 'wce' | 'smooth' | 'focal' | 'f1' | '0.6*focal+0.4*f1'."
    parts = []
    for term in spec.replace(' ', '').split('+'):
        m = re.fullmatch(r'(?:([0-9.]+)\*)?([a-z0-9]+)', term)
        if not m: raise ValueError(f'cannot parse loss term {term!r} in {spec!r}')
        parts.append((float(m[1] or 1), _single(m[2], n, weight, smoothing, gamma)))
    return parts[0][1] if len(parts) == 1 and parts[0][0] == 1 else CombinedLoss(parts)

def _age_targets(age_head, group, age, loss=None):
    """What an age head's loss takes: the age group ('class'), the age ('ordinal', 'regression') or both ('hybrid',
    'class-ordinal', and a class head's soft targets, `--age-sigma`: a `loss` that `takes_age`)."""
    if getattr(loss, 'takes_age', False):
        if age is None: raise ValueError('--age-sigma needs each item\'s age as a second target (extra_targets=("age",))')
        return (group, age)
    return (group,) if age_head == 'class' else (group, age) if age_head in ('hybrid', 'class-ordinal') else (age,)

class MultiTaskLoss(nn.Module):
    """Sum of per-task losses on 3 + 2 + age-head logits; the 18-class target is decoded into mask, gender and age
    group; an ordinal or regression age head learns from the person's `age` instead, a hybrid or class-ordinal one from both.
    `skip_ages` ((lo, hi), ...): items whose `age` lies in one of these inclusive bands count for mask and gender only."""
    skip_ages = None   # the class default: a loss pickled before --skip-boundary-age (`learn.export()`) has no such attribute
    def __init__(self, mask, gender, age, weights=(1., 1., 1.), age_head='class', skip_ages=None):
        super().__init__(); self.mask, self.gender, self.age, self.weights, self.age_head = mask, gender, age, weights, age_head
        self.skip_ages = skip_ages
    def forward(self, logits, y, age=None):
        wm, wg, wa = self.weights
        loss = wm * self.mask(logits[:, :3], y // 6) + wg * self.gender(logits[:, 3:5], (y // 3) % 2)
        la, ya, aa = logits[:, 5:], y % 3, age
        if self.skip_ages:
            if age is None: raise ValueError('skip_ages needs each item\'s age as a second target (extra_targets=("age",))')
            keep = ~boundary_mask(age.view(-1), self.skip_ages)
            if not keep.any(): return loss
            la, ya, aa = la[keep], ya[keep], age.view(-1)[keep]
        return loss + wa * self.age(la, *_age_targets(self.age_head, ya, aa, self.age))

class TaskLoss(nn.Module):
    "A loss on one task's logits; the 18-class target is decoded into that task's label (the person's age for an age head)."
    def __init__(self, task, loss, age_head='class'): super().__init__(); self.task, self.loss, self.age_head = task, loss, age_head
    def forward(self, logits, y, age=None):
        if self.task != 'age': return self.loss(logits, task_target(y, self.task))
        return self.loss(logits, *_age_targets(self.age_head, task_target(y, 'age'), age, self.loss))

def _age_loss(age_head, spec, smoothing, gamma, age_sigma=0., old_from=60):
    """The loss of an age head: the spec on the 3 groups (or, with `age_sigma` > 0, cross-entropy against the groups'
    soft targets from the age), the ordinal / Gaussian likelihood on the age, or both (hybrid, class-ordinal)."""
    if age_sigma: return SoftAgeGroupLoss(age_sigma, old_from)   # make_loss checked the head and the spec (check_age_sigma)
    if age_head == 'class': return parse_loss(spec, 3, None, smoothing, gamma)
    if age_head == 'hybrid': return HybridAgeLoss(parse_loss(spec, 3, None, smoothing, gamma))
    if age_head == 'class-ordinal': return ClassOrdinalAgeLoss(parse_loss(spec, 3, None, smoothing, gamma))
    return OrdinalAgeLoss() if age_head == 'ordinal' else GaussianAgeLoss()

class _Activated(nn.Module):
    "Wraps a loss with fastai's activation (18-class or one task's probabilities) and decodes (argmax) for get_preds."
    def __init__(self, loss, task='all', age_head='class', old_from=60):
        super().__init__(); self.loss, self.task, self.age_head, self.old_from = loss, task, age_head, old_from
    def forward(self, logits, y, *more, reduction='mean'):
        y = y.long().view(-1)
        if reduction == 'none':   # per item, for fastai's Interpretation / top losses: -log p(true class)
            t = y if self.task == 'all' else task_target(y, self.task)
            return F.nll_loss(torch.log(self.activation(logits) + 1e-8), t, reduction='none')
        return self.loss(logits.float(), y, *more) if more else self.loss(logits.float(), y)
    def activation(self, x): return output_probs(x, self.task, self.age_head, self.old_from)
    def decodes(self, x): return x.argmax(-1)

def make_loss(spec='ce', head='single', class_weights=None, smoothing=0.1, gamma=2.0, task_weights=(1., 1., 1.), task='all',
              age_head='class', old_from=60, skip_ages=None, age_sigma=0.):
    """The loss for a head. For `head='multi'` the spec applies to each task, or per task as
    'mask:ce;gender:ce;age:0.6*focal+0.4*f1' (a task not named takes 'ce'); `class_weights` (18) feed 'wce' (single
    head only). A single-task model (`task` mask/gender/age) takes the spec on that task's labels. An ordinal,
    regression, hybrid or class-ordinal `age_head` (multi head, or the age task) is trained on the person's age (the second target)
    by its own likelihood. `skip_ages`: age bands left out of the multi head's age loss (`MultiTaskLoss`). `age_sigma` > 0:
    the class age head learns soft group targets from the age (`SoftAgeGroupLoss`; multi head or the age task)."""
    cw = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
    if age_head != 'class' and head == 'single' and task == 'all': raise ValueError(f'the {age_head} age head needs --head multi')
    check_age_sigma(age_sigma, head, task, age_head, spec)
    act = dict(age_head=age_head, old_from=old_from)
    if task != 'all':
        own = task_loss_specs(spec)[task]   # a per-task spec names tasks the one parser knows; one not named: ce
        inner = _age_loss(age_head, own, smoothing, gamma, age_sigma, old_from) if task == 'age' else \
            parse_loss(own, TASKS[task], None, smoothing, gamma)
        return _Activated(TaskLoss(task, inner, age_head), task, **act)
    if head == 'single': return _Activated(parse_loss(spec, 18, cw, smoothing, gamma))
    per = task_loss_specs(spec)
    return _Activated(MultiTaskLoss(parse_loss(per['mask'], 3, None, smoothing, gamma), parse_loss(per['gender'], 2, None, smoothing, gamma),
                                    _age_loss(age_head, per['age'], smoothing, gamma, age_sigma, old_from), task_weights, age_head,
                                    skip_ages), **act)

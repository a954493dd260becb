"""A person-level training signal: a person's photos share gender and age, so each photo's age-group (and, as an option,
gender) outputs are pulled toward the person's pooled prediction within the batch (`--person-loss W --person-loss-on
TASKS`; batches drawn a person at a time; the default: weight 1 on the age group)."""
__all__ = ['PHOTO_WEIGHTS', 'PERSON_TASKS', 'PERSON_PULLS', 'person_consistency', 'PersonConsistency']

import numpy as np, torch, torch.nn.functional as F
from fastcore.basics import store_attr
from fastai.callback.core import Callback

PHOTO_WEIGHTS = (1., 1., 3.)   # how much a photo counts in its person's pooled prediction by mask state, as predict's vote
PERSON_TASKS = {'age': ((5, 8),), 'gender+age': ((3, 5), (5, 8)), 'gender': ((3, 5),)}   # the multi head's columns pulled together
PERSON_PULLS = {'all': (1., 1., 1.), 'masked': (1., 1., 0.)}   # which photos are pulled, by mask state (worn, incorrect, none)

def _kl_to_pooled(logits, inv, w):
    "Per item KL(q || p_i), q the `w`-weighted mean of the probabilities of its person (`inv`), q held fixed."
    logp = F.log_softmax(logits.float(), -1)
    p = logp.exp().detach()
    n = int(inv.max()) + 1
    q = torch.zeros(n, p.shape[1], dtype=p.dtype, device=p.device).index_add_(0, inv, p * w[:, None])
    q = (q / torch.zeros(n, dtype=p.dtype, device=p.device).index_add_(0, inv, w)[:, None])[inv]
    return (q * (q.clamp_min(1e-8).log() - logp)).sum(-1)

def _check(tasks, pull):
    "Refuse unknown `tasks` or `pull`, naming the choices."
    if tasks not in PERSON_TASKS: raise ValueError(f'person-loss tasks must be one of {list(PERSON_TASKS)}, not {tasks!r}')
    if pull not in PERSON_PULLS: raise ValueError(f'person-loss pull must be one of {list(PERSON_PULLS)}, not {pull!r}')

def person_consistency(logits, labels, persons, photo_weights=PHOTO_WEIGHTS, tasks='age', pull='all'):
    """(term, share): the mean over the photos whose person has another photo in the batch of KL(pooled || photo),
    summed over the `tasks` ('age', 'gender+age' or 'gender'), from multi-head `logits` (mask 3, gender 2, age 3),
    18-class `labels` (their mask state weighs each photo in the pooled prediction by `photo_weights`) and `persons`
    (codes); `share`: of the batch. `pull` 'masked': the mean over the masked photos only (worn, incorrect), so the
    unmasked photo, which shows every cue, teaches its person's pooled prediction and is not pulled toward it."""
    _check(tasks, pull)
    persons = torch.as_tensor(persons, device=logits.device)
    _, inv, counts = torch.unique(persons, return_inverse=True, return_counts=True)
    keep = counts[inv] > 1
    if not keep.any(): return logits.sum() * 0., 0.
    _, inv = torch.unique(inv[keep], return_inverse=True)
    lg, y = logits[keep], labels.view(-1)[keep]
    w = torch.as_tensor(photo_weights, dtype=torch.float32, device=logits.device)[y // 6]
    term = sum(_kl_to_pooled(lg[:, a:b], inv, w) for a, b in PERSON_TASKS[tasks])
    pulled = torch.as_tensor(PERSON_PULLS[pull], dtype=term.dtype, device=logits.device)[y // 6]
    return (term * pulled).sum() / pulled.sum().clamp_min(1.), float(keep.float().mean())

class PersonConsistency(Callback):
    "Adds `weight` x `person_consistency` on `tasks` (photos pulled: `pull`) to each training batch's loss; the loader draws whole people."
    order = 5   # after the loss, before anything reads it
    def __init__(self, weight, tasks='age', pull='all'):
        _check(tasks, pull)
        store_attr(); self.terms, self.shares = [], []
    def before_fit(self): self.terms, self.shares = [], []
    def after_loss(self):
        if not self.training or not self.weight: return
        dl = self.learn.dl
        order, codes = getattr(dl, 'epoch_order', None), getattr(dl, 'person_codes', None)
        if order is None or codes is None or not getattr(dl, 'person_batches', False):
            raise RuntimeError('--person-loss needs the training loader to draw whole people in one process '
                               '(person_batches=True, --workers 0, one GPU): its batches\' people are read from its epoch order')
        idx = np.asarray(order[self.iter * dl.bs:(self.iter + 1) * dl.bs])
        y = self.yb[0].view(-1)
        if len(idx) != len(y) or not np.array_equal(np.asarray(dl.labels)[idx], y.cpu().numpy()):
            raise RuntimeError('--person-loss: the batch does not match the loader\'s epoch order (its people would be wrong)')
        term, share = person_consistency(self.pred, y, codes[idx], tasks=self.tasks, pull=self.pull)
        self.learn.loss_grad = self.learn.loss_grad + self.weight * term
        self.learn.loss = self.learn.loss_grad.clone()
        self.terms.append(float(term.detach())); self.shares.append(share)

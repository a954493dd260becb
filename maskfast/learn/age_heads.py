"""Age heads. The age of every training person is known (18..60), not only its group: besides the 3-way group head
('class'), an ordinal head ('ordinal': one logit per threshold, P(age >= t) for t = 19..60, trained on every
threshold) and a Gaussian regression ('regression': mean and log-spread of the age, trained by likelihood) learn
from the age itself. 'hybrid' keeps the 3 group logits and adds the regression as a second target: >=`old_from`
comes from the groups (the regression seldom reaches the data's largest age), the split of the rest from the
regression. 'class-ordinal' keeps the 3 group logits as the decision and adds the ordinal thresholds as a second
target that only shapes the features: every year of age is a signal (a 58-year-old is nearer 60 than a 31-year-old),
where the groups alone say the same for both. Each gives age-group probabilities at the model's own boundaries (30 and
`old_from`)."""
__all__ = ['AGE_OUT', 'AGE_THRESHOLDS', 'AGE_CAP', 'age_group_probs', 'soft_age_targets', 'OrdinalAgeLoss', 'GaussianAgeLoss',
           'HybridAgeLoss', 'ClassOrdinalAgeLoss', 'SoftAgeGroupLoss']

import torch, torch.nn as nn, torch.nn.functional as F

AGE_THRESHOLDS = torch.arange(19, 61)          # P(age >= t), the ordinal head's 42 outputs
AGE_OUT = {'class': 3, 'ordinal': len(AGE_THRESHOLDS), 'regression': 2, 'hybrid': 5,   # hybrid: 3 groups + regression
           'class-ordinal': 3 + len(AGE_THRESHOLDS)}                                  # 3 groups + the thresholds
AGE_CAP = 60                                   # the data's top age: 60 there means 60 or older (censored)
_MEAN, _SCALE = 39.0, 12.0                     # the regression head works on (age - 39) / 12
_LOG_S_MIN, _LOG_S_MAX = -2.48, 0.7            # its spread is 1 to 24 years: log(1 / 12), log(2)

def _gaussian(logits):
    "The age's Normal distribution from the regression outputs (standardised mean, log-spread)."
    mu, sigma = logits[:, 0] * _SCALE + _MEAN, torch.exp(logits[:, 1].clamp(_LOG_S_MIN, _LOG_S_MAX)) * _SCALE
    return torch.distributions.Normal(mu, sigma)

def _share_below(normal, age):
    "P(age < `age`) under the Normal of a regression, for whole-year ages."
    return normal.cdf(torch.full_like(normal.loc, age - 0.5))

def age_group_probs(logits, age_head='class', old_from=60, young_below=30):
    "(N, 3) probabilities of the age groups <young_below, between, >=old_from from an age head's outputs."
    logits = logits.float()
    if age_head == 'class': return F.softmax(logits, -1)
    if age_head == 'class-ordinal': return F.softmax(logits[:, :3], -1)   # the thresholds only train the features
    if age_head == 'hybrid':                     # P(old) from the groups; P(young | not old) from the regression
        p_old = F.softmax(logits[:, :3], -1)[:, 2]
        normal = _gaussian(logits[:, 3:5])
        young = (_share_below(normal, young_below) / _share_below(normal, old_from).clamp_min(1e-6)).clamp(0, 1) * (1 - p_old)
        return torch.stack([young, 1 - p_old - young, p_old], -1).clamp_min(1e-6)
    if age_head == 'ordinal':
        s = torch.sigmoid(logits)
        p_mid = s[:, young_below - 19]
        p_old = torch.minimum(s[:, min(old_from, 60) - 19], p_mid)        # keep P(>= old) <= P(>= 30)
    elif age_head == 'regression':
        normal = _gaussian(logits)
        p_mid, p_old = 1 - _share_below(normal, young_below), 1 - _share_below(normal, old_from)
    else: raise ValueError(f"age head must be one of {list(AGE_OUT)}, not {age_head!r}")
    return torch.stack([1 - p_mid, p_mid - p_old, p_old], -1).clamp_min(1e-6)

class OrdinalAgeLoss(nn.Module):
    "Binary cross-entropy of every threshold's P(age >= t) against the true age; items of unknown age (< 0) left out."
    def forward(self, logits, age):
        age = age.view(-1).float(); known = age >= 0
        if not known.any(): return logits.sum() * 0
        target = (age[known, None] >= AGE_THRESHOLDS.to(age.device)[None]).float()
        return F.binary_cross_entropy_with_logits(logits[known].float(), target)

class GaussianAgeLoss(nn.Module):
    """The regression head's loss: a Huber loss (delta 1, on (age - 39) / 12) for the mean, so that its gradient is
    bounded like a cross-entropy head's, plus the Gaussian negative log-likelihood of the (detached) error for the
    spread, weighted by the detached variance (beta-NLL, beta = 1). Plain Gaussian NLL on both divides the mean's
    gradient by the variance: as soon as the spread shrinks it swamps the backbone the three heads share (measured:
    default fit on 900 people, loss 113 at epoch 0, mask F1 0.53 after 20 epochs). The spread stays within 1 to 24 years.
    Unknown ages (< 0) are left out."""
    def forward(self, logits, age):
        age = age.view(-1).float(); known = age >= 0
        if not known.any(): return logits.sum() * 0
        z, log_s = logits[known, 0].float(), logits[known, 1].float().clamp(_LOG_S_MIN, _LOG_S_MAX)
        t = (age[known] - _MEAN) / _SCALE
        err = (t - z).detach().clamp(-3, 3)
        spread = (2 * log_s).exp().detach() * (0.5 * (err / log_s.exp()) ** 2 + log_s)
        return (F.huber_loss(z, t, reduction='none', delta=1.0) + spread).mean()

class HybridAgeLoss(nn.Module):
    """The loss of a head with 3 group logits and an age output after them: `group_loss` on the groups plus `weight` x
    `age_loss` on the rest (the hybrid head's Gaussian age loss by default)."""
    def __init__(self, group_loss, weight=1., age_loss=None):
        super().__init__(); self.group_loss, self.reg, self.weight = group_loss, age_loss or GaussianAgeLoss(), weight
    def forward(self, logits, group, age): return self.group_loss(logits[:, :3], group) + self.weight * self.reg(logits[:, 3:], age)

class ClassOrdinalAgeLoss(HybridAgeLoss):
    "The class-ordinal head's loss: `group_loss` on its 3 group logits plus `weight` x the ordinal loss on its thresholds."
    def __init__(self, group_loss, weight=1.): super().__init__(group_loss, weight, OrdinalAgeLoss())

def soft_age_targets(age, group, sigma, old_from=60, young_below=30, cap=AGE_CAP):
    """(N, 3) age-group targets spread by the age's own uncertainty (label distribution learning): the shares of the
    groups that age + e falls in, e ~ N(0, `sigma`) years, with whole-year ages (boundaries at `young_below` - 0.5 and
    `old_from` - 0.5). A 29-year-old is then 0.57 <30 at sigma 3 where a 20-year-old is 1.00: the labels of people at a
    boundary stop asking for a certainty their photos cannot give. Ages at or above `cap` (the data's top age, which
    means that age or older) and unknown ages (< 0: pseudo-labels) keep their hard `group`."""
    a, g = age.view(-1).float(), group.view(-1).long()
    if sigma <= 0: return F.one_hot(g, 3).float()
    normal = torch.distributions.Normal(a, torch.full_like(a, float(sigma)))
    below_mid, below_old = normal.cdf(torch.full_like(a, young_below - 0.5)), normal.cdf(torch.full_like(a, old_from - 0.5))
    soft = torch.stack([below_mid, below_old - below_mid, 1 - below_old], -1).clamp_min(0)
    hard = (a >= cap) | (a < 0)
    return torch.where(hard[:, None], F.one_hot(g, 3).float(), soft)

class SoftAgeGroupLoss(nn.Module):
    """Cross-entropy of the 3 age-group logits against `soft_age_targets` of each item's age (`--age-sigma`): the class
    head and its decision stay as they are; only the targets of ages near a boundary are softened."""
    takes_age = True   # the multi head's loss hands it (group, age) rather than the group alone
    def __init__(self, sigma, old_from=60, cap=AGE_CAP):
        super().__init__(); self.sigma, self.old_from, self.cap = sigma, old_from, cap
    def forward(self, logits, group, age):
        q = soft_age_targets(age, group, self.sigma, self.old_from, cap=self.cap).to(logits.device)
        return -(q * F.log_softmax(logits.float(), -1)).sum(-1).mean()

"""The options predict and pseudo share, and the pseudo-label loop's own: typed configs like `FitConfig`, from which
their command lines are generated."""
__all__ = ['PredictConfig', 'PseudoConfig']

from dataclasses import dataclass
from ..learn.config import Config, option, PRECISIONS
from .persons import vote_weights, DEFAULT_VOTE_WEIGHTS
from .old_share import parse_old_share, DEFAULT_OLD_SHARE

@dataclass
class PredictConfig(Config):
    "How runs predict: test-time views, ensemble voting, person consistency, the image cache."
    tta: int = option(1, 'extra test-time views: 1 = + horizontal flip, N >= 2 adds training-augmentation draws; 0 = off', 'predict')
    vote: str = option('soft', 'ensemble voting: soft (mean probabilities) or hard (majority)', 'predict', choices=('soft', 'hard'))
    weighted: bool = option(False, 'weight models by their validation macro F1', 'predict')
    consistency: bool = option(True, 'vote gender/age over photos grouped as one person (+0.012 on 3 seeds, README)', 'predict',
                               off='predict every photo on its own, without the per-person vote of gender and age')
    group_by: str = option('thumbs', "with the person vote: group photos by 'thumbs' (small thumbnails, mask region blanked) or "
                           "'features' (the first model's pooled features)", 'predict', choices=('thumbs', 'features'))
    min_sim: float = option(None, 'with the person vote: cosine similarity that links two photos of one person '
                            '(default 0.9 for thumbs, 0.8 for features)', 'predict')
    vote_weights: tuple = option(DEFAULT_VOTE_WEIGHTS, "with the person vote: how much a photo counts in its person's gender and "
                                 "age by its predicted mask state (worn incorrect none); 1 1 1: all alike (an unmasked face shows "
                                 "the most; with --old-share 1.5x, +0.015 +- 0.009 over 1 1 1 without it, README)", 'predict',
                                 type=float, nargs=3, metavar=('WORN', 'INCORRECT', 'NONE'))
    old_share: str = option(DEFAULT_OLD_SHARE, "share of the eval photos called >=60, set without labels by a weight on that class: "
                            "a multiple of the run's training share of >=60 (1.5x: the thin class called a little more often "
                            "than it trains, which macro F1 rewards), 'train', a fraction (e.g. 0.1) or off (the model's own "
                            "arg-max)", 'predict', metavar='SHARE')
    cache: bool = option(True, 'the preprocessing cache', 'predict', off='decode the images on every read instead of using the preprocessing cache')
    precision: str = option('auto', "inference precision: auto (fp16 on CUDA, bf16 on a CPU with native bf16, else fp32) | "
                            "fp32 (the same probabilities on every machine, slower) | bf16 | fp16 (pseudo: its fits' too)", 'predict',
                            choices=PRECISIONS)

    def __post_init__(self):
        super().__post_init__()
        if self.vote_weights is not None: self.vote_weights = vote_weights(self.vote_weights)
        parse_old_share(self.old_share)

@dataclass
class PseudoConfig(Config):
    "The pseudo-label loop: how many rounds and which eval predictions become training items."
    rounds: int = option(2, 'pseudo-label rounds after round 0', 'pseudo')
    threshold: float = option(0.9, 'minimum top probability for an eval image to become a training item', 'pseudo')

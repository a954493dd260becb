"""The one typed run configuration: every fit option with its default and its one-line help, in one dataclass. The
`python -m maskfast.fit` command line is generated from it, `args.yaml` is it serialized, and `--resume`, predict,
pseudo and recipes read it back (older or newer files load with defaults and a notice, never a KeyError)."""
__all__ = ['option', 'Config', 'FitConfig', 'RunState', 'config_parser', 'parse_cli', 'close_matches', 'crop_value', 'split_options', 'image_crop',
           'fit_input', 'person_loss_weight', 'age_sigma_value', 'age_sigma_blocker', 'check_drop_path', 'check_age_sigma',
           'task_loss_specs', 'DEFAULT_SIZE', 'AUTO_STEM', 'PERSON_LOSS', 'AGE_SIGMA', 'PRECISIONS']

import argparse, dataclasses, difflib, typing
from dataclasses import dataclass, field, fields

PRECISIONS = ('auto', 'fp32', 'bf16', 'fp16')   # what fit, predict, pseudo and serve accept (`pick_precision` resolves them)

def task_loss_specs(spec):
    "Each task's loss spec of a multi head: `spec` for all three, or per task as 'mask:ce;age:focal' (a task not named: ce)."
    if ':' not in spec: return dict(mask=spec, gender=spec, age=spec)
    per = dict(mask='ce', gender='ce', age='ce')
    for part in spec.split(';'):
        k, v = part.split(':')
        if k not in per: raise ValueError(f'unknown task {k!r} in loss {spec!r}; tasks are mask, gender, age')
        per[k] = v
    return per

def age_sigma_blocker(head='multi', task='all', age_head='class', loss='ce'):
    "Why a fit with these options has no class age head under cross-entropy whose targets `--age-sigma` could soften, or ''."
    age_spec = task_loss_specs(loss)['age']
    return ('the single head has no age output of its own' if head != 'multi' and task == 'all' else
            f'the {task} task has no age output' if task not in ('all', 'age') else
            f'the {age_head} age head learns from the age itself' if age_head != 'class' else
            f'the age loss is {age_spec!r}' if age_spec != 'ce' else '')

def check_age_sigma(sigma, head='multi', task='all', age_head='class', loss='ce'):
    """Refuse a negative soft-age-target spread (`--age-sigma`), or one > 0 where no class age head trains under
    cross-entropy: the single head, the mask or gender task, an age head that learns from the age itself, another age loss.
    `None` (unset) passes: `age_sigma_value` resolves it."""
    if sigma is None: return
    if sigma < 0: raise ValueError(f'--age-sigma {sigma} is a spread in years: 0 (off) or more')
    why = age_sigma_blocker(head, task, age_head, loss) if sigma else ''
    if why: raise ValueError(f'--age-sigma {sigma:g} softens the class age head\'s targets under cross-entropy: {why} '
                             '(use --head multi, --age-head class and the ce loss for age, or leave --age-sigma out)')

def check_drop_path(rate, arch):
    "Refuse a stochastic-depth `rate` outside [0, 1), or one given for a torchvision arch (tv_*: no drop path there)."
    if not 0 <= rate < 1: raise ValueError(f'--drop-path {rate} is a probability: 0 (off) up to, not including, 1')
    if rate and arch.startswith('tv_'):   # maskfast.learn.pretrained.TV_ARCHS; timm lists no model under tv_
        raise ValueError(f"--drop-path needs a timm architecture; {arch} is torchvision's (use {arch[3:]})")

def option(default, help, group='options', off=None, **cli):
    """A config field: its `default`, its one-line `help`, its `group` in `--help`, and argparse settings `cli`
    (type, nargs, choices). A boolean that defaults to True becomes `--no-NAME` on the command line, helped by `off`."""
    return field(default=default, metadata=dict(help=help, group=group, off=off, cli=cli))

def close_matches(name, names):
    "A hint naming the nearest known names, for messages about unknown options."
    near = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    return f' (did you mean {", ".join(near)}?)' if near else ''

class Config:
    "What every config dataclass shares: choices checked, validated copies, plain dicts for YAML, tolerant loading."
    def __post_init__(self):
        for f in fields(self):
            ch = f.metadata.get('cli', {}).get('choices')
            if ch and getattr(self, f.name) not in ch:
                raise ValueError(f'{f.name} must be one of {list(ch)}, not {getattr(self, f.name)!r}')

    def replace(self, **changes):
        "A copy with `changes`; an unknown name raises a TypeError that names the nearest option."
        names = {f.name for f in fields(self)}
        for k in changes:
            if k not in names: raise TypeError(f'{type(self).__name__} has no option {k!r}{close_matches(k, names)}')
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        "Plain types (lists for tuples) in field order, ready for YAML."
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d, source='settings', notice=print):
        """The config of a dict from a file: unknown keys are ignored and missing ones take their defaults, each with a
        one-line notice (a file from an older or newer maskfast still loads)."""
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(names))
        missing = [n for n in names if n not in d]
        if unknown: notice(f'notice: {source}: ignoring unknown key(s) {unknown} (another maskfast version?)')
        if missing: notice(f'notice: {source}: key(s) {missing} not set there; using the defaults')
        return cls(**{k: _typed(names[k], v) for k, v in d.items() if k in names})

    @classmethod
    def defaults(cls): return cls().to_dict()

def _plain(v):
    if isinstance(v, (tuple, list)): return [_plain(x) for x in v]
    if hasattr(v, 'item') and not isinstance(v, (str, bytes)): return v.item()   # numpy scalars
    if hasattr(v, '__fspath__'): return str(v)
    return v

def _typed(f, v):
    "A value read from YAML back into the field's type (lists into tuples)."
    if isinstance(v, list) and (isinstance(f.default, tuple) or f.type is tuple): return tuple(v)
    return v

def crop_value(s):
    "--crop: a centre share of each side (0 < c <= 1), or 'face' for face-centred crops."
    if isinstance(s, (int, float)): c = float(s)
    elif str(s).lower() == 'face': return 'face'
    else:
        try: c = float(s)
        except ValueError: raise argparse.ArgumentTypeError(f"--crop takes a share like 0.85 or 'face', not {s!r}") from None
    if not 0 < c <= 1: raise argparse.ArgumentTypeError(f'--crop {c} must lie in (0, 1]')
    return c

@dataclass
class FitConfig(Config):
    "Every option of `python -m maskfast.fit` (and of `maskfast.learn.train.fit_run`)."
    recipe: str = option('default', 'a named recipe (default, cpu-fast, best, ai4-winner) or a recipe YAML file, filled in under the options given here', 'recipe')
    # data
    data: str = option(None, 'competition root (train/, eval/); default: the embedded synthetic twin', 'data')
    size: tuple = option(None, 'image size H W (rounded to multiples of 32, of 64 under the s2d stems); default 384 256 under '
                         's2d-fine (128 multiples), 192 128 under the other s2d stems, 128 96 under the plain one', 'data', type=int, nargs=2, metavar=('H', 'W'))
    crop: typing.Union[float, str] = option(0.85, "centre share of each side kept before resizing, or 'face' (detected "
                                            "face, grown to keep hair and chin; the usual face box where none is found)", 'data', type=crop_value)
    crop_box: tuple = option(None, 'crop this box instead, in fractions of the image (for data whose faces sit in a known place)',
                             'data', type=float, nargs=4, metavar=('X0', 'Y0', 'X1', 'Y1'))
    old_from: int = option(60, 'age from which a person counts as >=60 (e.g. 58)', 'data')
    drop_boundary: bool = option(False, 'drop training people whose age lies in the --boundary-ages bands', 'data')
    skip_boundary_age: bool = option(False, 'keep the people of the --boundary-ages bands for mask and gender and leave them out '
                                     'of the age loss only: their age group is the ambiguous label, their photos still teach the rest '
                                     '(--drop-boundary drops them whole; multi head; -0.011 +- 0.004 voted on 2 seeds, README stop 40)', 'data')
    boundary_ages: tuple = option((28, 29, 57, 59), 'the two inclusive age bands (lo hi lo hi) that --drop-boundary drops '
                                  'and --skip-boundary-age leaves out of the age loss', 'data',
                                  type=int, nargs=4, metavar=('LO1', 'HI1', 'LO2', 'HI2'))
    label_fixes: str = option(None, 'CSV/YAML of label corrections (gender_swap, mask_swap, age)', 'data')
    downsample: bool = option(True, 'one of the 5 mask photos per person, re-drawn every epoch', 'data',
                              off='use all 5 mask photos per person')
    weighted: float = option(0.5, 'class-weighted sampling power (weight = freq**-p; 0 = off)', 'data')
    person_batches: bool = option(False, "draw training batches a whole person at a time (the 3 photos a person has in an "
                                  "epoch side by side, people drawn by the class weights); --person-loss implies it", 'data')
    aug: str = option('light', "augmentation preset ('sharp': light resampled to the nearest pixel; "
                      "'shift': whole-pixel shifts, no scaling or turning)", 'data',
                      choices=('none', 'light', 'sharp', 'shift', 'medium', 'heavy'))   # maskfast.data.augment.PRESETS
    erase: float = option(0.0, 'probability of random erasing per training photo, after the preset (one rectangle of '
                          '2-33% of the photo, aspect 0.3-3.3, one random colour)', 'data')
    cutmix: float = option(0.0, 'probability of same-label vertical CutMix per training photo (the right part from a photo '
                           'of the same class, cut at 46-54% of the width)', 'data')
    mixup_old: float = option(0.0, 'probability of mixup per >=60 training photo, with a photo of the same class', 'data')
    cache: bool = option(True, 'the preprocessing cache (decode + crop + resize once)', 'data',
                         off='decode the images on every read instead of using the preprocessing cache')
    workers: int = option(0, 'DataLoader worker processes', 'data')
    folds: int = option(5, 'number of person-grouped folds', 'data')
    fold: str = option('0', "fold to validate on, or 'all' to train every fold", 'data')
    split: str = option('person', "'person' (grouped) or 'image' (the leaky split, to measure it)", 'data',
                        choices=('person', 'image'))
    seed: int = option(42, 'seed for split, sampling and init', 'data')
    # model
    arch: str = option('resnet18', 'timm model name, or tv_resnet18/34/50/101 for torchvision', 'model')
    head: str = option('multi', "'multi' (mask/gender/age outputs; measured better) or 'single' (18-way)", 'model',
                       choices=('multi', 'single'))
    task: str = option('all', "'all' (the 18 classes) or one task alone: mask | gender | age (predict combines one run per task)",
                       'model', choices=('all', 'mask', 'gender', 'age'))
    age_head: str = option('class', "age output of the multi head: 'class' (3 groups), 'ordinal' (P(age >= t), t = 19..60), "
                           "'regression' (Gaussian on the age), or 'hybrid' (3 groups + the regression as a second target: >=60 from the groups, "
                           "<30 vs 30-59 from the regression), or 'class-ordinal' (3 groups decide; the ordinal thresholds as a second target "
                           "that trains the features on every year of age); all but 'class' learn from the age itself", 'model',
                           choices=('class', 'ordinal', 'regression', 'hybrid', 'class-ordinal'))
    stem: str = option('auto', "'s2d': each 2x2 block of pixels into channels before the body (TResNet's space-to-depth), "
                       "so the body sees a --size twice the side at about the plain input's cost (sides rounded to multiples "
                       "of 64; with --pretrained the first conv starts untrained); 's2d-detail': s2d fed the image's grey detail "
                       "(itself minus a 3x3 blur, batch-normalised) beside it, so 1-px lines reach the body at full strength; 's2d-fine': "
                       "twice s2d-detail's side (default 384 256, multiples of 128) at ~1.3x its step time: each 2x2 block's "
                       "mean colour and its detail's darkest and brightest value, so a line's darkness survives the halving; 's2d-fine-log': "
                       "s2d-fine from the detail of the log brightness (a line's darkness relative to the skin around it); "
                       "'plain': the architecture's own; 'auto' (default): s2d-fine at 384x256 from scratch with no --size "
                       "given, else plain", 'model',
                       choices=('auto', 'plain', 's2d', 's2d-detail', 's2d-fine', 's2d-fine-log'))
    pretrained: bool = option(False, "ImageNet weights: timm's / torchvision's download on first use, their cache afterwards", 'model')
    weights: str = option(None, 'local .pth/.safetensors state dict for the backbone', 'model')
    drop_path: float = option(0., "stochastic depth: the probability of dropping a residual branch, rising to this in the "
                              "last block (timm's drop_path_rate; timm architectures; 0 = off)", 'model')
    # training
    person_loss: float = option(None, "weight of a person-level term: batches draw a person's photos together, and each photo's "
                                "outputs (--person-loss-on) are pulled toward its person's pooled prediction; 0 = off; unset: 1 where "
                                "the fit allows it (--head multi --task all --age-head class, one mask photo a person, no --workers, "
                                "one process), else off", 'training')
    person_loss_on: str = option('age', "the outputs --person-loss pulls together: 'age' (the age group), 'gender+age' or "
                                 "'gender'", 'training', choices=('age', 'gender+age', 'gender'))   # maskfast.learn.person_loss.PERSON_TASKS
    person_pull: str = option('all', "the photos --person-loss pulls toward their person's pooled prediction: 'all', or 'masked' "
                              "(the worn and incorrect ones: the unmasked photo, which shows every cue, teaches and is not pulled)",
                              'training', choices=('all', 'masked'))   # maskfast.learn.person_loss.PERSON_PULLS
    loss: str = option('ce', 'ce | wce | smooth | focal | f1 | sums like 0.6*focal+0.4*f1 | per task mask:ce;age:focal', 'training')
    age_sigma: float = option(None, "soft age-group targets from each person's age: the groups' shares of age + N(0, SIGMA) "
                              "years, so a 29-year-old is 0.57 <30 at 3 and a 20-year-old 1.00 (the top age, 60, stays hard); "
                              "0 = the hard group; unset: 3 where the fit has a class age head under ce (multi head or --task age), "
                              "else 0 (README: 'Soft age targets')", 'training', metavar='SIGMA')
    bs: int = option(32, 'batch size (per process)', 'training')
    epochs: int = option(0, 'epochs; 0 = as many as fit --budget', 'training')
    budget: float = option(420., 'seconds for the whole fit when --epochs 0', 'training')
    max_epochs: int = option(24, 'the most epochs --budget buys (--epochs 0); a faster machine ends the fit early: at 900 '
                             'people F1 fell past ~20 epochs (README). 0 = no cap', 'training')
    progressive: float = option(0., 'progressive resizing: the share of the epochs (the first ones) trained on inputs scaled '
                                'by --progressive-scale, faster; the rest and validation at --size (0 = off)', 'training')
    progressive_scale: float = option(0.75, 'scale of the first epochs\' inputs under --progressive (sides rounded to multiples of 8)', 'training')
    ema: float = option(0., 'keep an exponential moving average of the weights spanning about this many epochs, '
                        'validated and kept instead of the last weights (0 = off)', 'training')
    lr: float = option(None, "max learning rate; default: lr_find's suggestion", 'training')
    wd: float = option(None, 'weight decay (fastai default when unset)', 'training')
    precision: str = option('auto', 'auto (fp16 on CUDA, bf16 on CPUs that have it) | fp32 | bf16 | fp16', 'training',
                            choices=PRECISIONS)
    channels_last: bool = option(True, 'channels_last memory format', 'training', off='keep NCHW memory format')
    fused_adam: bool = option(True, "step fastai's Adam with torch's fused AdamW kernel (the same update, ~5x faster a step)",
                              'training', off="fastai's own Adam, a parameter at a time")
    freeze_epochs: int = option(1, 'with --pretrained/--weights: epochs training the head alone first (fine_tune)', 'training')
    patience: int = option(0, 'early stopping patience in epochs (0 = off)', 'training')
    keep_best: int = option(1, 'best epochs kept as RUN/checkpoints/*.pth (1 = model.pth only)', 'training')
    full: bool = option(False, 'after the fold run, train again on all people (val-as-train) with its lr and epochs into '
                        'RUN/full, which predict then uses; the budget is shared between the two', 'training')
    members: int = option(1, 'a small voted ensemble: train this many val-as-train fits (seeds --seed, --seed + 1, ...) '
                          'into RUN/member0.., the budget shared; predict RUN soft-votes them', 'training')
    train_all: bool = option(True, 'val-as-train in one fit (the default for a single-fold fit): train on every person from '
                             'the start with the planned lr and epochs and keep the last epoch; the validation fold still '
                             'reports, but is no hold-out. Off by itself under --fold all, --full, --patience, --keep-best > 1 '
                             "and --split image, which need a hold-out", 'training',
                             off='hold the validation fold out of training: a hold-out score, label review and early stopping')
    valid_every_epoch: bool = option(False, 'under val-as-train, score the validation fold after every epoch too (those people '
                                     'are trained on, so the scores are no hold-out and only show training progress; by default only the last '
                                     'epoch is scored, which leaves ~13% more of --budget to training). With a hold-out every epoch is scored', 'training')
    # output
    out: str = option(None, 'run folder (default: runs/run-<timestamp>)', 'output')
    wandb: bool = option(False, 'log to Weights & Biases (offline without an account)', 'output')
    quiet: bool = option(False, 'no progress bars', 'output')

    def __post_init__(self):
        if self.size is not None:
            self.size = tuple(int(s) for s in self.size)
            if len(self.size) != 2: raise ValueError(f'size must be (H, W), not {self.size}')
        self.crop = crop_value(self.crop)
        if self.crop_box is not None: self.crop_box = tuple(float(v) for v in self.crop_box)
        self.fold = str(self.fold)
        if not 0 <= self.progressive < 1: raise ValueError(f'--progressive {self.progressive} is a share of the epochs: 0 (off) up to, not including, 1')
        if not 0 < self.progressive_scale < 1: raise ValueError(f'--progressive-scale {self.progressive_scale} must lie between 0 and 1 (a smaller input first)')
        for name in ('erase', 'cutmix', 'mixup_old'):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f'--{name.replace("_", "-")} {getattr(self, name)} is a probability per training photo: between 0 (off) and 1')
        if self.skip_boundary_age and (self.head != 'multi' or self.task != 'all'):
            raise ValueError('--skip-boundary-age leaves the boundary ages out of the age loss of the multi head; '
                             f'with --head {self.head} --task {self.task} there is no separate age loss (use --drop-boundary)')
        check_drop_path(self.drop_path, self.arch)   # before the cache and the fit; build_model checks again for direct callers
        check_age_sigma(self.age_sigma, self.head, self.task, self.age_head, self.loss)   # make_loss checks again for direct callers
        if self.max_epochs < 0: raise ValueError(f'--max-epochs {self.max_epochs}: the most epochs a budget buys, or 0 for no cap')
        if self.person_loss is not None and self.person_loss < 0:
            raise ValueError(f'--person-loss {self.person_loss} is a weight: 0 (off) or more')
        self.refuse_person_loss()   # given with an option that rules it out (unset: off there, see person_loss_weight)
        for name in ('person_loss_on', 'person_pull'):   # a choice of the term's, given with the term off
            if self.person_loss == 0 and getattr(self, name) != self.__dataclass_fields__[name].default:
                flag = '--' + name.replace('_', '-')
                raise ValueError(f'{flag} {getattr(self, name)} pulls nothing with --person-loss 0: give a weight > 0, or leave {flag} out')
        if self.person_batches and not self.downsample:
            raise ValueError('--person-batches draws the 3 photos a person has in an epoch (one mask photo) side by side: '
                             'it does not combine with --no-downsample')
        if self.members < 1: raise ValueError(f'--members {self.members}: the number of fits in the ensemble, 1 (a plain fit) or more')
        if self.members > 1 and (self.fold == 'all' or self.full):
            raise ValueError(f'--members {self.members} trains every member on all people; it does not combine with '
                             f'{"--fold all (an ensemble of its own)" if self.fold == "all" else "--full"}')
        if self.train_all and self.holdout_needed(): self.train_all = False
        super().__post_init__()

    def person_loss_blockers(self, processes=1):
        "The options that rule the person loss out of this fit, as (option, why) pairs; none where it may train."
        outputs = 'it pulls the gender or age-group outputs of the multi head together; it needs --head multi --task all --age-head class'
        one = 'it reads the people of each batch from the loader in one process'
        return [(w, why) for w, on, why in (
            (f'--head {self.head}', self.head != 'multi', outputs), (f'--task {self.task}', self.task != 'all', outputs),
            (f'--age-head {self.age_head}', self.age_head != 'class', outputs),
            ('--no-downsample', not self.downsample, 'it draws the 3 photos a person has in an epoch (one mask photo) side by side'),
            (f'--workers {self.workers}', bool(self.workers), one),
            (f'{processes} processes', processes > 1, f'{one}: run it in one process, or use --person-batches (the batches '
                                                      'of whole people without the term)')) if on]

    def refuse_person_loss(self, processes=1):
        "Raise if a typed `--person-loss W` (W > 0) meets an option that rules it out (`person_loss_blockers`)."
        blockers = self.person_loss_blockers(processes) if self.person_loss else []
        if blockers:
            w, why = blockers[0]
            raise ValueError(f'--person-loss {self.person_loss:g} does not combine with {w}: {why}')

    def holdout_needed(self):
        "The options given that need the validation fold held out of training (so --train-all is off), as a phrase; '' if none."
        why = [w for w, on in (('--fold all', self.fold == 'all'), ('--full', self.full), ('--patience', self.patience),
                               ('--keep-best > 1', self.keep_best > 1), ('--split image', self.split == 'image')) if on]
        return ', '.join(why)

    @classmethod
    def from_dict(cls, d, source='settings', notice=print):
        """As `Config.from_dict`; a file from before a default changed keeps what it trained with: before --train-all (no
        `train_all` key) a hold-out; before --person-loss (no key) none; before --person-loss-on (no key) gender and age."""
        older = {'train_all': False, 'person_loss': 0.0}
        if d.get('person_loss') and 'person_loss_on' not in d: older['person_loss_on'] = 'gender+age'
        return super().from_dict({**older, **d}, source, notice)

def config_parser(*classes, prog=None, description=None, defaults=None, extra=()):
    """An argparse parser with one option per field of the config `classes` (a name seen twice is added once). Every
    option defaults to 'not given' so that `parse_cli` returns only what the user typed (recipes sit in between); its
    help shows the field's default, or `defaults[name]`. `extra`: (args, kwargs) pairs of command-only arguments."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    seen, groups = set(), {}
    for args, kw in extra:   # a command's own arguments (absent unless typed, like the fields); they win over a field
        seen.add(p.add_argument(*args, **{'default': argparse.SUPPRESS, **kw}).dest)
    for cls in classes:
        for f in fields(cls):
            if f.name in seen: continue
            seen.add(f.name)
            md, d = f.metadata, (defaults or {}).get(f.name, f.default)
            g = groups.setdefault(md.get('group', 'options'), p.add_argument_group(md.get('group', 'options')))
            flag = '--' + f.name.replace('_', '-')
            if isinstance(f.default, bool):
                text = (md.get('off') or f'off: {md["help"]}') if d else md['help']
                g.add_argument('--no-' + f.name.replace('_', '-') if d else flag, dest=f.name, action='store_false' if d else 'store_true',
                               default=argparse.SUPPRESS, help=text.replace('%', '%%'))
                continue
            kw = dict(md.get('cli', {}))
            hint = typing.get_type_hints(cls)[f.name]
            kw.setdefault('type', hint if hint in (str, int, float) else str)
            shown = '' if d is None else f' (default: {" ".join(map(str, d)) if isinstance(d, tuple) else d})'
            g.add_argument(flag, dest=f.name, default=argparse.SUPPRESS, help=(md['help'] + shown).replace('%', '%%'), **kw)
    return p

def split_options(opts, *classes):
    "Keyword options dealt out to the config `classes` by field name (a shared name goes to each); unknown names raise."
    out, known = [], set()
    for cls in classes:
        names = {f.name for f in fields(cls)}; known |= names
        out.append({k: v for k, v in opts.items() if k in names})
    for k in opts:
        if k not in known: raise TypeError(f'unknown option {k!r}{close_matches(k, known)}')
    return out

def parse_cli(parser, argv=None):
    "The options the user typed, as a dict (tuples for nargs options); options left out are absent."
    ns = vars(parser.parse_args(argv))
    return {k: tuple(v) if isinstance(v, list) else v for k, v in ns.items()}

DEFAULT_SIZE = {'plain': (128, 96), 's2d': (192, 128), 's2d-detail': (192, 128), 's2d-fine': (384, 256), 's2d-fine-log': (384, 256)}   # the input when --size is not given, by stem
AUTO_STEM = 's2d-fine'   # what --stem auto trains from scratch with no --size (README: "Fine detail from twice the side")

def fit_input(cfg):
    """(stem, size before rounding) of a fit. `--stem auto` is `AUTO_STEM` (the space-to-depth stem fed the mean
    colour and the detail's extremes of each 2x2 block) at 384x256 for the default input from scratch, and the plain stem when --size, --pretrained or --weights
    is given (the size one asked for; the pretrained first convolution); an unset size is the stem's default."""
    stem = cfg.stem
    if stem == 'auto': stem = AUTO_STEM if cfg.size is None and not (cfg.pretrained or cfg.weights) else 'plain'
    return stem, tuple(cfg.size) if cfg.size is not None else DEFAULT_SIZE[stem]

AGE_SIGMA = 3.0     # the spread an unset --age-sigma takes where a fit has a class age head under ce (README: "Soft age targets")
PERSON_LOSS = 1.0   # the weight an unset --person-loss takes where a fit allows it (README: "The person loss on the age group")

def age_sigma_value(cfg):
    """(sigma, why it is off): `--age-sigma` as given, or when unset `AGE_SIGMA` where the fit has a class age head under
    cross-entropy (multi head or --task age), else 0 and what rules it out. A typed sigma > 0 there is refused (`FitConfig`)."""
    if cfg.age_sigma is not None: return float(cfg.age_sigma), ''
    why = age_sigma_blocker(cfg.head, cfg.task, cfg.age_head, cfg.loss)
    return (0., why) if why else (AGE_SIGMA, '')

def person_loss_weight(cfg, processes=1):
    """(weight, why it is off): `--person-loss` as given, or when unset `PERSON_LOSS` where the fit allows it (the multi
    head on all tasks with the class age head, one mask photo a person, no --workers, one process), else 0 and the options
    that rule it out, as a phrase. A typed weight > 0 that the fit rules out is refused (`FitConfig.refuse_person_loss`)."""
    cfg.refuse_person_loss(processes)
    if cfg.person_loss is not None: return cfg.person_loss, ''
    why = ', '.join(w for w, _ in cfg.person_loss_blockers(processes))
    return (0., why) if why else (PERSON_LOSS, '')

def image_crop(cfg):
    "The crop a config asks for: its --crop-box when set, else its --crop (a share or 'face')."
    return tuple(cfg.crop_box) if cfg.crop_box else cfg.crop

@dataclass
class RunState(Config):
    "What a fit resolved from its config, written under `run:` in args.yaml and read back by `--resume` and predict."
    data: str = None          # the data root used (the twin's path when the config left it unset)
    size: tuple = None        # the image size after rounding to the stride
    stem: str = None          # the stem trained with ('plain', 's2d', 's2d-detail' or 's2d-fine'; --stem auto resolved)
    lr: float = None          # the learning rate trained with (lr_find's choice or the config's)
    epochs: float = None      # the epochs trained: planned (budget or config), as BudgetGuard re-sized the fit (9.4: a part of the 10th)
    precision: str = None     # the precision trained in (after any fp32 fallback)
    norm: object = 'imagenet' # 'imagenet' or the data's {mean, std}
    world_size: int = 1       # processes
    extra: str = None         # what was added to training (pseudo labels), if anything
    face_fallback: tuple = None  # with --crop face: the crop box (fractions) of images where no face was found
    person_loss: float = None # the person-loss weight trained with (an unset --person-loss resolved: person_loss_weight)
    age_sigma: float = None   # the soft age targets' spread trained with (an unset --age-sigma resolved: age_sigma_value)
    old_share: float = None   # share of the labelled images trained on whose person is >=60 (age 60+, before --old-from): predict's --old-share

"""Train one run (or all k folds) end to end into a run folder; the library call behind `python -m maskfast.fit`."""
__all__ = ['as_config', 'fit_run', 'fit_folds', 'evaluate_run', 'weights_digest']

import hashlib, time
from functools import partial
from pathlib import Path
import numpy as np, pandas as pd
from fastai.torch_core import set_seed
from .budget import check_size, plan_lr_and_epochs, progressive_epochs, epochs_with_room, EpochFraction, last_epoch, BudgetGuard, RESERVE_S
from .callbacks import LowPrecisionDiverged, ProgressiveResize, ValidateLast, small_size
from .checkpoints import resume_from
from .config import FitConfig, RunState, image_crop, fit_input, person_loss_weight, age_sigma_value, PERSON_LOSS, AGE_SIGMA
from .recipes import recipe_config
from .distrib import (init_distributed, is_main, is_distributed, rank, world_size, main_first, broadcast_object,
                      distributed, close_distributed)
from .learner import mask_learner
from .metrics import macro_f1, task_f1
from .models import check_arch, size_multiple, model_stem
from .runs import new_run_dir, write_args, read_config, write_model, write_valid_preds, read_valid_preds
from ..data.block import mask_dataloaders, balance_report
from ..data.cache import dataset_stats
from ..data.items import load_items
from ..data.labels import drop_age_boundary, class_name, TASK_NAMES
from ..data.mixing import SameLabelMix
from ..data.splits import fold_indices, random_image_splitter
from ..data.twin import default_twin

def as_config(config=None, **opts):
    """A `FitConfig` from a config, a dict of options, or keyword options (which win); with `recipe=` among the
    keyword options and no config, the recipe's options sit under them. Unknown names raise."""
    if config is None and 'recipe' in opts: return recipe_config(**opts)
    cfg = FitConfig() if config is None else FitConfig(**config) if isinstance(config, dict) else config
    return cfg.replace(**opts) if opts else cfg

def fit_run(config=None, extra=None, resume=None, **opts):
    """Train one fold into a run folder and return a summary dict (run_dir, f1, epochs, ...). `config`: a `FitConfig`
    (or dict); keyword options override it. `epochs=0` picks the number of epochs that fits `budget` seconds from the
    speed measured during lr_find. `extra`: a frame of additional training items (pseudo labels) with src/row columns
    and `attrs['caches']`, never used for validation. `resume`: a killed run folder, continued from its last complete
    epoch with the options in its args.yaml. Launched with several processes (torchrun), every rank trains its share
    of each batch and only rank 0 writes. With `full`, the fold run is followed by a refit on all people into
    RUN/full (`refit_all_people`), the budget shared between the two."""
    if resume:
        bad = sorted(set(opts) - {'quiet', 'workers', 'wandb'})
        if bad: raise ValueError(f'--resume continues {resume} with the options in its args.yaml; it cannot change {bad}')
        parts = sorted(p.parent.name for p in Path(resume).glob('*/args.yaml'))
        if parts and not (Path(resume) / 'last.pth').exists():   # --fold all / --members: a parent of runs, not a run
            raise ValueError(f'{resume} is the parent of the run folders {", ".join(parts)}, not a run: --resume one of them '
                             f'(e.g. {Path(resume) / parts[0]}), or, for a --members fit, run the same fit command again '
                             f'(members that finished are kept)')
        cfg, state = read_config(resume)
        cfg = cfg.replace(out=str(resume), **opts)
        if state.lr is None or not state.epochs: raise ValueError(f'{resume}: args.yaml has no planned lr/epochs to resume with')
    else: cfg, state = as_config(config, **opts), RunState()
    if not cfg.full: return _fit_one(cfg, state, extra, resume)
    res = _fit_one(cfg.replace(budget=cfg.budget / FULL_SHARE) if not resume else cfg, state, extra, resume)
    res['full_run'] = refit_all_people(res['run_dir'], extra)['run_dir']   # every rank: the refit is distributed too
    if is_main(): (Path(res['run_dir']) / 'result.json').write_text(pd.Series(res).to_json(indent=1))
    return res

FULL_SHARE = 2.25   # with --full the fold run gets budget / 2.25: the refit on 1.25x the people takes the rest

def refit_all_people(run_dir, extra=None):
    "Train again on every person (val-as-train) with the fold run's options, lr and epochs, into RUN/full; keep the last epoch."
    cfg, state = read_config(run_dir)
    print(f'refit on all people with lr={state.lr:.2e} for {state.epochs} epochs (val-as-train) -> {Path(run_dir) / "full"}')
    return _fit_one(cfg.replace(full=False, out=str(Path(run_dir) / 'full'), lr=state.lr, epochs=state.epochs, data=state.data),
                    RunState(), extra, None, all_people=True)

def _fit_one(cfg, state, extra, resume, all_people=False):
    "One fit into cfg.out (see `fit_run`); `all_people` trains on the validation people too and keeps the last epoch."
    t0 = time.time()
    all_people = all_people or cfg.train_all
    valid_last = all_people and not cfg.valid_every_epoch   # scores of trained-on people: the last epoch's suffice
    init_distributed()
    main = is_main()
    if not main: cfg = cfg.replace(quiet=True)
    person_loss, person_loss_off = person_loss_weight(cfg, world_size())   # a typed one that cannot train: refused
    if person_loss_off and main and not cfg.quiet:
        print(f'person-level loss (the default, --person-loss {PERSON_LOSS:g} on the {cfg.person_loss_on}) off for this fit: {person_loss_off}')
    age_sigma, age_sigma_off = age_sigma_value(cfg)
    if resume: age_sigma, age_sigma_off = state.age_sigma or 0., ''   # as the run began (a run from before the default: hard targets)
    if age_sigma_off and main and not cfg.quiet:
        print(f'soft age targets (the default, --age-sigma {AGE_SIGMA:g}) off for this fit: {age_sigma_off}')
    check_arch(cfg.arch)
    stem, size = fit_input(cfg)
    if resume and state.stem: stem = state.stem
    size = tuple(state.size) if resume and state.size else check_size(size, size_multiple(stem))
    data = state.data or cfg.data
    if data is None:
        with main_first(): data = str(default_twin())
    run_dir = Path(broadcast_object(str(new_run_dir(cfg.out)) if main else None))
    set_seed(cfg.seed, reproducible=True)
    with main_first():   # rank 0 builds the caches and stats, the others reuse them
        df, caches, tr, va, n_extra = _training_items(cfg, data, size, extra, all_people)
        from_weights = cfg.pretrained or bool(cfg.weights)
        mean, std = (None, None) if from_weights else dataset_stats(caches[0], rows=df['row'].values[tr][df['src'].values[tr] == 0])
    state = state.replace(data=str(data), size=size, stem=stem, norm='imagenet' if mean is None else {'mean': mean, 'std': std},
                          face_fallback=caches[0].face_fallback, person_loss=person_loss, age_sigma=age_sigma,
                          old_share=_old_share(df, tr, va, all_people),
                          world_size=world_size(), extra=f'{n_extra} pseudo-labelled items' if n_extra else None)
    dls = mask_dataloaders(df, caches, tr, va, preset=cfg.aug, bs=cfg.bs, mean=mean, std=std, downsample=cfg.downsample,
                           power=cfg.weighted, num_workers=cfg.workers, seed=cfg.seed,
                           extra_targets=('age',) if cfg.age_head != 'class' or cfg.skip_boundary_age or age_sigma else (),
                           mixing=SameLabelMix(cfg.cutmix, mixup_old=cfg.mixup_old) if cfg.cutmix or cfg.mixup_old else None, erase=cfg.erase,
                           person_batches=cfg.person_batches or person_loss > 0)
    if main and not resume: balance_report(df, tr, va, run_dir / 'balance.png').to_csv(run_dir / 'balance.csv')
    if main and not cfg.quiet: print(_people_line(df, tr, va, cfg, all_people))
    def make(precision):
        return mask_learner(dls, cfg.arch, cfg.head, cfg.loss, cfg.weights, cfg.pretrained, precision, cfg.channels_last,
                            patience=0 if valid_last else cfg.patience, run_dir=run_dir, wd=cfg.wd, quiet=cfg.quiet, wandb=cfg.wandb and main,
                            keep_best=cfg.keep_best, task=cfg.task, age_head=cfg.age_head, old_from=cfg.old_from,
                            select_best=not all_people, ema=cfg.ema, stem=stem,
                            skip_ages=(tuple(cfg.boundary_ages[:2]), tuple(cfg.boundary_ages[2:])) if cfg.skip_boundary_age else None,
                            person_loss=person_loss, person_loss_on=cfg.person_loss_on, person_pull=cfg.person_pull,
                            drop_path=cfg.drop_path, age_sigma=age_sigma, fused_adam=cfg.fused_adam)
    learn = make(state.precision if resume else cfg.precision)
    init = {k: v.clone() for k, v in learn.model.state_dict().items()}
    try:
        try: learn, probs, state = _train(learn, dls, cfg, state, run_dir, t0, resume, valid_last)
        except LowPrecisionDiverged as e:
            if main: print(f'notice: {e}; restarting this fit in fp32')
            learn = make('fp32'); learn.model.load_state_dict(init)
            learn, probs, state = _train(learn, dls, cfg, state, run_dir, t0, resume, valid_last)
    except KeyboardInterrupt:
        if main: print(f'\ninterrupted: the last complete epoch is in {run_dir / "last.pth"}; continue with --resume {run_dir}')
        raise
    res = {'run_dir': str(run_dir), 'size': list(size), 'rank': rank(), 'world_size': world_size(),
           'weights_sha1': weights_digest(learn.model)}
    if is_distributed(): print(f'rank {rank()}/{world_size()}: weights sha1 {res["weights_sha1"]}', flush=True)
    if not main: close_distributed(); return res
    res.update(evaluate_run(learn, dls, run_dir, cfg, state, df.iloc[va], probs))
    res['seconds'] = round(time.time() - t0, 1)
    res['holdout'] = not all_people
    (run_dir / 'result.json').write_text(pd.Series(res).to_json(indent=1))
    tasks = ' '.join(f'{t} {res["f1_" + t]:.3f}' for t in ('mask', 'gender', 'age') if 'f1_' + t in res)
    print(f'valid {"macro F1" if cfg.task == "all" else cfg.task + " macro F1"} {res["f1"]:.4f} ({tasks}) '
          f'in {res["seconds"]:.0f}s -> {run_dir}' + ('\n(the validation people were trained on: not a hold-out score)' if all_people else ''))
    close_distributed()
    return res

def _old_share(df, tr, va, all_people):
    "Share of the labelled images trained on (pseudo-labelled ones have no age) whose person is >=60 by the competition's cut."
    age = df['age'].to_numpy()[np.concatenate([tr, va]) if all_people else np.asarray(tr)]
    age = age[age >= 0]
    return round(float((age >= 60).mean()), 6) if len(age) else None

def _people_line(df, tr, va, cfg, all_people):
    "Who trains: every person (val-as-train) or all but the hold-out fold, and why a hold-out was kept."
    n_tr, n_va = df['folder'].iloc[tr].nunique(), df['folder'].iloc[va].nunique()
    if all_people: return (f'val-as-train: training on all {n_tr} people, the {n_va} of validation fold {cfg.fold} included '
                           '(its score is no hold-out; --no-train-all holds them out)' +
                           ('' if cfg.valid_every_epoch else '; scored after the last epoch only (--valid-every-epoch: each)'))
    why = cfg.holdout_needed()
    return f'training on {n_tr} people, {n_va} held out for validation' + (f' (needed by {why})' if why else '')

def _training_items(cfg, data, size, extra, all_people=False):
    """(items, image sources, train rows, valid rows, number of extra items): the split, boundary drop and extra items;
    `all_people` trains on the validation people too (they still report, but are no hold-out any more)."""
    df, caches = load_items(data, size, image_crop(cfg), cfg.old_from, cfg.label_fixes, verbose=not cfg.quiet, cache=cfg.cache)
    if cfg.split == 'image':     # the leaky split, kept only to measure how much it over-states F1
        tr, va = map(np.asarray, random_image_splitter(1 / cfg.folds, cfg.seed)(df))
    else: tr, va = fold_indices(df, int(cfg.fold), cfg.folds, cfg.seed)
    if all_people: tr = np.sort(np.concatenate([tr, va]))
    if cfg.drop_boundary: tr = drop_age_boundary(df, tr, (tuple(cfg.boundary_ages[:2]), tuple(cfg.boundary_ages[2:])))
    if extra is None: return df, caches, tr, va, 0
    caches = caches + list(extra.attrs['caches'])
    extra = extra.assign(src=extra['src'] + 1)
    df = pd.concat([df, extra], ignore_index=True)
    return df, caches, np.concatenate([tr, np.arange(len(df) - len(extra), len(df))]), va, len(extra)

def weights_digest(model):
    "SHA-1 of a model's parameters (the check that every rank ended with the same weights)."
    h = hashlib.sha1()
    for v in model.parameters(): h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()

def _train(learn, dls, cfg, state, run_dir, t0, resume, valid_last=False):
    """lr_find (when the lr or the epochs are to be chosen), the fit and the validation predictions, inside the
    distributed context when launched with several processes. Decisions are rank 0's, broadcast to every rank.
    `valid_last`: only the fit's last epoch is validated (`ValidateLast`), and the plan counts it once.
    Returns (learn, validation probabilities, the state with lr/epochs/precision)."""
    main, loaders = is_main(), list(dls.loaders)
    small = small_size(state.size, cfg.progressive_scale) if cfg.progressive else None
    try:
        with distributed(learn):
            start_epoch = resume_from(learn, run_dir) if resume else 0
            lr, epochs = (state.lr, state.epochs) if resume else (cfg.lr, cfg.epochs)
            planned = not resume and not epochs   # the budget sizes the epochs: a BudgetGuard keeps them to it
            tail_s = 0.
            if not resume and (lr is None or not epochs):
                lr, epochs, tail_s = plan_lr_and_epochs(learn, dls, lr, epochs, cfg.budget, t0, cfg.pretrained or bool(cfg.weights),
                                                run_dir / 'lr_find.png', cfg.quiet, small and (cfg.progressive, small), valid_last,
                                                cfg.max_epochs)
            state = state.replace(lr=lr, epochs=epochs, precision=learn.precision)
            if main and not resume: write_args(run_dir, cfg, state)
            what = f'{cfg.head} head' if cfg.task == 'all' else f'{cfg.task} task alone'
            n_small = progressive_epochs(cfg.progressive, epochs)
            if not cfg.quiet: print(f'training {cfg.arch} ({what}, {learn.precision}, {state.stem} stem at {state.size[0]}x{state.size[1]}) '
                                    f'lr={lr:.2e} for {epochs} epochs'
                                    + (f' (the first {n_small} at {small[0]}x{small[1]})' if n_small else '') + f' -> {run_dir}')
            tune = (cfg.pretrained or cfg.weights) and cfg.freeze_epochs and not start_epoch   # head first, then all
            loop = epochs_with_room(epochs) if planned else last_epoch(epochs) + 1   # room for the guard to lengthen the plan
            fraction = EpochFraction(epochs) if planned or epochs != int(epochs) else None   # the length in epochs and a fraction
            guard = (BudgetGuard(cfg.budget, t0, skip=n_small, quiet=cfg.quiet, on_cut=partial(_record_epochs, run_dir, cfg, state),
                                 plan=epochs, tail_s=tail_s, reserve_s=RESERVE_S, fraction=fraction, cap=cfg.max_epochs) if planned else None)
            cbs = ([ProgressiveResize(small, n_small)] if n_small else []) + [c for c in (fraction, guard) if c] + ([ValidateLast()] if valid_last else [])
            if tune: _fine_tune(learn, loop, lr, cfg.freeze_epochs, cbs)
            else:
                with learn.added_cbs(cbs): learn.fit_one_cycle(loop, lr, start_epoch=start_epoch)
            if guard and guard.epochs and guard.epochs != epochs: state = state.replace(epochs=guard.epochs)
            probs, _ = learn.get_preds(dl=dls.valid)   # every rank: get_preds gathers across ranks
    finally: dls.loaders[:] = loaders   # an exception inside fit leaves them wrapped
    return learn, probs, state

def _fine_tune(learn, epochs, base_lr, freeze_epochs, cbs):
    """fastai's `fine_tune` (the head alone for `freeze_epochs`, then everything with discriminative learning rates),
    with `cbs` (the budget guard among them) on the unfrozen fit only."""
    learn.freeze()
    learn.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99)
    learn.unfreeze()
    with learn.added_cbs(cbs): learn.fit_one_cycle(epochs, slice(base_lr / 2 / 100, base_lr / 2), pct_start=0.3, div=5.0)

def _whole(epochs):
    "Epochs as an int when whole, else rounded to 2 decimals (a budget-sized fit ends inside an epoch)."
    return None if epochs is None else int(epochs) if float(epochs) == int(epochs) else round(float(epochs), 2)

def _record_epochs(run_dir, cfg, state, epochs):
    "args.yaml's `run: epochs:` after a BudgetGuard change: the schedule `--resume` continues and `--full` refits with."
    if is_main(): write_args(run_dir, cfg, state.replace(epochs=epochs))

def evaluate_run(learn, dls, run_dir, cfg, state, valid_items, probs=None):
    """Write model.pth/json, valid_preds.csv, confusion.png and report.txt for the (best) model; return the scores.
    `probs`: validation predictions already made (by every rank, in a distributed run)."""
    from sklearn.metrics import classification_report, confusion_matrix
    crop = image_crop(cfg)
    model_cfg = dict(arch=cfg.arch, head=cfg.head, size=list(state.size), crop=list(crop) if isinstance(crop, tuple) else crop,
                     face_fallback=state.face_fallback and list(state.face_fallback), old_from=cfg.old_from, norm=state.norm,
                     aug=cfg.aug, bs=cfg.bs, task=cfg.task, age_head=cfg.age_head, stem=model_stem(learn.model))
    write_model(run_dir, learn.model, model_cfg)
    if probs is None: probs, _ = learn.get_preds(dl=dls.valid)
    vp = write_valid_preds(run_dir, valid_items, probs.numpy(), cfg.task)
    if cfg.task == 'all': f1, tasks, names = macro_f1(vp['true'], vp['pred']), task_f1(vp['true'], vp['pred']), [class_name(i) for i in range(18)]
    else: f1, names = macro_f1(vp['true'], vp['pred']), list(TASK_NAMES[cfg.task]); tasks = {cfg.task: f1}
    (run_dir / 'report.txt').write_text(
        f'macro F1 {f1:.4f}\n' + ''.join(f'{k} F1 {v:.4f}\n' for k, v in tasks.items()) + '\n' +
        classification_report(vp['true'], vp['pred'], labels=list(range(len(names))), target_names=names, zero_division=0))
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    cm = confusion_matrix(vp['true'], vp['pred'], labels=list(range(len(names))))
    fig, ax = plt.subplots(figsize=(9, 8)); ax.imshow(cm, cmap='Blues')
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7); ax.set_yticks(range(len(names)), names, fontsize=7)
    for i, j in zip(*np.nonzero(cm)): ax.text(j, i, cm[i, j], ha='center', va='center', fontsize=6)
    ax.set_xlabel('predicted'); ax.set_ylabel('true'); ax.set_title(f'validation, macro F1 {f1:.3f}')
    fig.tight_layout(); fig.savefig(run_dir / 'confusion.png', dpi=80); plt.close(fig)
    hist = pd.read_csv(run_dir / 'history.csv') if (run_dir / 'history.csv').exists() else None
    return {'run_dir': str(run_dir), 'f1': f1, **{f'f1_{k}': v for k, v in tasks.items()},
            'epochs': _whole(state.epochs), 'epochs_run': 0 if hist is None else len(hist), 'lr': state.lr}

def fit_folds(config=None, **opts):
    "Train every fold (`folds` K, the budget shared) into RUN/fold{i}, then write the out-of-fold macro F1 to RUN/oof.json."
    cfg = as_config(config, **opts).replace(fold='all')   # every fold holds its people out (no val-as-train)
    parent = new_run_dir(cfg.out); k = int(cfg.folds)
    write_args(parent, cfg)
    results = [fit_run(cfg.replace(fold=str(i), out=str(parent / f'fold{i}'), budget=cfg.budget / k)) for i in range(k)]
    oof = pd.concat([read_valid_preds(r['run_dir'])[0] for r in results])
    res = {'run_dir': str(parent), 'oof_f1': macro_f1(oof['true'], oof['pred']), 'fold_f1': [r['f1'] for r in results],
           **({f'oof_f1_{t}': v for t, v in task_f1(oof['true'], oof['pred']).items()} if cfg.task == 'all' else {})}
    (parent / 'oof.json').write_text(pd.Series(res).to_json(indent=1))
    print(f'out-of-fold macro F1 over {k} folds: {res["oof_f1"]:.4f} -> {parent}')
    return res

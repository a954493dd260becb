"""Train one run (or all k folds) end to end into a run folder; the library call behind `python -m maskfast.fit`."""
__all__ = ['DEFAULTS', 'fit_run', 'fit_folds', 'evaluate_run']

import hashlib, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from fastai.torch_core import set_seed
from .block import mask_dataloaders, balance_report
from .cache import dataset_stats
from .callbacks import BatchTimer, load_checkpoint, LowPrecisionDiverged
from .labels import drop_age_boundary, class_name
from .learner import mask_learner, load_items, plan_epochs, check_size
from .metrics import macro_f1, task_f1
from .models import check_arch
from .distrib import init_distributed, is_main, is_distributed, rank, world_size, main_first, broadcast_object, distributed, close_distributed
from .splits import fold_indices, random_image_splitter
from .twin import default_twin
from .runs import new_run_dir, write_args, read_args, write_model, write_valid_preds, read_valid_preds

DEFAULTS = dict(data=None, arch='resnet18', head='multi', loss='ce', pretrained=False, weights=None,
                size=(128, 96), crop=0.85, bs=32, epochs=0, budget=420., lr=None, wd=None, precision='auto', channels_last=True,
                freeze_epochs=1, patience=0, keep_best=1, folds=5, fold='0', seed=42, weighted=0.5, downsample=True, old_from=60, drop_boundary=False,
                label_fixes=None, cache=True, aug='light', split='person', workers=0, out=None, wandb=False, quiet=False, resume=None, extra=None)

def fit_run(**opts):
    """Train one fold into a run folder and return a summary dict (run_dir, f1, epochs, ...). Options: `DEFAULTS`.
    `epochs=0` picks the number of epochs that fits `budget` seconds from the speed measured during lr_find.
    `extra` is a frame of additional training items (pseudo labels) with src/row columns, never used for validation.
    Launched with several processes (torchrun), every rank trains its share of each batch and only rank 0 writes."""
    t0 = time.time()
    init_distributed()
    main = is_main()
    if opts.get('resume'):
        run_dir = Path(opts['resume']); saved = read_args(run_dir); saved.pop('versions', None)
        opts = {**saved, 'resume': str(run_dir), 'out': str(run_dir)}
    opts = {**DEFAULTS, **opts}
    if not main: opts['quiet'] = True
    check_arch(opts['arch'])
    opts['size'] = check_size(opts['size'])
    if opts['data'] is None:
        with main_first(): opts['data'] = str(default_twin())
    run_dir = Path(broadcast_object(str(new_run_dir(opts['out'])) if main else None)); opts['out'] = str(run_dir)
    set_seed(opts['seed'], reproducible=True)
    with main_first():   # rank 0 builds the caches and stats, the others reuse them
        df, caches = load_items(opts['data'], opts['size'], opts['crop'], opts['old_from'], opts['label_fixes'],
                                verbose=not opts['quiet'], cache=opts['cache'])
        if opts['split'] == 'image':     # the leaky split, kept only to measure how much it over-states F1
            tr, va = map(np.asarray, random_image_splitter(1 / opts['folds'], opts['seed'])(df))
        else: tr, va = fold_indices(df, int(opts['fold']), opts['folds'], opts['seed'])
        if opts['drop_boundary']: tr = drop_age_boundary(df, tr)
        extra = opts.pop('extra', None) if isinstance(opts.get('extra'), pd.DataFrame) else None
        if extra is not None:
            caches = caches + list(extra.attrs['caches'])
            extra = extra.assign(src=extra['src'] + 1)
            df = pd.concat([df, extra], ignore_index=True)
            tr = np.concatenate([tr, np.arange(len(df) - len(extra), len(df))])
        opts['extra'] = None if extra is None else f'{len(extra)} pseudo-labelled items'
        mean, std = (None, None) if (opts['pretrained'] or opts['weights']) else dataset_stats(caches[0], rows=df['row'].values[tr][df['src'].values[tr] == 0])
    opts['norm'] = 'imagenet' if mean is None else {'mean': mean, 'std': std}
    dls = mask_dataloaders(df, caches, tr, va, preset=opts['aug'], bs=opts['bs'], mean=mean, std=std,
                           downsample=opts['downsample'], power=opts['weighted'], num_workers=opts['workers'], seed=opts['seed'])
    if main: balance_report(df, tr, va, run_dir / 'balance.png').to_csv(run_dir / 'balance.csv')
    def make(precision):
        return mask_learner(dls, opts['arch'], opts['head'], opts['loss'], opts['weights'], opts['pretrained'], precision,
                            opts['channels_last'], patience=opts['patience'], run_dir=run_dir, wd=opts['wd'],
                            quiet=opts['quiet'], wandb=opts['wandb'] and main, keep_best=opts['keep_best'])
    learn = make(opts['precision'])
    init = {k: v.clone() for k, v in learn.model.state_dict().items()}
    try:
        try: learn, probs = _train(learn, dls, opts, run_dir, t0)
        except LowPrecisionDiverged as e:
            if main: print(f'notice: {e}; restarting this fit in fp32')
            learn = make('fp32'); learn.model.load_state_dict(init)
            learn, probs = _train(learn, dls, opts, run_dir, t0)
    except KeyboardInterrupt:
        if main: print(f'\ninterrupted: the last complete epoch is in {run_dir / "last.pth"}; continue with --resume {run_dir}')
        raise
    res = {'run_dir': str(run_dir), 'size': list(opts['size']), 'rank': rank(), 'world_size': world_size(),
           'weights_sha1': weights_digest(learn.model)}
    if is_distributed(): print(f'rank {rank()}/{world_size()}: weights sha1 {res["weights_sha1"]}', flush=True)
    if not main: close_distributed(); return res
    if opts.get('resume') and (run_dir / 'history.csv').exists(): _clean_history(run_dir / 'history.csv')
    res.update(evaluate_run(learn, dls, run_dir, opts, df.iloc[va], probs))
    res['seconds'] = round(time.time() - t0, 1)
    (run_dir / 'result.json').write_text(pd.Series(res).to_json(indent=1))
    print(f'valid macro F1 {res["f1"]:.4f} (mask {res["f1_mask"]:.3f} gender {res["f1_gender"]:.3f} '
          f'age {res["f1_age"]:.3f}) in {res["seconds"]:.0f}s -> {run_dir}')
    close_distributed()
    return res

def weights_digest(model):
    "SHA-1 of a model's parameters (the check that every rank ended with the same weights)."
    h = hashlib.sha1()
    for v in model.parameters(): h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()

def _train(learn, dls, opts, run_dir, t0):
    """lr_find (when the lr or the epochs are to be chosen), the fit and the validation predictions, inside the
    distributed context when launched with several processes. Decisions are rank 0's, broadcast to every rank."""
    main, loaders = is_main(), list(dls.loaders)
    try:
        with distributed(learn):
            start_epoch = _resume(learn, run_dir) if opts.get('resume') else 0
            if not opts.get('resume') and (opts['lr'] is None or not opts['epochs']): _plan(learn, dls, opts, run_dir, t0)
            opts['precision_used'] = learn.precision
            if main: write_args(run_dir, opts)
            if not opts['quiet']: print(f'training {opts["arch"]} ({opts["head"]} head, {learn.precision}) lr={opts["lr"]:.2e} '
                                        f'for {opts["epochs"]} epochs -> {run_dir}')
            if (opts['pretrained'] or opts['weights']) and opts['freeze_epochs'] and not start_epoch:
                learn.fine_tune(opts['epochs'], opts['lr'], freeze_epochs=opts['freeze_epochs'])   # head first, then all
            else: learn.fit_one_cycle(opts['epochs'], opts['lr'], start_epoch=start_epoch)
            probs, _ = learn.get_preds(dl=dls.valid)   # every rank: get_preds gathers across ranks
    finally: dls.loaders[:] = loaders   # an exception inside fit leaves them wrapped
    return learn, probs

def _valley(lrs, losses, n_it):
    "fastai's `valley` suggestion on the recorded lr_find curve (its trimming), or 0 when too few finite points."
    from fastai.callback.schedule import valley
    lrs, losses = lrs[n_it // 10:-5], losses[n_it // 10:-5]
    ok = np.isfinite(losses)
    if ok.sum() < 5: return 0.
    return valley(torch.tensor(lrs[ok]), torch.tensor(losses[ok]), n_it)[0]

def _resume(learn, run_dir):
    "Load model, optimizer and best score from run_dir/last.pth; return the epoch to start from."
    ck = load_checkpoint(run_dir / 'last.pth') if (run_dir / 'last.pth').exists() else None
    if ck is None: return 0
    learn.model.load_state_dict(ck['model']); learn.create_opt(); learn.opt.load_state_dict(ck['opt'])
    saver = next(cb for cb in learn.cbs if type(cb).__name__ == 'BestModelSaver')
    saver.reset_on_fit, saver.best, saver.best_epoch = False, ck['best'], ck['best_epoch']
    if hasattr(learn, 'csv_logger'): learn.csv_logger.append = True
    if is_main(): print(f'resuming {run_dir} at epoch {ck["epoch"] + 1}')
    return ck['epoch'] + 1

def _plan(learn, dls, opts, run_dir, t0):
    "lr_find: the learning rate (when unset) and the seconds per step that size the epochs to the budget (when unset)."
    n_it = 60 if opts['lr'] is None else 10
    lr_kw = {} if opts['lr'] is None else {'start_lr': opts['lr'] / 100, 'end_lr': opts['lr']}
    timer = BatchTimer()
    with learn.added_cbs(timer): learn.lr_find(num_it=n_it, show_plot=False, stop_div=True, suggest_funcs=(), **lr_kw)
    lrs, losses = np.array(learn.recorder.lrs, float), np.array([float(l) for l in learn.recorder.losses])
    if learn.precision == 'bf16' and not np.isfinite(losses[:max(3, len(losses) // 10)]).all():
        raise LowPrecisionDiverged('bf16 autocast gave NaN losses in lr_find')
    step_s = timer.step_seconds()
    if opts['lr'] is None:
        lo = 1e-4 if (opts['pretrained'] or opts['weights']) else 3e-3   # from scratch, valley is too timid (measured)
        opts['lr'] = float(np.clip(_valley(lrs, losses, n_it), lo, 1e-2))
        if is_main():
            import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
            learn.recorder.plot_lr_find(); plt.axvline(opts['lr'], color='red', ls='--', label=f'chosen {opts["lr"]:.1e}')
            plt.legend(); plt.gcf().savefig(run_dir / 'lr_find.png', dpi=80); plt.close('all')
    if not opts['epochs']:
        n_tr, n_va = (-(-len(dl) // world_size()) for dl in (dls.train, dls.valid))   # each rank runs its share of the batches
        opts['epochs'], epoch_s = plan_epochs(opts['budget'], time.time() - t0, step_s, n_tr, n_va)
        if not opts['quiet']: print(f'budget {opts["budget"]:.0f}s: {opts["epochs"]} epochs of ~{epoch_s:.0f}s (measured {1/step_s*opts["bs"]:.0f} img/s)')
    opts['lr'], opts['epochs'] = broadcast_object((opts['lr'], opts['epochs']))

def _clean_history(path):
    "After a resume: drop the lines fastai logs for skipped epochs and repeated headers; keep one row per epoch."
    h = pd.read_csv(path, dtype=str)
    h = h[pd.to_numeric(h['epoch'], errors='coerce').notna() & h['train_loss'].notna()]
    h.drop_duplicates('epoch', keep='last').to_csv(path, index=False)

def evaluate_run(learn, dls, run_dir, opts, valid_items, probs=None):
    """Write model.pth/json, valid_preds.csv, confusion.png and report.txt for the (best) model; return the scores.
    `probs`: validation predictions already made (by every rank, in a distributed run)."""
    from sklearn.metrics import classification_report, confusion_matrix
    cfg = dict(arch=opts['arch'], head=opts['head'], size=opts['size'], crop=opts['crop'], old_from=opts['old_from'],
               norm=opts['norm'], aug=opts['aug'], bs=opts['bs'])
    write_model(run_dir, learn.model, cfg)
    if probs is None: probs, _ = learn.get_preds(dl=dls.valid)
    vp = write_valid_preds(run_dir, valid_items, probs.numpy())
    f1, tasks = macro_f1(vp['true'], vp['pred']), task_f1(vp['true'], vp['pred'])
    names = [class_name(i) for i in range(18)]
    (run_dir / 'report.txt').write_text(
        f'macro F1 {f1:.4f}\n' + ''.join(f'{k} F1 {v:.4f}\n' for k, v in tasks.items()) + '\n' +
        classification_report(vp['true'], vp['pred'], labels=list(range(18)), target_names=names, zero_division=0))
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    cm = confusion_matrix(vp['true'], vp['pred'], labels=list(range(18)))
    fig, ax = plt.subplots(figsize=(9, 8)); ax.imshow(cm, cmap='Blues')
    ax.set_xticks(range(18), names, rotation=90, fontsize=7); ax.set_yticks(range(18), names, fontsize=7)
    for i, j in zip(*np.nonzero(cm)): ax.text(j, i, cm[i, j], ha='center', va='center', fontsize=6)
    ax.set_xlabel('predicted'); ax.set_ylabel('true'); ax.set_title(f'validation, macro F1 {f1:.3f}')
    fig.tight_layout(); fig.savefig(run_dir / 'confusion.png', dpi=80); plt.close(fig)
    hist = pd.read_csv(run_dir / 'history.csv') if (run_dir / 'history.csv').exists() else None
    return {'run_dir': str(run_dir), 'f1': f1, **{f'f1_{k}': v for k, v in tasks.items()},
            'epochs': int(opts['epochs']), 'epochs_run': 0 if hist is None else len(hist), 'lr': opts['lr']}

def fit_folds(**opts):
    "Train every fold (`folds` K) into RUN/fold{i}, then write the out-of-fold macro F1 to RUN/oof.json."
    opts = {**DEFAULTS, **opts}
    parent = new_run_dir(opts['out']); k = int(opts['folds'])
    budget = opts['budget'] / k
    results = [fit_run(**{**opts, 'fold': str(i), 'out': str(parent / f'fold{i}'), 'budget': budget}) for i in range(k)]
    oof = pd.concat([read_valid_preds(r['run_dir'])[0] for r in results])
    res = {'run_dir': str(parent), 'oof_f1': macro_f1(oof['true'], oof['pred']), 'fold_f1': [r['f1'] for r in results],
           **{f'oof_f1_{t}': v for t, v in task_f1(oof['true'], oof['pred']).items()}}
    (parent / 'oof.json').write_text(pd.Series(res).to_json(indent=1))
    print(f'out-of-fold macro F1 over {k} folds: {res["oof_f1"]:.4f} -> {parent}')
    return res

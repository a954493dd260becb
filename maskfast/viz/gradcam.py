"""Grad-CAM with fastai hooks on the last backbone layer, per task, and a PNG grid of correct and wrong predictions."""
__all__ = ['gradcam', 'gradcam_grid']

import numpy as np, torch
from fastai.callback.hook import hook_output
from ..data.labels import decode, class_name
from ..infer.predict import norm_stats
from ..learn.models import output_probs

_TASK_SLICE = {'mask': 0, 'gender': 1, 'age': 2}

def gradcam(model, x, task='class', target=None, age_head='class', old_from=60):
    """Grad-CAM heatmaps (N, h, w) in [0, 1] for a batch `x` (normalised, NCHW) on the backbone's last feature map.
    `task` 'class' explains the 18-class prediction, 'mask'/'gender'/'age' the task marginal; `target` defaults to the prediction."""
    model.eval(); body = model[0]
    with hook_output(body, detach=False) as hook:
        logits = model(x.float())
        p = output_probs(logits, 'all', age_head, old_from).reshape(-1, 3, 2, 3)
        if task == 'class': scores = p.reshape(len(x), 18)
        else:
            dims = {'mask': (2, 3), 'gender': (1, 3), 'age': (1, 2)}[task]
            scores = p.sum(dims)
        tgt = scores.argmax(1) if target is None else torch.as_tensor(target)
        sel = scores[torch.arange(len(x)), tgt].log().sum()
        act = hook.stored
        grad, = torch.autograd.grad(sel, act)
    w = grad.mean((2, 3), keepdim=True)
    cam = torch.relu((w * act).sum(1)).detach()
    cam = cam / (cam.flatten(1).max(1).values.view(-1, 1, 1) + 1e-8)
    return cam.numpy(), tgt.numpy()

def gradcam_grid(model, cfg, cache, rows, labels, png, task='class', n=6):
    "Save a grid: up to `n` correct and `n` wrong predictions with their Grad-CAM overlay. Returns (n_right, n_wrong)."
    import cv2, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    mean, std = norm_stats(cfg)
    imgs = np.stack([cache.array[r] for r in rows])
    x = (torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255 - mean) / std
    cams, pred = gradcam(model, x, task, age_head=cfg.get('age_head', 'class'), old_from=cfg.get('old_from', 60))
    truth = np.asarray(labels) if task == 'class' else decode(np.asarray(labels))[_TASK_SLICE[task]]
    right, wrong = np.flatnonzero(pred == truth)[:n], np.flatnonzero(pred != truth)[:n]
    fig, axs = plt.subplots(2, n, figsize=(2 * n, 5.5), squeeze=False)
    for r, (idx, title) in enumerate(((right, 'right'), (wrong, 'wrong'))):
        for j in range(n):
            ax = axs[r, j]; ax.axis('off')
            if j >= len(idx): continue
            i = idx[j]; im = imgs[i]
            heat = cv2.resize(cams[i], (im.shape[1], im.shape[0]))
            ax.imshow(im); ax.imshow(heat, cmap='jet', alpha=0.4)
            name = class_name(pred[i]) if task == 'class' else str(pred[i])
            ax.set_title(f'{title}: {name}', fontsize=7)
    fig.suptitle(f'Grad-CAM ({task})'); fig.tight_layout(); fig.savefig(png, dpi=80); plt.close(fig)
    return len(right), len(wrong)

"""The label-review page: one suspect person at a time (most suspicious first) with the 7 photos, the given labels
and the model's, and buttons (with keyboard shortcuts) keep / swap gender / set age group / swap incorrect<->normal.
Each decision is one line appended to the fixes file (`FixesFile`); the page always shows the first person not yet
decided, so reopening it resumes, and a second tab cannot decide a person twice."""
__all__ = ['ACTIONS', 'review_app']

import html
from pathlib import Path
import numpy as np, pandas as pd
from fastapi import FastAPI, Form
from fastapi.responses import HTMLResponse, FileResponse, RedirectResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from ..data.labels import GENDERS, AGES, MASKS, STEM_MASK
from ..data.layout import read_train
from ..infer.review import oof_predictions, rank_label_issues, FixesFile, AGE_OF_GROUP

STATIC = Path(__file__).parent / 'static'
ACTIONS = {'keep': ('keep', 'k', [('keep', '')]), 'gender': ('swap gender', 'g', [('gender_swap', '')]),
           **{f'age{a}': (f'age group {AGES[a]}', str(a + 1), [('age', AGE_OF_GROUP[a])]) for a in range(3)},
           'mask': ('swap incorrect <-> normal', 'm', [('mask_swap', '')])}

def _pct(v): return f'{100 * v:.0f}%'

def review_app(run, data, fixes, only_flagged=False):
    """The FastAPI app reviewing the training people of `data` with the out-of-fold predictions of `run`, writing
    decisions to `fixes` (CSV). `only_flagged` shows only the people cleanlab flags."""
    oof, complete = oof_predictions(run)
    ranking = rank_label_issues(oof)
    if only_flagged: ranking = ranking[ranking.flagged]
    order = list(dict.fromkeys(ranking['folder']))
    items = read_train(data, verbose=False)
    files = {f: g.set_index('stem')['file'].to_dict() for f, g in items.groupby('folder')}
    people = items.drop_duplicates('folder').set_index('folder')
    probs = oof.set_index('file')[[f'p{c}' for c in range(18)]]
    store = FixesFile(fixes)
    app = FastAPI(title='maskfast review', docs_url=None, redoc_url=None)
    app.mount('/static', StaticFiles(directory=STATIC), name='static')
    note_scope = 'every training person' if complete else 'only this run\'s validation people (train with --fold all for everyone)'

    def model_view(folder):
        "Pooled gender and age probabilities of the person, and each photo's mask probabilities."
        fs = [f for f in files[folder].values() if f in probs.index]
        if not fs: return None
        p = probs.loc[fs].values.reshape(-1, 3, 2, 3)
        lg, la = np.log(p.sum((1, 3)) + 1e-9).sum(0), np.log(p.sum((1, 2)) + 1e-9).sum(0)
        g, a = np.exp(lg - lg.max()), np.exp(la - la.max())
        return g / g.sum(), a / a.sum(), {f: p[i].sum((1, 2)) for i, f in enumerate(fs)}

    def page(folder, note=''):
        person = people.loc[folder]
        view = model_view(folder)
        rows = ranking[ranking.folder == folder]
        photo_cells = []
        for stem in STEM_MASK:
            f = files[folder].get(stem)
            if f is None: continue
            mp = view[2].get(f) if view else None
            model_mask = f'model: {MASKS[int(mp.argmax())]} {_pct(mp.max())}' if mp is not None else ''
            photo_cells.append(f'<div class="photo"><img src="photo/{html.escape(folder)}/{stem}" alt="{stem}">{stem}<br>'
                               f'given: {MASKS[STEM_MASK[stem]]}<br>{model_mask}</div>')
        table = ''.join(f'<tr class="{"flagged" if r.flagged else ""}"><td>{r.kind}</td><td>{r.score:.3f}</td><td>{"yes" if r.flagged else ""}</td>'
                        f'<td>{html.escape(str(r.given))}</td><td>{html.escape(str(r.suggestion))}</td></tr>' for r in rows.itertuples())
        model = (f'model: {GENDERS[int(view[0].argmax())]} {_pct(view[0].max())}, age {AGES[int(view[1].argmax())]} {_pct(view[1].max())} '
                 f'(<span class="muted">{", ".join(f"{a} {_pct(v)}" for a, v in zip(AGES, view[1]))}</span>)') if view else ''
        buttons = ''.join(f'<button name="action" value="{k}" data-key="{key}" id="act-{k}">{label} <kbd>{key}</kbd></button>'
                          for k, (label, key, _) in ACTIONS.items())
        done = len(set(store.decided()) & set(order))
        return (f'<!doctype html><html><head><meta charset="utf-8"><title>review {html.escape(folder)}</title>'
                f'<link rel="stylesheet" href="static/style.css"></head><body>'
                f'<h1>Suspect {done + 1} of {len(order)}: <span id="folder">{html.escape(folder)}</span></h1>'
                f'<p class="muted">reviewing {note_scope}; decisions go to {html.escape(str(store.path))}</p>'
                + (f'<p class="note" id="note">{html.escape(note)}</p>' if note else '') +
                f'<p>given: <b>{GENDERS[int(person.gender)]}</b>, age <b>{int(person.age)}</b> ({AGES[int(person.age_group)]}), '
                f'{html.escape(str(person.get("race", "")))}<br>{model}</p>'
                f'<table><tr><th>check</th><th>label quality</th><th>flagged</th><th>given</th><th>suggestion</th></tr>{table}</table>'
                f'<div class="photos">{"".join(photo_cells)}</div>'
                f'<form method="post" action="decide" class="actions"><input type="hidden" name="folder" value="{html.escape(folder)}">'
                f'{buttons}</form><script src="static/review.js"></script></body></html>')

    @app.get('/', response_class=HTMLResponse)
    def index(note: str = ''):
        decided = set(store.decided())
        nxt = next((f for f in order if f not in decided), None)
        if nxt is None:
            return (f'<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="static/style.css"></head><body>'
                    f'<h1 id="finished">All {len(order)} suspects reviewed</h1><p>Fixes: {html.escape(str(store.path))}; train with '
                    f'<code>python -m maskfast.fit --label-fixes {html.escape(str(store.path))}</code></p></body></html>')
        return page(nxt, note)

    @app.post('/decide')
    def decide(folder: str = Form(...), action: str = Form(...)):
        if folder not in files: return JSONResponse({'error': f'unknown person {folder!r}'}, 404)
        if action not in ACTIONS: return JSONResponse({'error': f'unknown action {action!r}; one of {list(ACTIONS)}'}, 400)
        if not store.append(folder, ACTIONS[action][2]):
            return RedirectResponse(f'./?note={folder}+was+already+decided+(another+tab?);+nothing+written', 303)
        return RedirectResponse('./', 303)

    @app.get('/photo/{folder}/{stem}')
    def photo(folder: str, stem: str):
        f = files.get(folder, {}).get(stem)          # only files of the data set: names index it, never build paths
        if f is None: return JSONResponse({'error': 'no such photo'}, 404)
        return FileResponse(f)

    @app.get('/health')
    def health(): return {'status': 'ok', 'suspects': len(order), 'decided': len(set(store.decided()) & set(order))}

    return app

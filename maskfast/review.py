"""`python -m maskfast.review RUN --data ROOT [--port P] [--list FILE]`: rank the people whose labels the models doubt
(cleanlab on out-of-fold probabilities) and review them one at a time in the browser; decisions go to a label-fixes
file for `fit --label-fixes` (library: `maskfast.infer.review`, page: `maskfast.web.review`)."""
__all__ = ['main']

from pathlib import Path
from fastcore.script import call_parse, store_true

@call_parse
def main(
    run: str,                           # a k-fold parent (fit --fold all: every person) or a run (its validation people)
    data: str = None,                   # competition root (default: the data the run trained on)
    fixes: str = None,                  # label-fixes CSV the decisions go to (default: RUN/label_fixes.csv)
    list: str = None,                   # write the ranking (folder, kind, score, flagged, given, suggestion) here; no server
    only_flagged: store_true = False,   # review only the people cleanlab flags
    host: str = '127.0.0.1',            # address to bind (127.0.0.1: this machine only)
    port: int = 8765,                   # port
):
    "Review suspected label errors."
    from .infer.review import oof_predictions, rank_label_issues
    from .learn.runs import find_runs, run_data
    try:
        oof, complete = oof_predictions(run)
        if not complete: print(f'notice: {run} is a single run: only its validation people can be reviewed; '
                               'train with --fold all to review everyone')
        if list:
            r = rank_label_issues(oof); r.to_csv(list, index=False)
            print(f'wrote {list}: {len(r)} checks of {r.folder.nunique()} people, {int(r.flagged.sum())} flagged'); return
        data = data or run_data(find_runs([run])[0])
    except (ValueError, FileNotFoundError) as e: raise SystemExit(f'maskfast.review: {e}') from None
    try: import uvicorn
    except ImportError: raise SystemExit("maskfast.review: the page needs the 'web' extra: pip install -e '.[web]'") from None
    from .web.review import review_app
    fixes = fixes or str(Path(run) / 'label_fixes.csv')
    print(f'review page: http://{host}:{port}/  (decisions -> {fixes})', flush=True)
    uvicorn.run(review_app(run, data, fixes, only_flagged), host=host, port=port, log_level='warning')

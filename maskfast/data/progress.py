"""Progress that suits where it is read: a fastprogress bar on a terminal or in a notebook; redirected to a file (CI,
nohup, `> log`), one plain line when a stage starts and one when it ends, never carriage returns."""
__all__ = ['interactive', 'progress']

import sys, time

def interactive():
    "True on a terminal or in a notebook, where progress bars redraw in place."
    from fastprogress.fastprogress import IN_NOTEBOOK
    return IN_NOTEBOOK or sys.stdout.isatty()

def progress(it, total=None, label='working', show=True):
    "Iterate `it` with a progress bar (interactive), or with a start and an end line (redirected), or silently."
    if not show: yield from it; return
    if interactive():
        from fastprogress.fastprogress import progress_bar
        yield from progress_bar(it, total=total); return
    total = total if total is not None else (len(it) if hasattr(it, '__len__') else None)
    t, n = time.time(), 0
    print(f'{label}: {total if total is not None else "?"} steps ...', flush=True)
    for x in it: n += 1; yield x
    print(f'{label}: done, {n} steps in {time.time() - t:.1f}s', flush=True)

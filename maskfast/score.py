"""`python -m maskfast.score submission.csv solution.csv`: the local leaderboard."""
__all__ = ['main']

from fastcore.script import call_parse, CliError
from .infer.submission import score_submission, SubmissionError

@call_parse
def main(
    submission: str,   # ImageID,ans CSV
    solution: str,     # answer key ImageID,ans[,Usage] (the twin's eval/solution.csv)
):
    "Macro F1 and accuracy (Public / Private / All) and per-task F1 of a submission."
    try: res = score_submission(submission, solution)
    except (SubmissionError, FileNotFoundError) as e: raise CliError(f'maskfast.score: {e}') from None
    for k in ('Public', 'Private', 'All'):
        if k in res: print(f'{k:8s} macro F1 {res[k]["f1"]:.4f}  accuracy {res[k]["acc"]:.4f}  (n={res[k]["n"]})')
    print('tasks    ' + '  '.join(f'{k} F1 {v:.4f}' for k, v in res['tasks'].items()))
    return res

"""`python -m maskfast.headroom RUN --data ROOT`: how much a decision rule tuned for macro F1, or a perfect grouping of
each person's photos, could add to a run's eval predictions (oracles that read an answer key naming each photo's
person, as the twin's does; library: `maskfast.experiments.headroom`), and what the model reads: how its outputs
follow each cue the twin drew, next to the ideal observer's (`maskfast.experiments.cue_reading`)."""
__all__ = ['main']

from fastcore.script import call_parse, CliError

@call_parse
def main(
    run: str,           # a run folder or k-fold parent
    data: str = None,   # competition root whose eval/solution.csv has a person column (default: the run's data)
    tta: int = 1,       # extra test-time views, as predict's --tta
    seed: int = 0,      # seed of the split of the eval persons into two halves
    no_cues: bool = False,  # skip what the model reads (needs the twin's eval/cues.csv)
    ideal_people: int = 20_000,  # simulated people the ideal observer of the cue table learns from (~20 s at 20,000)
    save: bool = False,  # write RUN/headroom.json (every number printed) and RUN/eval_probs.npz (per-photo probabilities)
):
    "Macro F1 of the run's argmax, of tuned class weights (cross-half) and of pooling each true person's photos."
    from .experiments.headroom import run_headroom
    try: r = run_headroom(run, data, tta, seed, not no_cues, ideal_people, save=run if save else None)
    except (ValueError, FileNotFoundError) as e: raise CliError(f'maskfast.headroom: {e}') from None
    for k, what in (('photo', 'each photo alone         '), ('voted', "as predict decides        ")):
        sc = r['scores'][k]
        print(f"{what} macro F1 {sc['f1']:.4f}  (mask {sc['mask']:.3f}  gender {sc['gender']:.3f}  age {sc['age']:.3f})")
    print(f"photo groups against the true persons: adjusted Rand {r['grouping_ari']:.3f}")
    print(f"argmax decision             macro F1 {r['argmax']:.4f}")
    print(f"class weights tuned for F1  macro F1 {r['tuned_weights']:.4f}  (argmax on the same halves {r['argmax_same_halves']:.4f}; "
          "tuned on one half of the persons, scored on the other)")
    print(f"each person's photos pooled macro F1 {r['pooled_persons']:.4f}  (the true persons: what perfect grouping could add)")
    names = {0: 'worn', 1: 'incorrect', 2: 'none'}
    print('gender macro F1 by mask state  ' + '  '.join(f'{names[m]} {v:.3f}' for m, v in r['gender_by_mask'].items()))
    if r.get('cues') is not None:
        print("what the model reads: within each true class, the standardized weight of each cue in its output with the\n"
              "other cues held fixed, next to the ideal observer's (gender: P(female) as a logit, within each gender;\n"
              "age: the expected age group, within each group)")
        print(r['cues'].round(2).to_string(na_rep='-'))
    if save: print(f'wrote {run}/headroom.json and {run}/eval_probs.npz')
    return r

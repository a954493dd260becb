"""The inference layer (uses learned runs): batched prediction with TTA and votes (`predict`), person grouping and
consistency (`persons`), submissions and scoring (`submission`), pseudo-label rounds (`pseudo`), and the options
predict and pseudo share (`config`)."""

"""The learning layer (knows data, not entry points): the run configuration (`config`), model bodies and heads
(`models`), `losses`, `metrics`, `callbacks`, checkpoints and the run's record (`checkpoints`), the Learner factory
(`learner`), lr_find and the time budget (`budget`), one run or all folds (`train`), the run folder (`runs`) and
multi-process training (`distrib`)."""

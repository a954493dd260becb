"""The data layer (knows nothing of models): the 18-class code (`labels`), the competition folders (`layout`), the
synthetic twin (`twin`), the preprocessing cache (`cache`), person splits (`splits`), per-epoch sampling (`sampling`),
albumentations (`augment`), batch loading (`loader`), DataLoaders (`block`) and a run's items (`items`)."""

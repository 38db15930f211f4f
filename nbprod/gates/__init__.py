"""Checking the data and the metrics: expectation suites, proposals, GX validation, cached results, the keeper
that decides during a build, and the side process that imports Great Expectations while steps run."""

"""Running the pipeline: the Ploomber adapter, what a build returns, the build record and the run lock."""

"""A training run as a job: the runner, where its reports go, its manifest, events and kind."""

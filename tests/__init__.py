"""A package, so that `tests` here wins over a top-level `tests` package that a dependency may install into
site-packages (the SageMaker SDK's smdebug_rulesconfig ships one); the test modules import `tests.conftest` and
`tests.api...`."""

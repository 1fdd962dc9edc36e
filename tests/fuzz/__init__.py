"""API fuzzing with schemathesis against ``docs/openapi.yaml`` (``python -m tests.fuzz``,
``make fuzz``; run by ``.ci/run`` after ``make test``). See :mod:`tests.fuzz.__main__`."""

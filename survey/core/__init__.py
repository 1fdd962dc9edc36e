"""The shared kernel every feature builds on, with no Flask views of its own: database and
migrations, models, audit log, security, waves, places, i18n, web helpers, questionnaires
and the one submit path (:mod:`survey.core.responses`). Imports no feature package."""

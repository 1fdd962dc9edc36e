"""The one submit path every channel goes through: validate and score (:mod:`.scoring`),
prepare and store (:mod:`.ingest`), and the export codes written at submit (:mod:`.codes`)."""

"""Grading on more than one machine: one submission per Celery task, one writer of the gradebook.

::

    aegrade autograde --broker redis://... --db postgresql://...
        coordinator   (database and broker checked first; one task per submission not yet
                       recorded; results checked against the problem set's checksum)
          -> Redis -> worker (aegrade worker: a read-only course snapshot, grade_one per task)
          <- Redis <- the task's JSON result (aegrade.one)
        store         (the one writer: nbgrader's gradebook and the results table)

:mod:`.app` (the Celery app and task, its settings), :mod:`.worker` and :mod:`.snapshot` (the
worker side), :mod:`.coordinator` and :mod:`.store` (the coordinator side), :mod:`.commands`
(the command line), :mod:`.local_servers` and :mod:`.trial` (private Redis and PostgreSQL for
trying it and for the tests). Needs the optional extra ``distributed`` (Celery with Redis,
psycopg); the rest of :mod:`aegrade` does not import this package.
"""

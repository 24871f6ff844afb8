"""``python -m evs_job_watch``: the ``evs-job-watch`` command line."""

import sys

from .cli import main

sys.exit(main())

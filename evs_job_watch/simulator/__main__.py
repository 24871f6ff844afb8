"""`python -m evs_job_watch.simulator`: the simulator as a standalone server."""

from ._standalone import main

raise SystemExit(main())

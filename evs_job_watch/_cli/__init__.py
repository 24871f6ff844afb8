"""The command line's parts behind `evs_job_watch.cli`: arguments, input, logging, the
watch and demo runs, the progress display and the report."""

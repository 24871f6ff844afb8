"""The watch core: the watcher, one watch per job id, the poller and its decisions, the
delivery of events, and the store."""

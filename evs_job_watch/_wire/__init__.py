"""The wire: HTTP settings and capped reads, response bodies to jobs, endpoints by region."""

"""GitHub Issues as a ticket tracker: plain REST over `requests` with the shared retry policy."""

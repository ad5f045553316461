"""ops-postmortem: blameless postmortems from incident evidence, reviewed and tracked to done."""

__version__ = "0.1.0"

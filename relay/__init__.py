"""warroom relay: holds the only SSH session to production and decides who may do what."""

__version__ = "0.1.0"

"""safecity: an open-source Safe City platform."""

__version__ = "0.1.0"

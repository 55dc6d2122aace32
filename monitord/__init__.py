"""monitord: bedside vital-signs monitoring daemon."""

__version__ = "0.2.0"

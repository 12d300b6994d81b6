"""soar-key-auditor: compliance auditor for the API keys of Google SecOps SOAR."""

__version__ = "0.1.0"

"""Moved to :mod:`auditor.yamlsrc` (the one YAML loader of every file the auditor reads); these
names stay importable from here."""

from auditor.yamlsrc import LDict, LList, YamlError, line_of, load, plain

__all__ = ["LDict", "LList", "YamlError", "line_of", "load", "plain"]

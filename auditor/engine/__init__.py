"""The evaluate stage: facts (``facts.py``, the registry, and the modules that fill it), the
declarative rules compiled over them, findings, exceptions.

The registry does not import its users: the fact modules register themselves into it, and this
package imports them all, so that whoever imports anything of the engine sees the whole
vocabulary.
"""

from auditor.engine import (  # noqa: F401 - importing them registers their facts
    facts_change,
    facts_env,
    facts_iam,
    facts_mapping,
    facts_migration,
)

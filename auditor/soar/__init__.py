"""soar stage."""

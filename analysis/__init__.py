"""Tables and figures of the paper from results folders (issue 6)."""

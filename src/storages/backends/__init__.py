"""Storage backends, one module per documented dotted path."""

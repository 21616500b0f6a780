"""The Redis path probe: connects as the services do and classifies any failure."""

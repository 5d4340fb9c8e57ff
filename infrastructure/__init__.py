"""Everything that touches the outside world, and the one composition root that wires it."""

"""Read models built from events, the runner that keeps them current, and their selectors."""

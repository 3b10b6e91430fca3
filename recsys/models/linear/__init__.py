"""Linear item-to-item models learned in closed form (EASE^R)."""

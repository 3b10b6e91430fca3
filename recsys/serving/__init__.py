"""Serving services: the model store (memory + signed artifacts on disk) and the feedback log."""

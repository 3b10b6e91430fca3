"""Models that combine other registry models (the weighted rank blend `hybrid`)."""

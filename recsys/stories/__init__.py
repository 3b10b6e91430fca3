"""Stories told with fitted models: learning paths, course insights and the sample learners (personas)."""

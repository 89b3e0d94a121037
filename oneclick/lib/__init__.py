"""Small helpers every app shares."""

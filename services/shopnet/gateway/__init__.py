"""The API gateway: the one service users call; routes /api/… to discovered upstream instances."""

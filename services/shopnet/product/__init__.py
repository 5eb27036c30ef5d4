"""The product service: the catalog in PostgreSQL, read through a Redis cache."""

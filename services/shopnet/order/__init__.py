"""The order service: prices orders with the product service and stores them in PostgreSQL."""

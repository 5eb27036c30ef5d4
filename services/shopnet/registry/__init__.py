"""The service registry: Consul-like TTL health and long-poll watches over HTTP."""

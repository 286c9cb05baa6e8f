"""HTTP routers, one per feature; each resolves a service and calls it."""

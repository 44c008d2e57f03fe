"""The FastAPI application, routes, authentication, error mapping and the CLI."""

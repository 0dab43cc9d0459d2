"""The web shell: FastAPI application, shared page layout, static assets, errors and middleware."""
